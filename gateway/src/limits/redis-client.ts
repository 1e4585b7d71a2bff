// The Node host's Redis connection for the shared limiter (node-redis, the client Redis
// itself maintains): FLEETGATE_REDIS_URL and FLEETGATE_REDIS_FAILURE, checked at start.
// Commands fail at once while the connection is down (no offline queue), so a request
// never waits on a reconnect; the failure mode decides what that request gets.
import { createClient } from 'redis';
import { ConfigError } from '../config.ts';
import type { UsageSink } from '../types.ts';
import type { LoadUsage } from './limiter.ts';
import {
  createRedisLimiter,
  REDIS_FAILURE_MODES,
  type RedisFailureMode,
  type RedisLimiter,
} from './redis.ts';

const CONNECT_TIMEOUT_MS = 2000;

export interface RedisLimiterHandle {
  limiter: RedisLimiter;
  close(): Promise<void>;
}

function failureMode(raw: string | undefined): RedisFailureMode {
  const value = raw?.trim() || 'open-rate-limits';
  const mode = REDIS_FAILURE_MODES.find((m) => m === value);
  if (!mode) {
    throw new ConfigError(
      'FLEETGATE_REDIS_FAILURE',
      `must be one of ${REDIS_FAILURE_MODES.join(', ')}, got '${value}'`,
    );
  }
  return mode;
}

// undefined when FLEETGATE_REDIS_URL is not set (the in-process limiter is used).
export async function connectRedisLimiter(
  env: Record<string, string | undefined>,
  deps: { usage: UsageSink; loadUsage: LoadUsage },
): Promise<RedisLimiterHandle | undefined> {
  const url = env.FLEETGATE_REDIS_URL?.trim();
  if (!url) return undefined;
  const failure = failureMode(env.FLEETGATE_REDIS_FAILURE);
  if (!/^rediss?:\/\//.test(url)) {
    throw new ConfigError('FLEETGATE_REDIS_URL', 'must be a redis:// or rediss:// URL');
  }
  const client = createClient({
    url,
    disableOfflineQueue: true,
    socket: {
      connectTimeout: CONNECT_TIMEOUT_MS,
      reconnectStrategy: (retries: number) => Math.min(100 * 2 ** retries, 2000),
    },
  });
  let lastError = '';
  client.on('error', (err: unknown) => {
    const message = err instanceof Error ? err.message : String(err);
    // One line per distinct failure, not one per reconnect attempt.
    if (message !== lastError) console.error(`limits: Redis connection: ${message}`);
    lastError = message;
  });
  client.on('ready', () => {
    lastError = '';
  });
  try {
    await client.connect();
  } catch (err) {
    client.destroy();
    throw new ConfigError(
      'FLEETGATE_REDIS_URL',
      `cannot connect: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  const limiter = createRedisLimiter({
    redis: { sendCommand: (args) => client.sendCommand(args) },
    usage: deps.usage,
    loadUsage: deps.loadUsage,
    failure,
  });
  return {
    limiter,
    async close() {
      client.destroy();
      await Promise.resolve();
    },
  };
}
