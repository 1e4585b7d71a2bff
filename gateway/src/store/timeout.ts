// Bounds on waiting for the database. A hung database (a stalled libSQL server, a network
// that drops packets) must not hang requests or shutdown: key lookups, routing-table loads
// and usage writes give up after DB_TIMEOUT_MS. The query itself may still finish later;
// only the wait ends.
import { ApiError } from '../errors.ts';

export const DB_TIMEOUT_MS = 5000;

export class DbTimeoutError extends ApiError {
  constructor(what: string, ms: number) {
    super(
      503,
      'service_unavailable',
      `the gateway's database did not answer in time (${what}, ${ms} ms); try again shortly`,
      'database_timeout',
    );
  }
}

export async function withDbTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DbTimeoutError(what, ms)), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
