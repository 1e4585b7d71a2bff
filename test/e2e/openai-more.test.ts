// The endpoints beyond chat, completions and embeddings (issue 15), end to end on the Node
// host: a real gateway process, a real gpu-node daemon running the engine simulator, and
// the official `openai` SDK as the client. Every usage row is read back through the admin
// API and compared with what the SDK saw.
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

const MODEL = `more-sim-${process.pid}`;

interface UsageRow {
  id: string;
  endpoint: string;
  model: string | null;
  outcome: string;
  status: number;
  stream: boolean;
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  ttft_ms: number | null;
}

let dir: string;
let gateway: Gateway;
let node: GpuNode;
let client: OpenAI;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleetgate-more-'));
  gateway = await startGateway({ dataDir: dir, adminToken: 'more-admin-token-0123456789' });
  node = await startNode({ gateway, name: 'more-node', configPath: join(dir, 'node.json') });
  const deployment = await createDeployment(gateway, {
    model: MODEL,
    recipe: 'sim',
    options: { ttft_ms: 5, itl_ms: 4, max_tokens: 2000, seed: 15 },
  });
  await waitForReady(gateway, deployment.id, 60_000);
  const key = await gateway.admin.request<{ key: string }>('POST', '/keys', { name: 'more' });
  client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: key.key, maxRetries: 0 });
}, 120_000);

afterAll(async () => {
  await node?.service.stop();
  await gateway?.service.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function usageRow(requestId: string | null, until?: (row: UsageRow) => boolean) {
  expect(requestId).toBeTruthy();
  return waitFor(`usage row ${requestId}`, async () => {
    const rows = await gateway.admin.request<{ data: UsageRow[] }>(
      'GET',
      '/usage/events?limit=200',
    );
    const row = rows.data.find((r) => r.id === requestId);
    return row && (until ? until(row) : true) ? row : undefined;
  });
}

describe('POST /v1/responses', () => {
  it('answers responses.create and records the usage the SDK saw', async () => {
    const { data, response } = await client.responses
      .create({ model: MODEL, input: 'Say something', max_output_tokens: 9 })
      .withResponse();
    expect(data.object).toBe('response');
    expect(data.output_text.length).toBeGreaterThan(0);
    expect(data.usage?.output_tokens).toBe(9);
    const row = await usageRow(response.headers.get('x-request-id'));
    expect(row).toMatchObject({
      endpoint: '/v1/responses',
      model: MODEL,
      outcome: 'ok',
      stream: false,
      prompt_tokens: data.usage?.input_tokens,
      completion_tokens: data.usage?.output_tokens,
      total_tokens: data.usage?.total_tokens,
    });
  });

  it('streams typed events to response.completed, metered from its usage', async () => {
    const { data: stream, response } = await client.responses
      .create({
        model: MODEL,
        stream: true,
        max_output_tokens: 11,
        input: [{ role: 'user', content: 'Count for me' }],
      })
      .withResponse();
    const types: string[] = [];
    let text = '';
    let usage: OpenAI.Responses.ResponseUsage | null | undefined;
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === 'response.output_text.delta') text += event.delta;
      if (event.type === 'response.completed') usage = event.response.usage;
    }
    expect(types[0]).toBe('response.created');
    expect(types.at(-1)).toBe('response.completed');
    expect(types.filter((t) => t === 'response.output_text.delta')).toHaveLength(11);
    expect(text.length).toBeGreaterThan(0);
    expect(usage?.output_tokens).toBe(11);
    const row = await usageRow(response.headers.get('x-request-id'));
    expect(row).toMatchObject({
      outcome: 'ok',
      stream: true,
      prompt_tokens: usage?.input_tokens,
      completion_tokens: 11,
      total_tokens: usage?.total_tokens,
    });
    expect(row.ttft_ms).not.toBeNull();
  });

  it('charges a client that leaves mid-stream for the prompt and the deltas', async () => {
    const { data: stream, response } = await client.responses
      .create({ model: MODEL, stream: true, max_output_tokens: 1500, input: 'A long story' })
      .withResponse();
    let deltas = 0;
    for await (const event of stream) {
      if (event.type === 'response.output_text.delta') deltas += 1;
      if (deltas === 5) break;
    }
    const row = await usageRow(response.headers.get('x-request-id'));
    expect(row.outcome).toBe('client_aborted');
    expect(row.completion_tokens).toBeGreaterThanOrEqual(5);
    // The engine was stopped long before it could finish.
    expect(row.completion_tokens).toBeLessThan(1500);
    expect(row.prompt_tokens).toBeGreaterThan(0);
    expect(row.total_tokens).toBe(row.prompt_tokens + row.completion_tokens);
  });
});
