import { afterEach, describe, expect, it, vi } from 'vitest';
import { usageEvents } from '../../../schema/db.ts';
import { createTempDb, type TempDb } from '../testing/temp-db.ts';
import type { UsageEvent } from '../types.ts';
import { createBatchingUsageSink, createDirectUsageSink } from './sink.ts';

const event = (id: string, extra: Partial<UsageEvent> = {}): UsageEvent => ({
  id,
  clientRequestId: null,
  keyId: 'k1',
  model: 'm',
  endpoint: '/v1/chat/completions',
  nodeId: 'n1',
  instanceId: 'i1',
  stream: true,
  status: 200,
  outcome: 'ok',
  errorCode: null,
  promptTokens: 3,
  completionTokens: 4,
  totalTokens: 7,
  latencyMs: 12,
  ttftMs: 5,
  createdAt: 1_800_000_000_000,
  ...extra,
});

let temp: TempDb | undefined;
afterEach(async () => {
  vi.restoreAllMocks();
  await temp?.close();
  temp = undefined;
});

const ids = async (t: TempDb) =>
  (await t.db.select({ id: usageEvents.id }).from(usageEvents)).map((r) => r.id).sort();

describe('batching usage sink', () => {
  it('writes nothing until flushed or the batch fills, then everything, in chunks', async () => {
    temp = await createTempDb();
    const sink = createBatchingUsageSink(temp.db, { maxBatch: 1000, flushMs: 60_000 });
    const all = Array.from({ length: 20 }, (_, i) => `r${String(i).padStart(2, '0')}`);
    for (const id of all) await sink.record(event(id));
    expect(await ids(temp)).toEqual([]);
    expect(sink.pending).toBe(20);
    await sink.flush();
    expect(await ids(temp)).toEqual(all);
    expect(sink.pending).toBe(0);
    const [row] = await temp.db.select().from(usageEvents).limit(1);
    expect(row).toMatchObject({ keyId: 'k1', stream: true, totalTokens: 7, ttftMs: 5 });
  });

  it('writes on its own once maxBatch events wait, and on its timer', async () => {
    temp = await createTempDb();
    const full = createBatchingUsageSink(temp.db, { maxBatch: 3, flushMs: 60_000 });
    for (const id of ['a', 'b', 'c']) await full.record(event(id));
    await vi.waitFor(async () => expect(await ids(temp as TempDb)).toEqual(['a', 'b', 'c']));

    const timed = createBatchingUsageSink(temp.db, { maxBatch: 1000, flushMs: 10 });
    await timed.record(event('d'));
    await vi.waitFor(async () => expect(await ids(temp as TempDb)).toContain('d'));
  });

  it('ignores an id already written instead of failing the batch', async () => {
    temp = await createTempDb();
    const sink = createBatchingUsageSink(temp.db, { maxBatch: 1000, flushMs: 60_000 });
    await sink.record(event('same'));
    await sink.flush();
    await sink.record(event('same', { status: 500 }));
    await sink.record(event('other'));
    await sink.flush();
    expect(await ids(temp)).toEqual(['other', 'same']);
  });

  it('keeps a bounded buffer while the database refuses, and writes it once it can', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => undefined);
    temp = await createTempDb({ migrated: false });
    const sink = createBatchingUsageSink(temp.db, {
      maxBatch: 1000,
      flushMs: 60_000,
      maxBuffered: 5,
    });
    for (const id of ['a', 'b', 'c']) await sink.record(event(id));
    await expect(sink.flush()).rejects.toThrow();
    expect(sink.pending).toBe(3);
    for (const id of ['d', 'e', 'f', 'g']) await sink.record(event(id));
    expect(sink.pending).toBe(5);
    expect(sink.dropped).toBe(2);

    const { migrate } = await import('drizzle-orm/libsql/migrator');
    await migrate(temp.db as Parameters<typeof migrate>[0], {
      migrationsFolder: 'schema/migrations',
    });
    await sink.flush();
    expect(await ids(temp)).toEqual(['c', 'd', 'e', 'f', 'g']);
  });
});

describe('direct usage sink', () => {
  it('writes each event at once and never throws', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => undefined);
    temp = await createTempDb();
    const sink = createDirectUsageSink(temp.db);
    await sink.record(event('x', { outcome: 'client_aborted' }));
    expect(await ids(temp)).toEqual(['x']);
    const broken = await createTempDb({ migrated: false });
    await expect(createDirectUsageSink(broken.db).record(event('y'))).resolves.toBeUndefined();
    await broken.close();
  });
});
