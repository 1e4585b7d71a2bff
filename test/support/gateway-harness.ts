// One whole gateway app (createApp) for one group of tests: its own migrated libSQL file,
// its own signing key and its own clock, driven through app.request(). Answers that a test
// expects to succeed are checked against their contracts (schema/admin.ts for the admin
// API, schema/contracts.ts for the node API) and must hold exactly the contract's fields.
// Nodes are played by the test (register and heartbeat as the daemon does).
import type { Hono } from 'hono';
import { expect } from 'vitest';
import type { z } from 'zod';
import {
  CreatedApiKeySchema,
  CreatedRegistrationTokenSchema,
  ErrorBodySchema,
  type CreatedApiKey,
  type ErrorBody,
} from '../../schema/admin.ts';
import {
  HeartbeatResponseSchema,
  RegisterResponseSchema,
  type RegisterResponse,
} from '../../schema/contracts.ts';
import { createApp } from '../../gateway/src/app.ts';
import type { AccessLogWriter } from '../../gateway/src/middleware/access-log.ts';
import { directTransport } from '../../gateway/src/proxy/transport.ts';
import type { DataPlaneSigner } from '../../gateway/src/signing/node-keys.ts';
import { createSigner, generateSigningJwk } from '../../gateway/src/signing/signer.ts';
import type { Db } from '../../gateway/src/store/db.ts';
import { createTempDb, type TempDb } from '../../gateway/src/testing/temp-db.ts';
import type { AppDeps, AppEnv, ClientAddress, GatewayConfig } from '../../gateway/src/types.ts';
import { createDirectUsageSink } from '../../gateway/src/usage/sink.ts';

export const ADMIN_TOKEN = 'test-admin-token-0123456789';
export const HEARTBEAT_S = 5;
export const MAX_BODY = 16 * 1024;

// The app's idea of now. It only moves forward, like the time it stands in for.
export interface TestClock {
  now(): number;
  advance(ms: number): void;
}

function testClock(start: number): TestClock {
  let at = start;
  return {
    now: () => at,
    advance(ms) {
      if (ms < 0) throw new Error('the test clock does not go back');
      at += ms;
    },
  };
}

export interface Result<T> {
  status: number;
  headers: Headers;
  body: T;
}

export interface CallOptions {
  token?: string;
  body?: unknown;
  // A body sent as is (not JSON-encoded).
  raw?: string;
  headers?: Record<string, string>;
}

export interface GatewayHarness {
  app: Hono<AppEnv>;
  db: Db;
  // The Node and Worker hosts' signer (Web Crypto), which also derives node keys.
  signer: DataPlaneSigner;
  config: GatewayConfig;
  clock: TestClock;
  // Another app with the same settings, signer and clock over another database.
  build(db: Db): Hono<AppEnv>;
  call(method: string, path: string, opts?: CallOptions): Promise<Result<unknown>>;
  // A call that must succeed (2xx) with an answer that is exactly `schema`.
  callOk<S extends z.ZodType>(
    schema: S,
    method: string,
    path: string,
    opts?: CallOptions,
  ): Promise<Result<z.output<S>>>;
  // The same under /admin/v1, with the admin token.
  admin(method: string, path: string, body?: unknown): Promise<Result<unknown>>;
  adminOk<S extends z.ZodType>(
    schema: S,
    method: string,
    path: string,
    body?: unknown,
  ): Promise<Result<z.output<S>>>;
  createKey(body?: Record<string, unknown>): Promise<CreatedApiKey>;
  registrationToken(body?: Record<string, unknown>): Promise<string>;
  registerNode(name: string, advertiseUrl?: string, gpus?: number): Promise<RegisterResponse>;
  // A heartbeat as the daemon sends it, answered or refused.
  sendHeartbeat(secret: string, instances?: unknown[], gpus?: number): Promise<Result<unknown>>;
  // A heartbeat that must be accepted.
  heartbeat(
    secret: string,
    instances?: unknown[],
    gpus?: number,
  ): Promise<Result<z.output<typeof HeartbeatResponseSchema>>>;
  close(): Promise<void>;
}

// `schema` parses `body`, and stripped nothing: the answer has no field the contract lacks.
export function parseExact<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    throw new Error(`answer does not match its contract: ${parsed.error.message}`);
  }
  expect(parsed.data).toEqual(body);
  return parsed.data;
}

export function expectError(
  res: Result<unknown>,
  status: number,
  code?: string,
): ErrorBody['error'] {
  expect(res.status).toBe(status);
  const { error } = parseExact(ErrorBodySchema, res.body);
  expect(Object.keys(error).sort()).toEqual(['code', 'message', 'param', 'type']);
  expect(typeof error.message).toBe('string');
  if (code !== undefined) expect(error.code).toBe(code);
  expect(res.headers.get('x-request-id')).toBeTruthy();
  return error;
}

