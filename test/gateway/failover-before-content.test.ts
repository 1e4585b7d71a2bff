// Failover until the first content (issue 17.1) through the Node host over real HTTP: a
// model served by two instances, one of whose engines sends its 200 and headers and then
// fails before any content (an error block, or a dropped connection). The official openai
// SDK streams a normal answer from the other instance, and each request leaves exactly one
// usage row, with the good instance's node and the good engine's usage.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI, { APIError } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type RunningGateway } from '../../gateway/src/node.ts';
import {
  ENGINE_USAGE,
  STREAM_TEXT,
  startFakeEngine,
  type FakeEngine,
  type Scenario,
} from '../../gateway/src/testing/fake-engine.ts';
import { UsageEventListSchema, type UsageEvent } from '../../schema/admin.ts';
import type { Jwks, RegisterResponse } from '../../schema/contracts.ts';

const ADMIN = 'failover-admin-token-0123456';
let dir: string;
let gateway: RunningGateway;
let jwks: Jwks = { keys: [] };
const engines: FakeEngine[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleetgate-failover-'));
  gateway = await startGateway({
    env: {
      FLEETGATE_ADMIN_TOKEN: ADMIN,
      FLEETGATE_DB_URL: `file:${join(dir, 'gw.db')}`,
      FLEETGATE_PORT: '0',
      FLEETGATE_HOST: '127.0.0.1',
      // Each test's new model is routed at once.
      FLEETGATE_CACHE_TTL_MS: '0',
    },
  });
});
afterAll(async () => {
  for (const engine of engines) await engine.close();
  await gateway.close();
  await rm(dir, { recursive: true, force: true });
});

async function admin<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${gateway.url}/admin/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${await res.text()}`);
  return res.json<T>();
}

async function node(path: string, auth: string, body: unknown): Promise<Response> {
  const res = await fetch(`${gateway.url}/node/v1${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${auth}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(res.ok).toBe(true);
  return res;
}

// A node played by the test (register and heartbeat as the daemon does) whose one ready
// instance of `model` is the given engine.
async function serve(model: string, name: string, engine: FakeEngine): Promise<string> {
  const token = await admin<{ token: string }>('POST', '/registration-tokens', { name });
  const registered = await (
    await node('/register', token.token, {
      name,
      advertise_url: engine.url,
      gpus: [],
      daemon_version: 'test',
    })
  ).json<RegisterResponse>();
  jwks = registered.jwks;
  const beat = (instances: unknown[]) =>
    node('/heartbeat', registered.node_secret, {
      daemon_version: 'test',
      gpus: [],
      instances,
      in_flight: 0,
      queued: 0,
    });
  await beat([]);
  const dep = await admin<{ id: string; instances: { id: string }[] }>('POST', '/deployments', {
    model,
    recipe: 'sim',
    placement: { node_id: registered.node_id },
    routing: 'round_robin',
  });
  const instance = dep.instances[0];
  if (!instance) throw new Error(`no instance on ${name}`);
  await beat([{ instance_id: instance.id, deployment_id: dep.id, state: 'ready' }]);
  return registered.node_id;
}

async function engine(force?: Scenario): Promise<FakeEngine> {
  const started = await startFakeEngine({ jwks: () => jwks, force });
  engines.push(started);
  return started;
}

async function client(): Promise<{ openai: OpenAI; keyId: string }> {
  const key = await admin<{ id: string; key: string }>('POST', '/keys', { name: 'failover' });
  return {
    openai: new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: key.key, maxRetries: 0 }),
    keyId: key.id,
  };
}

// The key's usage rows, once `count` of them are written (the sink batches them).
async function rowsOf(keyId: string, count: number): Promise<UsageEvent[]> {
  let rows: UsageEvent[] = [];
  await expect
    .poll(
      async () => {
        const list = UsageEventListSchema.parse(
          await admin('GET', `/usage/events?key_id=${keyId}&limit=100`),
        );
        rows = list.data;
        return rows.length;
      },
      { timeout: 10_000, interval: 100 },
    )
    .toBeGreaterThanOrEqual(count);
  return rows;
}

async function streamed(openai: OpenAI, model: string, i: number) {
  const { data, response } = await openai.chat.completions
    .create({
      model,
      messages: [{ role: 'user', content: `hello ${i}` }],
      stream: true,
      stream_options: { include_usage: true },
    })
    .withResponse();
  let text = '';
  let usage: unknown = null;
  for await (const chunk of data) {
    text += chunk.choices[0]?.delta.content ?? '';
    if (chunk.usage) usage = chunk.usage;
  }
  return { text, usage, requestId: response.headers.get('x-request-id') };
}

describe('a stream that fails before its first content', () => {
  it.each<[Scenario]>([['error-before-content'], ['die-before-content']])(
    'moves to the other instance (%s): a normal answer and one usage row from the good node',
    async (fault) => {
      const model = `failover-${fault}`;
      const broken = await engine(fault);
      const good = await engine();
      await serve(model, `${fault}-broken`, broken);
      const goodNode = await serve(model, `${fault}-good`, good);
      const { openai, keyId } = await client();

      // Round robin over both instances: requests keep coming until the broken one was
      // tried, each answered in full.
      const ids: string[] = [];
      for (let i = 0; i < 60 && broken.received.length === 0; i += 1) {
        const answer = await streamed(openai, model, i);
        expect(answer.text).toBe(STREAM_TEXT.join(''));
        expect(answer.usage).toEqual(ENGINE_USAGE);
        expect(answer.requestId).toBeTruthy();
        ids.push(answer.requestId ?? '');
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(broken.received.length).toBeGreaterThan(0);

      const rows = await rowsOf(keyId, ids.length);
      expect(rows.map((r) => r.id).sort()).toEqual([...ids].sort());
      for (const row of rows) {
        expect(row).toMatchObject({
          node_id: goodNode,
          status: 200,
          outcome: 'ok',
          error_code: null,
          prompt_tokens: ENGINE_USAGE.prompt_tokens,
          completion_tokens: ENGINE_USAGE.completion_tokens,
        });
        expect(row.ttft_ms).not.toBeNull();
      }
    },
  );

  it('answers 502 in OpenAI’s shape when every instance fails so, with one row', async () => {
    const model = 'failover-all-broken';
    await serve(model, 'all-broken-1', await engine('error-event-before-content'));
    await serve(model, 'all-broken-2', await engine('end-before-content'));
    const { openai, keyId } = await client();
    const err = await streamed(openai, model, 0).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(APIError);
    if (!(err instanceof APIError)) return;
    expect(err.status).toBe(502);
    expect(err.code).toBe('upstream_error');
    expect(err.message).toMatch(/before any content/);
    const [row, ...more] = await rowsOf(keyId, 1);
    expect(more).toEqual([]);
    expect(row).toMatchObject({ status: 502, outcome: 'upstream_error', prompt_tokens: 0 });
  });
});
