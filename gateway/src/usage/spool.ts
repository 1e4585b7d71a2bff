// The usage spool of the Node host: every usage event is appended to a local file before
// it waits in memory for its batch, so a gateway that crashes (SIGKILL, OOM, power to the
// process) loses no usage of a request that had ended; the next start replays the spool.
// The spool is a folder of segments (segment-<n>.jsonl, one JSON event per line). A write
// to the database seals the current segment first; once the write succeeds every sealed
// segment's events are in the database (or were dropped and counted), so sealed segments
// are deleted. Inserts ignore ids already written, so replaying a segment that was in
// fact written before the crash does no harm.
//
// One gateway process per spool folder: a second would replay the first one's segments.
import {
  closeSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import type { UsageEvent } from '../types.ts';

// Beyond this many bytes of unwritten events (a long database outage), new events are
// kept in memory only, and the sink counts what it has to drop.
export const MAX_SPOOL_BYTES = 256 * 1024 * 1024;

const SEGMENT = /^segment-(\d+)\.jsonl$/;

export interface UsageSpool {
  // Appends one event; when this returns, the event survives a crash of this process.
  // False when the spool is full or cannot be written (the event is then in memory only).
  append(event: UsageEvent): boolean;
  // Ends the current segment: events appended so far are in sealed segments.
  seal(): void;
  // Deletes the sealed segments: their events are in the database.
  release(): void;
  // Events a previous run left (its segments count as sealed).
  recovered: UsageEvent[];
  close(): void;
}

function isUsageEvent(value: unknown): value is UsageEvent {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { id?: unknown }).id === 'string' &&
    typeof (value as { createdAt?: unknown }).createdAt === 'number'
  );
}

// Lines of a segment; a line cut short by a crash mid-write is skipped.
function readSegment(path: string): UsageEvent[] {
  const events: UsageEvent[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line) continue;
    try {
      const value: unknown = JSON.parse(line);
      if (isUsageEvent(value)) events.push(value);
    } catch {
      // The torn last line of a crash: the request it describes had not ended.
    }
  }
  return events;
}

export function openUsageSpool(dir: string, opts: { maxBytes?: number } = {}): UsageSpool {
  const maxBytes = opts.maxBytes ?? MAX_SPOOL_BYTES;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const existing = readdirSync(dir)
    .map((name) => SEGMENT.exec(name))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
  let sealed = [...existing];
  const recovered: UsageEvent[] = [];
  const seen = new Set<string>();
  // Bytes in sealed segments and in the current one.
  let sealedBytes = 0;
  let currentBytes = 0;
  for (const n of existing) {
    const file = join(dir, `segment-${n}.jsonl`);
    sealedBytes += statSync(file).size;
    for (const event of readSegment(file)) {
      if (seen.has(event.id)) continue;
      seen.add(event.id);
      recovered.push(event);
    }
  }
  let current = (existing.at(-1) ?? 0) + 1;
  let fd: number | undefined;
  const path = (n: number) => join(dir, `segment-${n}.jsonl`);

  const closeCurrent = () => {
    if (fd === undefined) return;
    closeSync(fd);
    fd = undefined;
    sealed.push(current);
    current += 1;
    sealedBytes += currentBytes;
    currentBytes = 0;
  };

  return {
    recovered,
    append(event) {
      const line = `${JSON.stringify(event)}\n`;
      if (sealedBytes + currentBytes + line.length > maxBytes) return false;
      try {
        fd ??= openSync(path(current), 'a', 0o600);
        writeSync(fd, line);
        currentBytes += line.length;
        return true;
      } catch (err) {
        console.error('usage spool write failed:', err instanceof Error ? err.message : err);
        return false;
      }
    },
    seal() {
      closeCurrent();
    },
    release() {
      for (const n of sealed) rmSync(path(n), { force: true });
      sealed = [];
      sealedBytes = 0;
    },
    close() {
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
    },
  };
}
