// Writers of usage rows, off the request path (the rows themselves: store/usage.ts).
import type { Db } from '../store/db.ts';
import { DB_TIMEOUT_MS, withDbTimeout } from '../store/timeout.ts';
import { insertUsageEvents } from '../store/usage.ts';
import type { UsageEvent, UsageSink, UsageSinkStats } from '../types.ts';
import type { UsageSpool } from './spool.ts';

// A write that takes longer is given up (and retried): a hung database must not hold the
// buffer, or shutdown, forever.
const insertEvents = (db: Db, events: readonly UsageEvent[], timeoutMs: number) =>
  withDbTimeout(insertUsageEvents(db, events), timeoutMs, 'usage write');

// While the database is unreachable, at most this many events wait; older ones are dropped
// (and counted) rather than growing memory without bound.
export const MAX_BUFFERED_EVENTS = 10_000;
const DROP_LOG_INTERVAL_MS = 10_000;

export interface BatchingUsageSink extends UsageSink {
  // Events waiting to be written.
  readonly pending: number;
  // Events dropped because the buffer was full while writes failed.
  readonly dropped: number;
  stats(): UsageSinkStats;
}

export interface BatchingUsageSinkOptions {
  // Events per write at most.
  maxBatch: number;
  // Events wait at most this long (ms) for their write.
  flushMs: number;
  // Events kept in memory while writes fail. Default MAX_BUFFERED_EVENTS.
  maxBuffered?: number;
  // One write waits this long (ms) for the database. Default DB_TIMEOUT_MS.
  writeTimeoutMs?: number;
  // Where events are journaled before they wait (usage/spool.ts); its recovered events
  // are written first.
  spool?: UsageSpool;
}

// Node host: events collect in memory and are written in one batch per flushMs, or as soon
// as maxBatch are waiting. flush() writes everything buffered (and rejects when the
// database refuses; the events stay buffered for the next try). With a spool, each event
// is journaled before it waits, so a crash loses none.
export function createBatchingUsageSink(db: Db, opts: BatchingUsageSinkOptions): BatchingUsageSink {
  if (opts.maxBatch < 1 || opts.flushMs < 0) throw new Error('bad usage sink options');
  const maxBuffered = opts.maxBuffered ?? MAX_BUFFERED_EVENTS;
  const timeoutMs = opts.writeTimeoutMs ?? DB_TIMEOUT_MS;
  const { spool } = opts;
  let buffer: UsageEvent[] = spool ? [...spool.recovered] : [];
  let dropped = 0;
  let unspooled = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let writing: Promise<void> | undefined;

  let lastDropLog = Number.NEGATIVE_INFINITY;
  const dropOldest = (excess: number) => {
    buffer = buffer.slice(excess);
    dropped += excess;
    // Logged at most every DROP_LOG_INTERVAL_MS; the count is always in stats().
    if (Date.now() - lastDropLog < DROP_LOG_INTERVAL_MS) return;
    lastDropLog = Date.now();
    console.error(
      `usage events dropped: ${dropped} since start; the database has not taken writes and ${maxBuffered} events are waiting`,
    );
  };

  const writeOnce = async (): Promise<void> => {
    // Everything in the buffer is now in sealed segments; events recorded during the
    // write go to a new one.
    spool?.seal();
    const batch = buffer;
    buffer = [];
    try {
      for (let i = 0; i < batch.length; i += opts.maxBatch) {
        await insertEvents(db, batch.slice(i, i + opts.maxBatch), timeoutMs);
      }
    } catch (err) {
      // Put them back in front of what arrived meanwhile, keeping the newest.
      buffer = batch.concat(buffer);
      const excess = buffer.length - maxBuffered;
      if (excess > 0) dropOldest(excess);
      throw err;
    }
    spool?.release();
  };

  // One write at a time; a flush asked for during a write waits for it, then writes.
  const drain = async (): Promise<void> => {
    while (writing) await writing.catch(() => undefined);
    if (buffer.length === 0) return;
    writing = writeOnce().finally(() => {
      writing = undefined;
    });
    return writing;
  };

  const background = () => {
    drain().catch((err: unknown) => {
      console.error(
        `usage write failed (${buffer.length} events kept, ${dropped} dropped):`,
        err instanceof Error ? err.message : err,
      );
      schedule();
    });
  };

  const schedule = () => {
    if (timer !== undefined || buffer.length === 0) return;
    timer = setTimeout(() => {
      timer = undefined;
      background();
    }, opts.flushMs);
    // A pending usage write must not keep the Node process alive on shutdown (the host
    // calls flush() itself).
    if (typeof timer === 'object' && 'unref' in timer) timer.unref();
  };

  // What a previous run left in the spool goes out with the first write.
  schedule();

  return {
    record(event) {
      if (spool && !spool.append(event)) unspooled += 1;
      buffer.push(event);
      if (buffer.length > maxBuffered) dropOldest(1);
      if (buffer.length >= opts.maxBatch && !writing) background();
      else schedule();
      return Promise.resolve();
    },
    async flush() {
      if (timer !== undefined) {
        clearTimeout(timer);
        timer = undefined;
      }
      await drain();
      // Events recorded during the write above.
      if (buffer.length > 0) await drain();
    },
    get pending() {
      return buffer.length;
    },
    get dropped() {
      return dropped;
    },
    stats() {
      return { pending: buffer.length, dropped, unspooled };
    },
  };
}

// Worker host: each event is written at once; the host runs record() inside waitUntil so
// the write outlives the response without delaying it.
export function createDirectUsageSink(db: Db, opts: { writeTimeoutMs?: number } = {}): UsageSink {
  return {
    async record(event) {
      try {
        await insertEvents(db, [event], opts.writeTimeoutMs ?? DB_TIMEOUT_MS);
      } catch (err) {
        console.error('usage write failed:', err instanceof Error ? err.message : err);
      }
    },
    flush: () => Promise.resolve(),
  };
}
