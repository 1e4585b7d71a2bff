// The Cloudflare host of the gateway: turns the Worker's bindings and secrets into the
// app's dependencies (AppDeps in types.ts, which both hosts fill) and hands every request
// to the same Hono app the Node host runs. Nothing else lives here: the app itself is
// host-agnostic.
import type { Hono } from 'hono';
import type { JWK } from 'jose';
import { createApp } from './app.ts';
import { headerClientAddress } from './console/client-address.ts';
import { parseConfig } from './config.ts';
import { ApiError } from './errors.ts';
import { accessLogWriter } from './middleware/access-log.ts';
import { directTransport } from './proxy/transport.ts';
import { createSigner } from './signing/signer.ts';
import { createDurableObjectLimiter, type LimiterEnv } from './limits/durable-object.ts';
import { HostConfigError, openDb } from './store/worker-db.ts';
import { durableObjectTunnels, type TunnelEnv } from './tunnel/durable-object.ts';
import { withTunnels } from './tunnel/transport.ts';
import type { AppEnv } from './types.ts';
import { createDirectUsageSink } from './usage/sink.ts';

// Bindings and variables from wrangler.toml ([vars], [[d1_databases]]) and secrets.
export interface Env extends LimiterEnv, TunnelEnv {
  FLEETGATE_ADMIN_TOKEN?: string;
  // The gateway's ES256 private key as a JSON JWK (a secret).
  FLEETGATE_SIGNING_JWK?: string;
  FLEETGATE_MAX_BODY_BYTES?: string;
  FLEETGATE_MAX_AUDIO_BYTES?: string;
  FLEETGATE_HEARTBEAT_INTERVAL_S?: string;
  FLEETGATE_CACHE_TTL_MS?: string;
  FLEETGATE_NODE_JWT_TTL_S?: string;
  FLEETGATE_ACCESS_LOG?: string;
  FLEETGATE_CORS_ORIGINS?: string;
  FLEETGATE_API_DOCS?: string;
  // The dashboard's files (wrangler.toml [assets]).
  ASSETS?: Fetcher;
  // Signs console sessions (at least 32 characters; a secret). Absent: generated on first use
  // and kept in the database's settings table.
  FLEETGATE_SESSION_SECRET?: string;
  // Reads GET /metrics (a secret); FLEETGATE_METRICS_KEY_LABEL adds key_id labels there.
  FLEETGATE_METRICS_TOKEN?: string;
  FLEETGATE_METRICS_KEY_LABEL?: string;
}

function parseSigningJwk(raw: string | undefined): JWK {
  if (!raw) {
    throw new HostConfigError(
      'FLEETGATE_SIGNING_JWK is not set: put the gateway signing key (a private ES256 JWK) ' +
        'with `wrangler secret put FLEETGATE_SIGNING_JWK`, or into .dev.vars for wrangler dev',
    );
  }
  let jwk: unknown;
  try {
    jwk = JSON.parse(raw);
  } catch {
    throw new HostConfigError('FLEETGATE_SIGNING_JWK is not valid JSON');
  }
  if (typeof jwk !== 'object' || jwk === null || !('d' in jwk)) {
    throw new HostConfigError('FLEETGATE_SIGNING_JWK must be a private JWK (with a "d" member)');
  }
  return jwk as JWK;
}

function sessionSecret(raw: string | undefined): string | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (raw.length < 32) {
    throw new HostConfigError('FLEETGATE_SESSION_SECRET must be at least 32 characters');
  }
  return raw;
}

async function build(env: Env): Promise<Hono<AppEnv>> {
  let config;
  try {
    // Vars and secrets are the string-valued entries; bindings (DB) are objects.
    const vars = Object.fromEntries(
      Object.entries(env).filter(
        (entry): entry is [string, string] => typeof entry[1] === 'string',
      ),
    );
    config = parseConfig(vars);
  } catch (err) {
    throw new HostConfigError(err instanceof Error ? err.message : String(err), { cause: err });
  }
  const jwk = parseSigningJwk(env.FLEETGATE_SIGNING_JWK);
  let signer;
  try {
    signer = await createSigner(jwk, config.nodeJwtTtlS);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new HostConfigError(`FLEETGATE_SIGNING_JWK is not usable: ${reason}`, { cause: err });
  }
  const db = await openDb(env);
  const assets = env.ASSETS;
  const usage = createDirectUsageSink(db);
  if (!env.KEY_LIMITER) {
    throw new HostConfigError(
      'no KEY_LIMITER Durable Object binding: wrangler.toml declares it (class KeyLimiter)',
    );
  }
  // Tunnel nodes' sockets: one Durable Object per node (tunnel/durable-object.ts).
  const tunnels = env.NODE_TUNNEL ? durableObjectTunnels(env.NODE_TUNNEL) : undefined;
  return createApp({
    db,
    config,
    signer,
    usage,
    // Per-key limits and usage rows go through each key's Durable Object.
    limiter: createDurableObjectLimiter(env.KEY_LIMITER, usage),
    transport: tunnels ? withTunnels(directTransport, tunnels) : directTransport,
    tunnels,
    // Objects, so Workers Logs can query their fields.
    accessLog: accessLogWriter(config.accessLog ?? 'off', 'objects'),
    uiAssets: assets ? (request) => assets.fetch(request) : undefined,
    sessionSecret: sessionSecret(env.FLEETGATE_SESSION_SECRET),
    // Set by Cloudflare's edge; a client cannot choose it.
    clientAddress: headerClientAddress('cf-connecting-ip'),
  });
}

// One app per isolate (and per env object, which stays the same across an isolate's
// requests), so the app's in-memory caches outlive single requests.
const apps = new WeakMap<Env, Promise<Hono<AppEnv>>>();

function appFor(env: Env): Promise<Hono<AppEnv>> {
  let app = apps.get(env);
  if (!app) {
    app = build(env);
    // A failed start is not kept: the next request tries again (and reports again).
    void app.catch(() => apps.delete(env));
    apps.set(env, app);
  }
  return app;
}

function startupError(err: unknown): Response {
  const message =
    err instanceof HostConfigError
      ? `gateway misconfigured: ${err.message}`
      : 'gateway failed to start; see the Worker logs';
  console.error('fleetgate worker start failed:', err instanceof Error ? err.message : err);
  const body = new ApiError(500, 'server_error', message, 'gateway_misconfigured').body();
  return Response.json(body, { status: 500 });
}

// The Durable Object classes this Worker hosts (wrangler.toml binds and migrates them).
export { KeyLimiter } from './limits/durable-object.ts';
export { NodeTunnel } from './tunnel/durable-object.ts';

export default {
  async fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
    let app: Hono<AppEnv>;
    try {
      app = await appFor(env);
    } catch (err) {
      return startupError(err);
    }
    // Passing ctx gives the app c.executionCtx, so usage writes run in waitUntil.
    return app.fetch(request, env, ctx);
  },
} satisfies ExportedHandler<Env>;
