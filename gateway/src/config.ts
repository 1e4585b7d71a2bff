// The gateway's settings, parsed and checked once at start-up from environment variables
// (Node: process.env; Worker: vars and secrets). A bad value stops the start with an error
// naming the variable, never echoing a secret's value.
import { DATA_PLANE_JWT_MAX_TTL_S } from '../../schema/contracts.ts';
import { ACCESS_LOG_FORMATS } from '../../schema/access-log.ts';
import type { ApiDocsAccess, GatewayConfig } from './types.ts';
import { DEFAULT_EPSILON } from './routing/policies.ts';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
  }
}

export const MIN_ADMIN_TOKEN_LENGTH = 16;

type Env = Record<string, string | undefined>;

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw)) {
    throw new ConfigError(name, `must be a whole number from ${min} to ${max}, got '${raw}'`);
  }
  const value = Number(raw);
  if (value < min || value > max) {
    throw new ConfigError(name, `must be from ${min} to ${max}, got ${value}`);
  }
  return value;
}

function decimal(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!/^\d+(\.\d+)?$/.test(raw) || value < min || value > max) {
    throw new ConfigError(name, `must be a number from ${min} to ${max}, got '${raw}'`);
  }
  return value;
}

function oneOf<T extends string>(env: Env, name: string, values: readonly T[], fallback: T): T {
  const raw = env[name]?.trim().toLowerCase();
  if (raw === undefined || raw === '') return fallback;
  const value = values.find((v) => v === raw);
  if (value === undefined) {
    throw new ConfigError(name, `must be one of ${values.join(', ')}, got '${raw}'`);
  }
  return value;
}

// FLEETGATE_CORS_ORIGINS: '*', or origins separated by commas or spaces, each exactly as a
// browser sends it in Origin (scheme://host[:port], no path).
function corsOrigins(env: Env): readonly string[] | '*' {
  const name = 'FLEETGATE_CORS_ORIGINS';
  const raw = env[name]?.trim() ?? '';
  if (raw === '*') return '*';
  const origins = raw.split(/[\s,]+/).filter(Boolean);
  for (const origin of origins) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(origin);
    } catch {
      parsed = undefined;
    }
    if (!parsed || !/^https?:$/.test(parsed.protocol) || parsed.origin !== origin) {
      throw new ConfigError(
        name,
        `'${origin}' is not an origin; write each as scheme://host[:port] (no path or trailing slash), or '*' alone`,
      );
    }
  }
  return origins;
}

const API_DOCS_ACCESS: readonly ApiDocsAccess[] = ['admin', 'public', 'off'];

export function parseConfig(env: Env): GatewayConfig {
  const adminToken = env.FLEETGATE_ADMIN_TOKEN ?? '';
  if (adminToken === '') {
    throw new ConfigError(
      'FLEETGATE_ADMIN_TOKEN',
      'is not set; choose a random secret of at least 16 characters (it guards the admin API)',
    );
  }
  if (adminToken.length < MIN_ADMIN_TOKEN_LENGTH || /\s/.test(adminToken)) {
    throw new ConfigError(
      'FLEETGATE_ADMIN_TOKEN',
      `must be at least ${MIN_ADMIN_TOKEN_LENGTH} characters without whitespace`,
    );
  }
  return {
    adminToken,
    // Up to 64 MiB: bodies are buffered before they are forwarded.
    maxBodyBytes: integer(env, 'FLEETGATE_MAX_BODY_BYTES', 1024 * 1024, 1024, 64 * 1024 * 1024),
    // Up to 1 GiB: audio uploads are streamed through to the node, not held.
    maxAudioBytes: integer(env, 'FLEETGATE_MAX_AUDIO_BYTES', 25 * 1024 * 1024, 1024, 1024 ** 3),
    heartbeatIntervalS: integer(env, 'FLEETGATE_HEARTBEAT_INTERVAL_S', 5, 1, 300),
    // 0 turns the caches off (every request reads the database).
    cacheTtlMs: integer(env, 'FLEETGATE_CACHE_TTL_MS', 2000, 0, 60_000),
    nodeJwtTtlS: integer(env, 'FLEETGATE_NODE_JWT_TTL_S', 30, 1, DATA_PLANE_JWT_MAX_TTL_S),
    nodeConnectTimeoutMs: integer(env, 'FLEETGATE_NODE_CONNECT_TIMEOUT_MS', 3000, 100, 60_000),
    accessLog: oneOf(env, 'FLEETGATE_ACCESS_LOG', ACCESS_LOG_FORMATS, 'json'),
    corsOrigins: corsOrigins(env),
    apiDocs: oneOf(env, 'FLEETGATE_API_DOCS', API_DOCS_ACCESS, 'admin'),
    defaultMaxTokens: integer(env, 'FLEETGATE_DEFAULT_MAX_TOKENS', 4096, 1, 1_000_000),
    routingLoadFactor: decimal(env, 'FLEETGATE_ROUTING_LOAD_FACTOR', 1 + DEFAULT_EPSILON, 1, 4),
    metricsToken: metricsToken(env),
    metricsKeyLabel:
      oneOf(env, 'FLEETGATE_METRICS_KEY_LABEL', ['true', 'false'], 'false') === 'true',
  };
}

// FLEETGATE_METRICS_TOKEN: a bearer token that reads GET /metrics only (the admin
// credentials read it too). Absent: only the admin credentials.
function metricsToken(env: Env): string | undefined {
  const raw = env.FLEETGATE_METRICS_TOKEN?.trim();
  if (!raw) return undefined;
  if (raw.length < MIN_ADMIN_TOKEN_LENGTH) {
    throw new ConfigError(
      'FLEETGATE_METRICS_TOKEN',
      `must be at least ${MIN_ADMIN_TOKEN_LENGTH} characters`,
    );
  }
  return raw;
}
