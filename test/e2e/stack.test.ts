// End to end on the Node host: a real gateway process (embedded libSQL in a temp folder),
// a real gpu-node daemon registered with a real token, the engine simulator started by
// the daemon as its own process, and the official `openai` SDK as the client.
import { execFileSync } from 'node:child_process';
import { request, type IncomingHttpHeaders } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createDeployment,
  startGateway,
  startNode,
  waitFor,
  waitForReady,
  type Gateway,
  type GpuNode,
} from '../support/stack.ts';

const MODEL = `e2e-sim-${process.pid}`;
const HEARTBEAT_S = 1;

interface UsageEvent {
  id: string;
  key_id: string | null;
  model: string | null;
  outcome: string;
  status: number;
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  ttft_ms: number | null;
  latency_ms: number;
}

let dir: string;
let gateway: Gateway;
let node: GpuNode;
let apiKey: string;
let client: OpenAI;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleetgate-e2e-'));
  gateway = await startGateway({
    dataDir: dir,
    adminToken: 'e2e-admin-token-0123456789',
    heartbeatIntervalS: HEARTBEAT_S,
  });
  node = await startNode({ gateway, name: 'e2e-node', configPath: join(dir, 'node.json') });
  const deployment = await createDeployment(gateway, {
    model: MODEL,
    recipe: 'sim',
    options: { ttft_ms: 5, itl_ms: 1, max_tokens: 24, seed: 42 },
    replicas: 1,
  });
  await waitForReady(gateway, deployment.id, 60_000);
  const key = await gateway.admin.request<{ key: string }>('POST', '/keys', { name: 'e2e' });
  apiKey = key.key;
  client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey, maxRetries: 0 });
}, 120_000);

afterAll(async () => {
  await node?.service.stop();
  await gateway?.service.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function usageEvent(requestId: string): Promise<UsageEvent> {
  return waitFor(`usage row for ${requestId}`, async () => {
    const events = await gateway.admin.request<{ data: UsageEvent[] }>(
      'GET',
      '/usage/events?limit=200',
    );
    return events.data.find((e) => e.id === requestId);
  });
}

describe('OpenAI API through gateway and node', () => {
  it('lists the deployed model', async () => {
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toContain(MODEL);
  });

  it('answers a chat completion and records the engine-reported usage', async () => {
    const { data, response } = await client.chat.completions
      .create({ model: MODEL, messages: [{ role: 'user', content: 'Say hello' }], max_tokens: 8 })
      .withResponse();
    expect(data.choices[0]?.message.content?.length).toBeGreaterThan(0);
    expect(data.usage?.completion_tokens).toBe(8);
    const requestId = response.headers.get('x-request-id');
    expect(requestId).toBeTruthy();
    const event = await usageEvent(requestId ?? '');
    expect(event.outcome).toBe('ok');
    expect(event.prompt_tokens).toBe(data.usage?.prompt_tokens);
    expect(event.completion_tokens).toBe(data.usage?.completion_tokens);
    expect(event.total_tokens).toBe(data.usage?.total_tokens);
  });

  it('streams a chat completion, hides the usage chunk it was not asked for, and records usage', async () => {
    const { data: stream, response } = await client.chat.completions
      .create({
        model: MODEL,
        stream: true,
        max_tokens: 12,
        messages: [{ role: 'user', content: 'Count to ten' }],
      })
      .withResponse();
    let text = '';
    let contentChunks = 0;
    for await (const chunk of stream) {
      expect(chunk.usage ?? null).toBeNull();
      const delta = chunk.choices[0]?.delta.content ?? '';
      if (delta) contentChunks += 1;
      text += delta;
    }
    expect(text.length).toBeGreaterThan(0);
    const event = await usageEvent(response.headers.get('x-request-id') ?? '');
    expect(event.outcome).toBe('ok');
    expect(event.completion_tokens).toBe(12);
    expect(contentChunks).toBe(12);
    expect(event.prompt_tokens).toBeGreaterThan(0);
    expect(event.ttft_ms).not.toBeNull();
  });

  it('passes the usage chunk through when the client asks for it', async () => {
    const stream = await client.chat.completions.create({
      model: MODEL,
      stream: true,
      stream_options: { include_usage: true },
      max_tokens: 6,
      messages: [{ role: 'user', content: 'Hi' }],
    });
    const usages = [];
    for await (const chunk of stream) if (chunk.usage) usages.push(chunk.usage);
    expect(usages).toHaveLength(1);
    expect(usages[0]?.completion_tokens).toBe(6);
  });

  it('serves completions and embeddings', async () => {
    const completion = await client.completions.create({
      model: MODEL,
      prompt: 'Once upon a time',
      max_tokens: 5,
    });
    expect(completion.choices[0]?.text.length).toBeGreaterThan(0);
    expect(completion.usage?.completion_tokens).toBe(5);

    const embeddings = await client.embeddings.create({ model: MODEL, input: ['a', 'b c'] });
    expect(embeddings.data).toHaveLength(2);
    expect(embeddings.data[0]?.embedding.length).toBeGreaterThan(0);
  });
});

describe('errors in OpenAI shape', () => {
  it('maps key, model and body errors onto the SDK exception classes', async () => {
    const bad = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: 'sk-fg-nope', maxRetries: 0 });
    await expect(bad.models.list()).rejects.toBeInstanceOf(OpenAI.AuthenticationError);

    const limited = await gateway.admin.request<{ key: string }>('POST', '/keys', {
      name: 'limited',
      models: ['some-other-model'],
    });
    const limitedClient = new OpenAI({
      baseURL: `${gateway.url}/v1`,
      apiKey: limited.key,
      maxRetries: 0,
    });
    await expect(
      limitedClient.chat.completions.create({ model: MODEL, messages: [] }),
    ).rejects.toBeInstanceOf(OpenAI.PermissionDeniedError);

    await expect(
      client.chat.completions.create({
        model: 'no-such-model',
        messages: [{ role: 'user', content: 'x' }],
      }),
    ).rejects.toBeInstanceOf(OpenAI.NotFoundError);

    const malformed = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: '{"model": ',
    });
    expect(malformed.status).toBe(400);
    const body = await malformed.json<{ error: { type: string; message: string } }>();
    expect(body.error.type).toBe('invalid_request_error');
    expect(malformed.headers.get('x-request-id')).toBeTruthy();

    // A fresh connection: the gateway answers before reading the body, then closes it.
    const huge = await postOnNewConnection(
      `${gateway.url}/v1/chat/completions`,
      { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      JSON.stringify({
        model: MODEL,
        messages: [{ role: 'user', content: 'x'.repeat(2 * 1024 * 1024) }],
      }),
    );
    expect(huge.status).toBe(413);
    expect(huge.headers.connection).toBe('close');
    expect((JSON.parse(huge.body) as { error: { code: string } }).error.code).toBeTruthy();
  });

  it('refuses a key once it is revoked', async () => {
    const created = await gateway.admin.request<{ id: string; key: string }>('POST', '/keys', {
      name: 'short-lived',
    });
    const c = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: created.key, maxRetries: 0 });
    await c.models.list();
    await gateway.admin.request('DELETE', `/keys/${created.id}`);
    await waitFor('revocation to take effect', async () => {
      try {
        await c.models.list();
        return undefined;
      } catch (err) {
        return err instanceof OpenAI.AuthenticationError ? true : undefined;
      }
    });
  });
});

