// The Node.js host of the gateway: an embedded libSQL file by default (or any libSQL URL:
// Turso, sqld), migrations applied on start, the signing key generated on first start and
// kept in the database, usage written in batches, served by @hono/node-server.
//
//   npm run gateway        (or: npx tsx gateway/src/node.ts)
//
// Environment: FLEETGATE_ADMIN_TOKEN (required), FLEETGATE_DB_URL, FLEETGATE_DB_AUTH_TOKEN,
// FLEETGATE_DB_TIMEOUT_MS, FLEETGATE_USAGE_SPOOL, FLEETGATE_HOST, FLEETGATE_PORT,
// FLEETGATE_CLIENT_ADDRESS_HEADER, and the
// settings parseConfig() reads.
import { mkdirSync, realpathSync } from 'node:fs';
import type { IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { serve } from '@hono/node-server';
import { createClient, type Client } from '@libsql/client';
import { drizzle } from 'drizzle-orm/libsql';
import * as schema from '../../schema/db.ts';
import { createApp } from './app.ts';
import { headerClientAddress, socketClientAddress } from './console/client-address.ts';
import { ConfigError, parseConfig } from './config.ts';
import { accessLogWriter } from './middleware/access-log.ts';
import { lineBatch } from '../../schema/log-lines.ts';
import { directStreamHost } from './proxy/direct-streams.ts';
import { createNodeHttpTransport } from './proxy/node-transport.ts';
import { nodeHashSecret } from './auth/node-hash.ts';
import { createNodeSigner } from './signing/node-signer.ts';
import { generateSigningJwk } from './signing/signer.ts';
import { NodeTunnels } from './tunnel/node-host.ts';
import { withTunnels } from './tunnel/transport.ts';
import { connectRedisLimiter, type RedisLimiterHandle } from './limits/redis-client.ts';
import { migrateLibsql } from './store/migrate.ts';
import { usageTotals } from './store/usage.ts';
import { loadOrCreateSigningJwk } from './store/settings.ts';
import { DB_TIMEOUT_MS, withDbTimeout } from './store/timeout.ts';
import { createBatchingUsageSink } from './usage/sink.ts';
import { loadUiFolder } from './ui/folder.ts';
import { openUsageSpool } from './usage/spool.ts';

export const DEFAULT_DB_URL = 'file:./data/fleetgate.db';
export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 8787;
// Streams still open this long after shutdown began are cut.
const SHUTDOWN_GRACE_MS = 10_000;
// Then buffered usage gets this long to be written; what is left stays in the spool and is
// written on the next start.
const SHUTDOWN_FLUSH_MS = 5000;
const DEFAULT_SPOOL_FOLDER = './data/usage-spool';
// The built dashboard (gateway/ui/bundle.ts), beside the sources or the compiled package.
const UI_FOLDER = fileURLToPath(new URL('../ui/dist/ui', import.meta.url));

export interface StartGatewayOptions {
  // Defaults to process.env.
  env?: Record<string, string | undefined>;
  // A libSQL client to use instead of opening FLEETGATE_DB_URL (tests: a database that
  // can be made to hang). Closed with the gateway.
  client?: Client;
}

export interface RunningGateway {
  url: string;
  port: number;
  // Stops accepting, lets requests finish (up to a grace period), writes buffered usage,
  // closes the database. Safe to call more than once.
  close(): Promise<void>;
}

function parsePort(raw: string | undefined): number {
  if (raw === undefined || raw.trim() === '') return DEFAULT_PORT;
  const port = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || port > 65535) {
    throw new ConfigError('FLEETGATE_PORT', `must be a port number from 0 to 65535, got '${raw}'`);
  }
  return port;
}

function parseDbTimeout(raw: string | undefined): number {
  if (raw === undefined || raw.trim() === '') return DB_TIMEOUT_MS;
  const ms = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || ms < 100 || ms > 600_000) {
    throw new ConfigError(
      'FLEETGATE_DB_TIMEOUT_MS',
      `must be milliseconds from 100 to 600000, got '${raw}'`,
    );
  }
  return ms;
}

