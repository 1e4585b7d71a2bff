// Writers of usage rows, off the request path (the rows themselves: store/usage.ts).
import type { Db } from '../store/db.ts';
import { insertUsageEvents as insertEvents } from '../store/usage.ts';
import type { UsageEvent, UsageSink } from '../types.ts';

// While the database is unreachable, at most this many events wait; older ones are dropped
// (and counted) rather than growing memory without bound.
export const MAX_BUFFERED_EVENTS = 10_000;

export interface BatchingUsageSink extends UsageSink {
  // Events waiting to be written.
  readonly pending: number;
  // Events dropped because the buffer was full while writes failed.
  readonly dropped: number;
}

// Node host: events collect in memory and are written in one batch per flushMs, or as soon
// as maxBatch are waiting. flush() writes everything buffered (and rejects when the
// database refuses; the events stay buffered for the next try).
export function createBatchingUsageSink(
  db: Db,
  opts: { maxBatch: number; flushMs: number; maxBuffered?: number },
): BatchingUsageSink {
  if (opts.maxBatch < 1 || opts.flushMs < 0) throw new Error('bad usage sink options');
  const maxBuffered = opts.maxBuffered ?? MAX_BUFFERED_EVENTS;
  let buffer: UsageEvent[] = [];
  let dropped = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let writing: Promise<void> | undefined;

  const writeOnce = async (): Promise<void> => {
    const batch = buffer;
    buffer = [];
    try {
      await insertEvents(db, batch);
    } catch (err) {
      // Put them back in front of what arrived meanwhile, keeping the newest.
      buffer = batch.concat(buffer);
      const excess = buffer.length - maxBuffered;
      if (excess > 0) {
        buffer = buffer.slice(excess);
        dropped += excess;
      }
      throw err;
    }
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

  return {
    record(event) {
      buffer.push(event);
      if (buffer.length > maxBuffered) {
        buffer.shift();
        dropped += 1;
      }
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
  };
}

// Worker host: each event is written at once; the host runs record() inside waitUntil so
// the write outlives the response without delaying it.
export function createDirectUsageSink(db: Db): UsageSink {
  return {
    async record(event) {
      try {
        await insertEvents(db, [event]);
      } catch (err) {
        console.error('usage write failed:', err instanceof Error ? err.message : err);
      }
    },
    flush: () => Promise.resolve(),
  };
}
