// Live logs on the Node host, end to end: a real gateway, a real gpu-node daemon and the
// engine simulator as its own process (process runtime), printing a line per answered
// request. A line the engine prints after the follow began arrives as a server-sent event,
// and through `fleetgate deployments logs ID --follow`; a client that leaves releases the
// follow on the node.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOG_FOLLOW_MAX_STREAMS } from '../../schema/contracts.ts';
import { sseData } from '../../gateway/cli/follow.ts';
import { startService } from '../support/processes.ts';
import {
  createDeployment,
  startGateway,
  startNode,
  waitFor,
  waitForReady,
  type Gateway,
  type GpuNode,
} from '../support/stack.ts';

const MODEL = `logs-sim-${process.pid}`;
const ADMIN = 'live-logs-admin-token-0123456789';

let dir: string;
let gateway: Gateway;
let node: GpuNode;
let deploymentId: string;
let client: OpenAI;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleetgate-logs-'));
  gateway = await startGateway({ dataDir: dir, adminToken: ADMIN, heartbeatIntervalS: 1 });
  node = await startNode({ gateway, name: 'logs-node', configPath: join(dir, 'node.json') });
  const deployment = await createDeployment(gateway, {
    model: MODEL,
    recipe: 'sim',
    options: { ttft_ms: 1, itl_ms: 1, max_tokens: 4, log_requests: true },
  });
  deploymentId = deployment.id;
  await waitForReady(gateway, deploymentId, 60_000);
  const key = await gateway.admin.request<{ key: string }>('POST', '/keys', { name: 'logs' });
  client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: key.key, maxRetries: 0 });
}, 120_000);

afterAll(async () => {
  await node?.service.stop();
  await gateway?.service.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

// A chat request; its gateway request id, which the simulator prints in its log line.
async function chat(): Promise<string> {
  const { response } = await client.chat.completions
    .create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] })
    .withResponse();
  const id = response.headers.get('x-request-id');
  if (!id) throw new Error('no x-request-id');
  return id;
}

interface Follow {
  status: number;
  contentType: string | null;
  // Resolves with the first event whose line matches.
  next(match: (line: string) => boolean): Promise<{ line: string; instance_id: string }>;
  close(): void;
}

async function follow(tail = 1): Promise<Follow> {
  const abort = new AbortController();
  const res = await fetch(
    `${gateway.url}/admin/v1/deployments/${deploymentId}/logs?follow=true&tail=${tail}`,
    { headers: { authorization: `Bearer ${ADMIN}` }, signal: abort.signal },
  );
  const reader = res.body?.getReader();
  const decoder = new TextDecoder();
  let buffered = '';
  const seen: { line: string; instance_id: string }[] = [];
  return {
    status: res.status,
    contentType: res.headers.get('content-type'),
    async next(match) {
      for (;;) {
        const found = seen.find((e) => match(e.line));
        if (found) return found;
        if (!reader) throw new Error('no body');
        const { done, value } = await reader.read();
        if (done) throw new Error('the log stream ended');
        const { events, rest } = sseData(buffered + decoder.decode(value, { stream: true }));
        buffered = rest;
        for (const e of events)
          seen.push(JSON.parse(e.data) as { line: string; instance_id: string });
      }
    },
    close: () => abort.abort(),
  };
}

describe('live logs', () => {
  it('streams a line the engine prints after the follow began', async () => {
    const f = await follow();
    expect(f.status).toBe(200);
    expect(f.contentType).toMatch(/^text\/event-stream/);
    const requestId = await chat();
    const event = await f.next((line) => line.includes(`request_id=${requestId}`));
    expect(event.line).toMatch(/^fleetgate-sim: POST \/v1\/chat\/completions 200 /);
    expect(event.instance_id).toMatch(/^inst_/);
    f.close();
  });

  it('releases the follow on the node when the client leaves', async () => {
    // More follows than a node serves at once, one after another: each one that left must
    // have been released, or the node would refuse the rest.
    for (let i = 0; i < LOG_FOLLOW_MAX_STREAMS + 8; i++) {
      const f = await waitFor(`follow ${i}`, async () => {
        const opened = await follow(1);
        if (opened.status === 200) return opened;
        opened.close();
        return undefined;
      });
      await f.next(() => true);
      f.close();
    }
  });

  it('prints followed lines with the CLI until it is interrupted', async () => {
    const cli = await startService({
      name: 'cli-follow',
      entry: 'gateway/cli/main.ts',
      args: ['deployments', 'logs', deploymentId, '--follow', '--tail', '1'],
      env: { FLEETGATE_URL: gateway.url, FLEETGATE_ADMIN_TOKEN: ADMIN },
      // The tail's one line says the follow is open.
      ready: /./,
    });
    try {
      const requestId = await chat();
      await waitFor('the CLI printing the line', () =>
        Promise.resolve(cli.output().includes(`request_id=${requestId}`) ? true : undefined),
      );
    } finally {
      await cli.stop('SIGINT');
    }
  });
});
