// The processes the benchmark measures, beyond what test/support/stack.ts starts: the engine
// simulator as a process of its own, and the data-plane signing key for the path that
// bypasses the gateway.
import { readFile } from 'node:fs/promises';
import { createClient } from '@libsql/client';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { DataPlaneKeySchema, JwksSchema, type Jwks } from '../../schema/contracts.ts';
import { startService, type Service } from '../support/processes.ts';
import {
  createDeployment,
  waitForReady,
  type Gateway,
  type GpuNode,
  type Instance,
} from '../support/stack.ts';

export interface SimSettings {
  model: string;
  ttftMs: number;
  itlMs: number;
  maxTokens: number;
  maxNumSeqs: number;
  seed: number;
}

export interface Sim {
  url: string;
  service: Service;
}

export async function startSim(port: number, s: SimSettings): Promise<Sim> {
  const service = await startService({
    name: `sim ${s.model}`,
    entry: 'gpu-node/src/sim/main.ts',
    args: [
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--model',
      s.model,
      '--ttft-ms',
      String(s.ttftMs),
      '--itl-ms',
      String(s.itlMs),
      '--max-tokens',
      String(s.maxTokens),
      '--max-num-seqs',
      String(s.maxNumSeqs),
      '--seed',
      String(s.seed),
      '--jitter',
      '0',
      // A fixed time to first token, whatever the prompt's length.
      '--prefill-ms-per-token',
      '0',
    ],
    ready: /listening on http:\/\//,
  });
  return { url: `http://127.0.0.1:${port}`, service };
}

// Path (m): the bare node:http pass-through (floor.ts) in front of a simulator, as a process
// of its own so its CPU is measured apart.
export async function startFloor(
  port: number,
  upstream: string,
  nodeArgs?: string[],
): Promise<Sim> {
  const service = await startService({
    name: 'floor',
    entry: 'test/bench/floor.ts',
    args: ['--port', String(port), '--upstream', upstream],
    nodeArgs,
    ready: /listening on http:\/\//,
  });
  return { url: `http://127.0.0.1:${port}`, service };
}

async function publicKid(jwk: JWK): Promise<string> {
  const { kty, crv, x, y } = jwk;
  return calculateJwkThumbprint({ kty, crv, x, y });
}

// Whether a private JWK is the one behind a published key set.
export async function signsFor(jwk: JWK, jwks: Jwks): Promise<boolean> {
  if (!jwk.d || jwk.kty !== 'EC') return false;
  const kid = await publicKid(jwk);
  for (const key of jwks.keys) {
    if (key.x === jwk.x && key.y === jwk.y) return true;
    if (key.kid === kid) return true;
  }
  return false;
}

export async function readNodeJwks(configPath: string): Promise<Jwks> {
  const raw = JSON.parse(await readFile(configPath, 'utf8')) as { jwks?: unknown };
  return JwksSchema.parse(raw.jwks);
}

// The kid of the data-plane key a node's config file holds (none from an older gateway).
export async function readNodeKeyId(configPath: string): Promise<string | undefined> {
  const raw = JSON.parse(await readFile(configPath, 'utf8')) as { data_plane_key?: unknown };
  const key = DataPlaneKeySchema.optional().parse(raw.data_plane_key);
  return key?.kid;
}

// The Node host keeps its signing key in its own database. The benchmark owns that database
// (a temp folder), so it can read the key and sign data-plane JWTs as the gateway would,
// for path (b), which talks to the gpu-node without a gateway. Rather than depend on the
// setting's name, it takes the private JWK whose public half the node was given.
export async function findSigningKey(dbUrl: string, jwks: Jwks): Promise<JWK | undefined> {
  const client = createClient({ url: dbUrl });
  try {
    const rows = await client.execute('select value from settings');
    for (const row of rows.rows) {
      const value = row.value;
      if (typeof value !== 'string' || !value.includes('"d"')) continue;
      let jwk: JWK;
      try {
        jwk = JSON.parse(value) as JWK;
      } catch {
        continue;
      }
      if (await signsFor(jwk, jwks)) return jwk;
    }
    return undefined;
  } finally {
    client.close();
  }
}

// Deploys a simulator already running on 127.0.0.1 to the node as an external engine, so
// one simulator process serves every path and its CPU is measured apart from the daemon's.
export async function deploySim(
  gateway: Gateway,
  node: GpuNode,
  model: string,
  sim: Sim,
): Promise<Instance> {
  const deployment = await createDeployment(gateway, {
    model,
    recipe: 'external',
    options: { url: sim.url, health_path: '/health' },
    placement: { node_id: node.nodeId },
    replicas: 1,
  });
  const ready = await waitForReady(gateway, deployment.id, 60_000);
  const instance = ready.instances.find((i) => i.state === 'ready');
  if (!instance) throw new Error(`deployment of ${model} has no ready instance`);
  return instance;
}
