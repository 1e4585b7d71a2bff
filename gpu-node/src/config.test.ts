import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseListen, writeConfig, type NodeConfig } from './config.ts';

const config: NodeConfig = {
  gateway_url: 'http://127.0.0.1:8787',
  node_id: 'node_123',
  node_secret: 'fgn_secret_value',
  name: 'gpu-1',
  advertise_url: 'http://10.0.0.5:8788',
  issuer: 'fleetgate-gateway',
  jwks: { keys: [{ kty: 'EC', crv: 'P-256', x: 'x', y: 'y', kid: 'k1' }] },
  heartbeat_interval_s: 5,
  listen: '0.0.0.0:8788',
  model_cache: '/var/cache/fleetgate',
  runtime: 'auto',
};

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleetgate-config-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('config file', () => {
  it('is written 0600 in a 0700 folder, atomically, and reads back', async () => {
    const path = join(dir, 'nested', 'node.json');
    await writeConfig(path, config);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, 'nested'))).mode & 0o777).toBe(0o700);
    expect(await loadConfig(path, {})).toEqual(config);

    await writeConfig(path, { ...config, heartbeat_interval_s: 2 });
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await loadConfig(path, {})).heartbeat_interval_s).toBe(2);
  });

  it('applies environment overrides and names bad values', async () => {
    const path = join(dir, 'env.json');
    await writeConfig(path, config);
    const loaded = await loadConfig(path, {
      FLEETGATE_NODE_LISTEN: '127.0.0.1:9999',
      FLEETGATE_MODEL_CACHE: '/models',
      FLEETGATE_NODE_RUNTIME: 'process',
      FLEETGATE_NODE_MAX_BODY_BYTES: '1048576',
    });
    expect(loaded.listen).toBe('127.0.0.1:9999');
    expect(loaded.max_body_bytes).toBe(1048576);
    expect(loaded.model_cache).toBe('/models');
    expect(loaded.runtime).toBe('process');
    await expect(loadConfig(path, { FLEETGATE_NODE_RUNTIME: 'podman' })).rejects.toThrow(
      /FLEETGATE_NODE_RUNTIME/,
    );
    for (const bad of ['12', '1e3', 'lots']) {
      await expect(loadConfig(path, { FLEETGATE_NODE_MAX_BODY_BYTES: bad })).rejects.toThrow(
        /FLEETGATE_NODE_MAX_BODY_BYTES/,
      );
    }
  });

  it('explains a missing, broken or incomplete file', async () => {
    await expect(loadConfig(join(dir, 'missing.json'), {})).rejects.toThrow(/register this node/);
    const broken = join(dir, 'broken.json');
    await writeFile(broken, '{');
    await expect(loadConfig(broken, {})).rejects.toBeInstanceOf(ConfigError);
    const partial = join(dir, 'partial.json');
    await writeFile(partial, JSON.stringify({ ...config, node_secret: undefined }));
    await expect(loadConfig(partial, {})).rejects.toThrow(/node_secret/);
    expect(await readFile(partial, 'utf8')).not.toContain('fgn_secret_value');
  });

  it('parses listen addresses', () => {
    expect(parseListen('0.0.0.0:8788')).toEqual({ host: '0.0.0.0', port: 8788 });
    expect(parseListen('[::1]:0')).toEqual({ host: '::1', port: 0 });
    expect(() => parseListen('8788')).toThrow(ConfigError);
    expect(() => parseListen('host:99999')).toThrow(ConfigError);
  });
});
