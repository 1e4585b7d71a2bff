// A real libSQL database (a file in a temp folder) behind a switch that makes it hang: while
// hung, every call the app makes through the client (execute, batch, ...) returns a promise
// that never settles, as with a stalled libSQL server or a network that drops packets.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient, type Client } from '@libsql/client';

const CALLS = new Set(['execute', 'batch', 'executeMultiple', 'migrate', 'transaction']);

export interface HangingDb {
  // The file's URL, to open it again with another client.
  url: string;
  dir: string;
  // Opens a client whose calls hang while hang() is on (all clients of this HangingDb).
  client(): Client;
  hang(): void;
  resume(): void;
  remove(): Promise<void>;
}

export async function createHangingDb(): Promise<HangingDb> {
  const dir = await mkdtemp(join(tmpdir(), 'fleetgate-hanging-db-'));
  const url = `file:${join(dir, 'gateway.db')}`;
  let hung = false;
  return {
    url,
    dir,
    client() {
      const real = createClient({ url });
      return new Proxy(real, {
        get(target, prop, receiver) {
          const value: unknown = Reflect.get(target, prop, receiver);
          if (typeof prop !== 'string' || !CALLS.has(prop) || typeof value !== 'function') {
            return typeof value === 'function' ? (value.bind(target) as unknown) : value;
          }
          return (...args: unknown[]): unknown => {
            if (hung) return new Promise(() => undefined);
            return (value as (...a: unknown[]) => unknown).apply(target, args);
          };
        },
      });
    },
    hang() {
      hung = true;
    },
    resume() {
      hung = false;
    },
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

// `work`, or a failure naming `what` if it has not settled after patienceMs: a test of
// something that must not hang fails with a message instead of running into its timeout.
export async function settlesWithin<T>(
  work: T | Promise<T>,
  patienceMs: number,
  what: string,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`still waiting: ${what}`)), patienceMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
