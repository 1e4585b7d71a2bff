import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from './config.ts';

const TOKEN = 'a-long-enough-admin-token';

describe('parseConfig', () => {
  it('applies the documented defaults', () => {
    expect(parseConfig({ FLEETGATE_ADMIN_TOKEN: TOKEN })).toEqual({
      adminToken: TOKEN,
      maxBodyBytes: 1_048_576,
      maxAudioBytes: 26_214_400,
      heartbeatIntervalS: 5,
      cacheTtlMs: 2000,
      nodeJwtTtlS: 30,
      nodeConnectTimeoutMs: 3000,
      accessLog: 'json',
      corsOrigins: [],
      apiDocs: 'admin',
      defaultMaxTokens: 4096,
      routingLoadFactor: 1.1,
      metricsKeyLabel: false,
    });
  });

  it('reads every variable', () => {
    expect(
      parseConfig({
        FLEETGATE_ADMIN_TOKEN: TOKEN,
        FLEETGATE_MAX_BODY_BYTES: '2048',
        FLEETGATE_MAX_AUDIO_BYTES: '4096',
        FLEETGATE_HEARTBEAT_INTERVAL_S: '2',
        FLEETGATE_CACHE_TTL_MS: '0',
        FLEETGATE_NODE_JWT_TTL_S: '60',
        FLEETGATE_NODE_CONNECT_TIMEOUT_MS: '500',
        FLEETGATE_ACCESS_LOG: 'TEXT',
        FLEETGATE_CORS_ORIGINS: 'https://app.example.com, http://localhost:5173',
        FLEETGATE_API_DOCS: 'public',
        FLEETGATE_DEFAULT_MAX_TOKENS: '512',
        FLEETGATE_ROUTING_LOAD_FACTOR: '1.5',
        FLEETGATE_METRICS_TOKEN: 'a-metrics-token-of-length',
        FLEETGATE_METRICS_KEY_LABEL: 'true',
      }),
    ).toEqual({
      adminToken: TOKEN,
      maxBodyBytes: 2048,
      maxAudioBytes: 4096,
      heartbeatIntervalS: 2,
      cacheTtlMs: 0,
      nodeJwtTtlS: 60,
      nodeConnectTimeoutMs: 500,
      accessLog: 'text',
      corsOrigins: ['https://app.example.com', 'http://localhost:5173'],
      apiDocs: 'public',
      defaultMaxTokens: 512,
      routingLoadFactor: 1.5,
      metricsToken: 'a-metrics-token-of-length',
      metricsKeyLabel: true,
    });
    expect(() =>
      parseConfig({ FLEETGATE_ADMIN_TOKEN: TOKEN, FLEETGATE_METRICS_TOKEN: 'short' }),
    ).toThrow(/FLEETGATE_METRICS_TOKEN: must be at least 16 characters/);
    expect(
      parseConfig({ FLEETGATE_ADMIN_TOKEN: TOKEN, FLEETGATE_CORS_ORIGINS: ' * ' }).corsOrigins,
    ).toBe('*');
  });

  it('refuses a routing load factor below 1', () => {
    expect(() =>
      parseConfig({ FLEETGATE_ADMIN_TOKEN: TOKEN, FLEETGATE_ROUTING_LOAD_FACTOR: '0.9' }),
    ).toThrow(/FLEETGATE_ROUTING_LOAD_FACTOR: must be a number from 1 to 4/);
  });

  it('refuses a bad log format, docs setting or CORS origin, naming the variable', () => {
    expect(() =>
      parseConfig({ FLEETGATE_ADMIN_TOKEN: TOKEN, FLEETGATE_ACCESS_LOG: 'xml' }),
    ).toThrow(/FLEETGATE_ACCESS_LOG: must be one of json, text, off/);
    expect(() => parseConfig({ FLEETGATE_ADMIN_TOKEN: TOKEN, FLEETGATE_API_DOCS: 'yes' })).toThrow(
      /FLEETGATE_API_DOCS: must be one of admin, public, off/,
    );
    for (const bad of [
      'https://app.example.com/',
      'app.example.com',
      'ftp://x.example',
      '*, https://a.example',
    ]) {
      expect(() =>
        parseConfig({ FLEETGATE_ADMIN_TOKEN: TOKEN, FLEETGATE_CORS_ORIGINS: bad }),
      ).toThrow(/FLEETGATE_CORS_ORIGINS: '.+' is not an origin/);
    }
  });

  it('treats empty values as unset', () => {
    expect(
      parseConfig({ FLEETGATE_ADMIN_TOKEN: TOKEN, FLEETGATE_CACHE_TTL_MS: '' }).cacheTtlMs,
    ).toBe(2000);
  });

  it('requires an admin token of at least 16 characters, naming the variable', () => {
    expect(() => parseConfig({})).toThrow(/FLEETGATE_ADMIN_TOKEN: is not set/);
    expect(() => parseConfig({ FLEETGATE_ADMIN_TOKEN: 'short' })).toThrow(
      /FLEETGATE_ADMIN_TOKEN: must be at least 16 characters/,
    );
    expect(() => parseConfig({ FLEETGATE_ADMIN_TOKEN: 'has a space in the middle' })).toThrow(
      ConfigError,
    );
  });

  it('never echoes the admin token in its errors', () => {
    const secret = 'short-secret';
    try {
      parseConfig({ FLEETGATE_ADMIN_TOKEN: secret });
      expect.unreachable();
    } catch (err) {
      expect(String(err)).not.toContain(secret);
    }
  });

  it.each([
    ['FLEETGATE_MAX_BODY_BYTES', 'lots'],
    ['FLEETGATE_MAX_BODY_BYTES', '-1'],
    ['FLEETGATE_HEARTBEAT_INTERVAL_S', '0'],
    ['FLEETGATE_HEARTBEAT_INTERVAL_S', '1.5'],
    ['FLEETGATE_CACHE_TTL_MS', '1e3'],
    ['FLEETGATE_NODE_JWT_TTL_S', '61'],
    ['FLEETGATE_NODE_JWT_TTL_S', '0'],
  ])('refuses %s=%s, naming the variable', (name, value) => {
    const run = () => parseConfig({ FLEETGATE_ADMIN_TOKEN: TOKEN, [name]: value });
    expect(run).toThrow(ConfigError);
    expect(run).toThrow(new RegExp(`^${name}: `));
  });
});