export const nodeBody = (name: string, advertiseUrl = 'http://127.0.0.1:9', gpus = 0) => ({
  name,
  advertise_url: advertiseUrl,
  gpus: Array.from({ length: gpus }, (_, index) => ({
    index,
    name: 'NVIDIA L4',
    memory_total_mib: 23034,
  })),
  daemon_version: 'test',
});

export async function startGatewayHarness(
  opts: {
    config?: Partial<GatewayConfig>;
    clock?: number;
    accessLog?: AccessLogWriter;
    clientAddress?: ClientAddress;
  } = {},
): Promise<GatewayHarness> {
  const temp: TempDb = await createTempDb();
  const signer = await createSigner(await generateSigningJwk());
  const config: GatewayConfig = {
    adminToken: ADMIN_TOKEN,
    maxBodyBytes: MAX_BODY,
    heartbeatIntervalS: HEARTBEAT_S,
    cacheTtlMs: 2000,
    nodeJwtTtlS: 30,
    defaultMaxTokens: 4096,
    ...opts.config,
  };
  const clock = testClock(opts.clock ?? Date.now());

  function build(db: Db): Hono<AppEnv> {
    const deps: AppDeps = {
      db,
      config,
      signer,
      usage: createDirectUsageSink(db),
      transport: directTransport,
      now: () => clock.now(),
      accessLog: opts.accessLog,
      clientAddress: opts.clientAddress,
    };
    return createApp(deps);
  }
  const app = build(temp.db);

  async function call(method: string, path: string, o: CallOptions = {}) {
    const headers: Record<string, string> = { ...o.headers };
    if (o.token !== undefined) headers.authorization = `Bearer ${o.token}`;
    let body: string | undefined = o.raw;
    if (o.body !== undefined) body = JSON.stringify(o.body);
    if (body !== undefined) headers['content-type'] ??= 'application/json';
    const res = await app.request(path, { method, headers, body });
    const text = await res.text();
    const json: unknown = text ? JSON.parse(text) : null;
    return { status: res.status, headers: res.headers, body: json };
  }

  async function callOk<S extends z.ZodType>(
    schema: S,
    method: string,
    path: string,
    o?: CallOptions,
  ): Promise<Result<z.output<S>>> {
    const res = await call(method, path, o);
    if (res.status < 200 || res.status > 299) {
      throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
    }
    return { ...res, body: parseExact(schema, res.body) };
  }

  const admin = (method: string, path: string, body?: unknown) =>
    call(method, `/admin/v1${path}`, { token: ADMIN_TOKEN, body });
  const adminOk = <S extends z.ZodType>(schema: S, method: string, path: string, body?: unknown) =>
    callOk(schema, method, `/admin/v1${path}`, { token: ADMIN_TOKEN, body });

  async function registrationToken(body: Record<string, unknown> = {}): Promise<string> {
    const res = await adminOk(CreatedRegistrationTokenSchema, 'POST', '/registration-tokens', body);
    expect(res.status).toBe(201);
    return res.body.token;
  }

  const heartbeatBody = (instances: unknown[], gpus: number) => ({
    daemon_version: 'test',
    gpus: nodeBody('x', undefined, gpus).gpus,
    instances,
    in_flight: 0,
    queued: 0,
  });

  return {
    app,
    db: temp.db,
    signer,
    config,
    clock,
    build,
    call,
    callOk,
    admin,
    adminOk,
    async createKey(body = { name: 'test' }) {
      const res = await adminOk(CreatedApiKeySchema, 'POST', '/keys', body);
      expect(res.status).toBe(201);
      return res.body;
    },
    registrationToken,
    async registerNode(name, advertiseUrl, gpus = 0) {
      const token = await registrationToken({ name });
      const res = await callOk(RegisterResponseSchema, 'POST', '/node/v1/register', {
        token,
        body: nodeBody(name, advertiseUrl, gpus),
      });
      expect(res.status).toBe(201);
      return res.body;
    },
    sendHeartbeat(secret, instances = [], gpus = 0) {
      return call('POST', '/node/v1/heartbeat', {
        token: secret,
        body: heartbeatBody(instances, gpus),
      });
    },
    heartbeat(secret, instances = [], gpus = 0) {
      return callOk(HeartbeatResponseSchema, 'POST', '/node/v1/heartbeat', {
        token: secret,
        body: heartbeatBody(instances, gpus),
      });
    },
    close: () => temp.close(),
  };
}
