// Usage survives a crash of the Node host: a gateway process killed with SIGKILL loses no
// usage of the requests it had answered; the next start writes them from its spool.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { z } from 'zod';
import { CreatedApiKeySchema } from '../../schema/admin.ts';
import { parseExact } from '../support/gateway-harness.ts';
import { startService, type Service } from '../support/processes.ts';

const ADMIN = 'usage-spool-admin-token-0123';
const REQUESTS = 20;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleetgate-usage-spool-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function startGatewayProcess(): Promise<{ service: Service; url: string }> {
  const service = await startService({
    name: 'gateway',
    entry: 'gateway/src/node.ts',
    env: {
      FLEETGATE_ADMIN_TOKEN: ADMIN,
      FLEETGATE_DB_URL: `file:${join(dir, 'gateway.db')}`,
      FLEETGATE_PORT: '0',
      FLEETGATE_HOST: '127.0.0.1',
    },
    ready: /listening on http/,
  });
  return { service, url: /(http:\/\/\S+)/.exec(service.readyLine)?.[1] ?? '' };
}

const EventsSchema = z.object({ data: z.array(z.object({ id: z.string() })) });

it('loses no usage of answered requests when the process is killed', async () => {
  const first = await startGatewayProcess();
  const created = await fetch(`${first.url}/admin/v1/keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'crash' }),
  });
  const { key } = parseExact(CreatedApiKeySchema, await created.json());
  // Answered requests (refused: no such model), each of which records a usage row.
  const answers = await Promise.all(
    Array.from({ length: REQUESTS }, () =>
      fetch(`${first.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          model: 'no-such-model',
          messages: [{ role: 'user', content: 'x' }],
        }),
      }),
    ),
  );
  expect(answers.map((a) => a.status)).toEqual(Array<number>(REQUESTS).fill(404));
  const ids = answers.map((a) => a.headers.get('x-request-id') ?? '');
  // The answers ended more than 100 ms ago; the batch they wait for is not written yet.
  await new Promise((r) => setTimeout(r, 150));
  const exited = new Promise((resolve) => first.service.child.once('exit', resolve));
  first.service.child.kill('SIGKILL');
  await exited;

  const second = await startGatewayProcess();
  try {
    const res = await fetch(`${second.url}/admin/v1/usage/events?limit=1000`, {
      headers: { authorization: `Bearer ${ADMIN}` },
    });
    const written = EventsSchema.parse(await res.json()).data.map((e) => e.id);
    expect(ids.filter((id) => !written.includes(id))).toEqual([]);
  } finally {
    await second.service.stop();
  }
});