// The folder of a local file database, or undefined for a remote one.
function dbFolder(url: string): string | undefined {
  if (!url.startsWith('file:')) return undefined;
  const path = url.startsWith('file://') ? fileURLToPath(url) : url.slice('file:'.length);
  return dirname(path.split('?')[0] ?? path);
}

// A local file database gets its folder (owner-only: it holds the signing key).
function ensureDbFolder(url: string): void {
  const folder = dbFolder(url);
  if (folder !== undefined) mkdirSync(folder, { recursive: true, mode: 0o700 });
}

// The usage spool's folder: FLEETGATE_USAGE_SPOOL, 'off' for none, by default beside a
// file database (else ./data/usage-spool).
function spoolFolder(raw: string | undefined, dbUrl: string): string | undefined {
  const value = raw?.trim();
  if (value === 'off') return undefined;
  if (value) return value;
  const folder = dbFolder(dbUrl);
  return folder === undefined ? DEFAULT_SPOOL_FOLDER : join(folder, 'usage-spool');
}

function listen(server: Server): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    if (server.listening) {
      resolve(server.address() as AddressInfo);
      return;
    }
    server.once('error', reject);
    server.once('listening', () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

export async function startGateway(options: StartGatewayOptions = {}): Promise<RunningGateway> {
  const env = options.env ?? process.env;
  const config = parseConfig(env);
  const host = env.FLEETGATE_HOST?.trim() || DEFAULT_HOST;
  const port = parsePort(env.FLEETGATE_PORT);
  const dbUrl = env.FLEETGATE_DB_URL?.trim() || DEFAULT_DB_URL;

  const dbTimeoutMs = parseDbTimeout(env.FLEETGATE_DB_TIMEOUT_MS);
  const spoolDir = spoolFolder(env.FLEETGATE_USAGE_SPOOL, dbUrl);

  if (!options.client) ensureDbFolder(dbUrl);
  const client =
    options.client ??
    createClient({ url: dbUrl, authToken: env.FLEETGATE_DB_AUTH_TOKEN || undefined });
  const spool = spoolDir === undefined ? undefined : openUsageSpool(spoolDir);
  let redis: RedisLimiterHandle | undefined;
  try {
    // A local file may be shared by several gateway processes on one machine (replicas with
    // FLEETGATE_REDIS_URL): a write waits for another's lock instead of failing at once.
    if (dbUrl.startsWith('file:')) {
      await client.execute('PRAGMA busy_timeout = 5000');
      // Write-ahead log with NORMAL sync: a commit (a usage batch, a heartbeat) is an append
      // without the several fsyncs of the default rollback journal, which block the event
      // loop the streams run on. A commit survives a crash of the process, not a power cut
      // (the usage spool's own guarantee); readers no longer wait for writers.
      await client.execute('PRAGMA journal_mode = WAL');
      await client.execute('PRAGMA synchronous = NORMAL');
    }
    const db = drizzle(client, { schema });
    await migrateLibsql(db);
    const signer = await createNodeSigner(
      await loadOrCreateSigningJwk(db, generateSigningJwk),
      config.nodeJwtTtlS,
    );
    const usage = createBatchingUsageSink(db, {
      maxBatch: 200,
      flushMs: 1000,
      writeTimeoutMs: dbTimeoutMs,
      spool,
    });
    if (spool && spool.recovered.length > 0) {
      // Usage of requests that ended before the last run stopped (a crash, or a database
      // that did not take the last writes): written before serving, when the database takes it.
      try {
        await usage.flush();
        console.log(`usage spool: wrote ${spool.recovered.length} event(s) left by the last run`);
      } catch (err) {
        console.error(
          `usage spool: ${usage.pending} event(s) left by the last run not written yet:`,
          err instanceof Error ? err.message : err,
        );
      }
    }
    redis = await connectRedisLimiter(env, {
      usage,
      loadUsage: (keyId, start, end) => usageTotals(db, keyId, start, end),
    });
    const uiAssets = await loadUiFolder(UI_FOLDER);
    if (!uiAssets) {
      console.log(`dashboard not built (npm run build:ui): /ui answers 404`);
    }
    // Tunnel nodes' sockets, held in this process (tunnel/node-host.ts).
    const tunnels = new NodeTunnels(db);
    const direct = createNodeHttpTransport({ connectTimeoutMs: config.nodeConnectTimeoutMs });
    // Streamed answers of direct nodes, written to the client by this host (proxy/direct-streams.ts).
    const directStreams = directStreamHost();
    const accessLines = lineBatch((text) => process.stdout.write(text));
    const flushLines = () => accessLines.flush();
    process.once('exit', flushLines);
    const app = createApp({
      db,
      config,
      signer,
      usage,
      uiAssets,
      // Shared by every replica with FLEETGATE_REDIS_URL; else counted in this process.
      limiter: redis?.limiter,
      // Tunnel nodes through their tunnel; direct nodes' streams relayed with node:http's own
      // events (open).
      transport: withTunnels(direct, tunnels),
      directStreams: directStreams.streams,
      tunnels,
      accessLog: accessLogWriter(config.accessLog ?? 'off', 'lines', (line) =>
        accessLines.push(String(line)),
      ),
      dbTimeoutMs,
      clientAddress: env.FLEETGATE_CLIENT_ADDRESS_HEADER?.trim()
        ? headerClientAddress(env.FLEETGATE_CLIENT_ADDRESS_HEADER.trim())
        : socketClientAddress(),
      hashSecret: nodeHashSecret,
    });

    const server = serve({
      fetch: directStreams.fetch(app.fetch),
      hostname: host,
      port,
    }) as Server;
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      tunnels.handleUpgrade(req, socket, head);
    });
    const address = await listen(server);
    const shownHost = host.includes(':') ? `[${host}]` : host;
    const url = `http://${shownHost}:${address.port}`;

    let closing: Promise<void> | undefined;
    const close = () =>
      (closing ??= (async () => {
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        // Idle keep-alive connections would hold close() open; streams get a grace period.
        server.closeIdleConnections();
        tunnels.drain();
        const cut = setTimeout(() => server.closeAllConnections(), SHUTDOWN_GRACE_MS);
        cut.unref();
        await stopped;
        clearTimeout(cut);
        tunnels.close();
        try {
          await withDbTimeout(usage.flush(), SHUTDOWN_FLUSH_MS, 'usage flush on shutdown');
        } catch (err) {
          const where = spool ? 'kept in the usage spool for the next start' : 'lost';
          console.error(
            `usage flush on shutdown failed (${usage.pending} events ${where}):`,
            err instanceof Error ? err.message : err,
          );
        }
        accessLines.flush();
        process.off('exit', flushLines);
        await redis?.close();
        spool?.close();
        client.close();
      })());
    return { url, port: address.port, close };
  } catch (err) {
    await redis?.close();
    spool?.close();
    client.close();
    throw err;
  }
}

async function main(): Promise<void> {
  let gateway: RunningGateway;
  try {
    gateway = await startGateway();
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    console.error(`fleetgate gateway failed to start: ${message}`);
    process.exit(1);
  }
  console.log(`fleetgate gateway listening on ${gateway.url}`);
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      console.error(`${signal} again: exiting without waiting`);
      process.exit(1);
    }
    stopping = true;
    console.log(`${signal}: stopping (finishing requests, writing usage)`);
    gateway.close().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error('shutdown failed:', err instanceof Error ? err.message : err);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

function isMain(): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(entry)).href;
  } catch {
    return false;
  }
}

if (isMain()) await main();
