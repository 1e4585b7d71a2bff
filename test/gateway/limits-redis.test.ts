// Per-key limits shared through a real redis-server: two gateway processes (the Node host,
// each its own process) on one libSQL file and one Redis, requests spread over both. The
// same scenarios as the in-process limiter (test/support/limits.ts). Then what a gateway
// does when its Redis goes away.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway as startGatewayInProcess } from '../../gateway/src/node.ts';
import {
  chat,
  concurrencyIsExact,
  createKey,
  errorOf,
  requestsPerMinuteIsExact,
  serveModel,
  tokenBudgetIsNeverOverspent,
  type LimitsStack,
} from '../support/limits.ts';
import { startRedis, type TestRedis } from '../support/redis.ts';
import { startGateway, type Gateway } from '../support/stack.ts';

const ADMIN = 'redis-limits-admin-token-0123';

describe('two gateway processes sharing one Redis', () => {
  let dir: string;
  let redis: TestRedis;
  let gateways: Gateway[] = [];
  let stack: LimitsStack;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fleetgate-redis-'));
    redis = await startRedis();
    const env = { FLEETGATE_REDIS_URL: redis.url };
    // One after the other: the first applies the migrations to the shared file.
    const first = await startGateway({ dataDir: dir, adminToken: ADMIN, env });
    const second = await startGateway({ dataDir: dir, adminToken: ADMIN, env });
    gateways = [first, second];
    stack = await serveModel(
      gateways.map((g) => g.url),
      ADMIN,
    );
  });

  afterAll(async () => {
    await stack.close();
    await Promise.all(gateways.map((g) => g.service.stop()));
    await redis.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('admits exactly requests_per_minute of 50 simultaneous requests over both', async () => {
    await requestsPerMinuteIsExact(stack);
  });

  it('admits exactly max_concurrent_requests of 20 simultaneous streams over both', async () => {
    await concurrencyIsExact(stack);
  });

  it('never lets 32 simultaneous requests over both overspend a token budget', async () => {
    await tokenBudgetIsNeverOverspent(stack);
  });
});

describe('a gateway whose Redis is gone', () => {
  it('lets rate-limited keys through and refuses budgeted ones with 503 (the default)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fleetgate-redis-down-'));
    const redis = await startRedis({ own: true });
    const gateway = await startGatewayInProcess({
      env: {
        FLEETGATE_ADMIN_TOKEN: ADMIN,
        FLEETGATE_DB_URL: `file:${join(dir, 'gw.db')}`,
        FLEETGATE_PORT: '0',
        FLEETGATE_REDIS_URL: redis.url,
      },
    });
    const stack = await serveModel([gateway.url], ADMIN);
    try {
      const rated = await createKey(stack, 'rated', { requests_per_minute: 1 });
      const budgeted = await createKey(stack, 'budgeted', { token_budget: 1000 });
      expect((await chat(gateway.url, rated.key)).status).toBe(200);
      expect((await chat(gateway.url, rated.key)).status).toBe(429);
      expect((await chat(gateway.url, budgeted.key)).status).toBe(200);

      await redis.stop();
      // Rate limits fail open...
      expect((await chat(gateway.url, rated.key)).status).toBe(200);
      // ...budgets fail closed, with a message that says why.
      const refused = await chat(gateway.url, budgeted.key);
      expect(refused.status).toBe(503);
      expect(errorOf(refused)).toMatchObject({ code: 'limits_unavailable' });
      expect(errorOf(refused).message).toContain('limits and budgets');
    } finally {
      await stack.close();
      await gateway.close();
      await redis.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