describe('the node data plane', () => {
  it('refuses requests without a valid gateway JWT', async () => {
    const body = JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'x' }] });
    const headers = { 'content-type': 'application/json' };
    const none = await fetch(`${node.url}/v1/chat/completions`, { method: 'POST', headers, body });
    expect(none.status).toBe(401);
    // The client's own API key is no credential for a node.
    const withKey = await fetch(`${node.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { ...headers, authorization: `Bearer ${apiKey}` },
      body,
    });
    expect(withKey.status).toBe(401);
  });
});

describe('failures', () => {
  it('restarts an engine that was killed, and the daemon reports it', async () => {
    const pid = findSimPid(MODEL);
    process.kill(pid, 'SIGKILL');
    await waitFor(
      'the daemon to count a restart',
      async () => {
        const metrics = await (await fetch(`${node.url}/metrics`)).text();
        const restarts = /fleetgate_instance_restarts_total\{[^}]*\} (\d+)/.exec(metrics);
        return restarts && Number(restarts[1]) >= 1 ? true : undefined;
      },
      30_000,
    );
    await waitFor(
      'the model to answer again',
      async () => {
        const res = await client.chat.completions.create({
          model: MODEL,
          max_tokens: 2,
          messages: [{ role: 'user', content: 'back?' }],
        });
        return res.choices.length ? true : undefined;
      },
      30_000,
      500,
    );
    expect(findSimPid(MODEL)).not.toBe(pid);
  }, 70_000);

  it('stops routing to a node whose heartbeats stop, and routes again when it returns', async () => {
    const pid = node.service.child.pid;
    if (pid === undefined) throw new Error('daemon has no pid');
    process.kill(pid, 'SIGSTOP');
    try {
      // Offline after 3 heartbeat intervals; the routing cache adds at most a few seconds.
      const unavailable = await waitFor(
        'the gateway to stop routing to the silent node',
        async () => {
          try {
            // Until the gateway notices, requests reach the frozen node and hang: time out.
            await client.chat.completions.create(
              { model: MODEL, max_tokens: 1, messages: [{ role: 'user', content: 'x' }] },
              { timeout: 1500 },
            );
            return undefined;
          } catch (err) {
            return err instanceof OpenAI.APIError && err.status === 503 ? err : undefined;
          }
        },
        3 * HEARTBEAT_S * 1000 + 10_000,
        250,
      );
      expect(unavailable.status).toBe(503);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    await waitFor(
      'the gateway to route again',
      async () => {
        const res = await client.chat.completions.create({
          model: MODEL,
          max_tokens: 1,
          messages: [{ role: 'user', content: 'x' }],
        });
        return res.choices.length ? true : undefined;
      },
      20_000,
      250,
    );
  }, 60_000);
});

// The simulator started by the daemon for this test's model (its command line names it).
function findSimPid(model: string): number {
  const out = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' });
  for (const line of out.split('\n')) {
    if (line.includes('sim/main.ts') && line.includes(model)) {
      return Number(line.trim().split(/\s+/)[0]);
    }
  }
  throw new Error(`no simulator process for ${model}`);
}

function postOnNewConnection(
  url: string,
  headers: Record<string, string>,
  body: string,
): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }),
      );
    });
    // The server may close while the body is still being sent; the answer still counts.
    req.on('error', reject);
    req.end(body);
  });
}
