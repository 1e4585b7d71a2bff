import { afterEach, describe, expect, it } from 'vitest';
import { usageEvents } from '../../../schema/db.ts';
import { createTempDb, type TempDb } from '../testing/temp-db.ts';
import type { UsageEvent } from '../types.ts';
import { insertUsageEvents, ROWS_PER_STATEMENT } from './usage.ts';

const event = (id: string, extra: Partial<UsageEvent> = {}): UsageEvent => ({
  id,
  clientRequestId: null,
  keyId: 'k1',
  model: 'org/model',
  endpoint: '/v1/chat/completions',
  nodeId: 'n1',
  instanceId: 'i1',
  stream: false,
  status: 200,
  outcome: 'ok',
  errorCode: null,
  promptTokens: 3,
  completionTokens: 4,
  totalTokens: 7,
  latencyMs: 12,
  ttftMs: null,
  createdAt: 1_800_000_000_123,
  ...extra,
});

let temp: TempDb | undefined;
afterEach(async () => {
  await temp?.close();
  temp = undefined;
});

describe('insertUsageEvents', () => {
  it('writes every field as given, and the defaults of absent ones', async () => {
    temp = await createTempDb();
    const full = event('full', {
      clientRequestId: 'client-1',
      stream: true,
      status: 499,
      outcome: 'client_aborted',
      errorCode: 'it\'s "quoted" ü',
      ttftMs: 95,
      spendUsd: 0.000125,
      images: 2,
      audioSeconds: 12.5,
    });
    const bare = event('bare', { keyId: null, model: null, nodeId: null, instanceId: null });
    await insertUsageEvents(temp.db, [full, bare]);
    const rows = await temp.db.select().from(usageEvents).orderBy(usageEvents.id);
    expect(rows).toEqual([{ ...bare, spendUsd: 0, images: 0, audioSeconds: 0 }, full]);
  });

  it('ignores ids already written, within a batch and across batches', async () => {
    temp = await createTempDb();
    await insertUsageEvents(temp.db, [event('a', { totalTokens: 1 })]);
    await insertUsageEvents(temp.db, [
      event('a', { totalTokens: 2 }),
      event('b', { totalTokens: 3 }),
      event('b', { totalTokens: 4 }),
    ]);
    const rows = await temp.db.select().from(usageEvents).orderBy(usageEvents.id);
    expect(rows.map((r) => [r.id, r.totalTokens])).toEqual([
      ['a', 1],
      ['b', 3],
    ]);
  });

  it('writes a batch of several statements whole, or nothing of it', async () => {
    temp = await createTempDb();
    const many = Array.from({ length: ROWS_PER_STATEMENT + 5 }, (_, i) => event(`r${i}`));
    await insertUsageEvents(temp.db, many);
    expect(await temp.db.$count(usageEvents)).toBe(many.length);

    // The last row breaks a NOT NULL column: the first statement's rows are rolled back too.
    const broken = Array.from({ length: ROWS_PER_STATEMENT + 1 }, (_, i) => event(`s${i}`));
    const last = broken.at(-1);
    if (last) Object.assign(last, { endpoint: null });
    await expect(insertUsageEvents(temp.db, broken)).rejects.toThrow();
    expect(await temp.db.$count(usageEvents)).toBe(many.length);
  });

  it('does nothing for no events', async () => {
    temp = await createTempDb();
    await insertUsageEvents(temp.db, []);
    expect(await temp.db.$count(usageEvents)).toBe(0);
  });
});
