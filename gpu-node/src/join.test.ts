import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir, type networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from './config.ts';
import { freeLocalPort } from './control/endpoint.ts';
import { startDaemon } from './daemon.ts';
import { nameFromHostname, primaryAddress, runJoin, type RunFromConfig } from './join.ts';
import type { RegisterIo } from './register.ts';
import { startFakeGateway, type FakeGateway } from './testing/fake-gateway.ts';
import { testSigner } from './testing/jwt.ts';

let dir: string;
let gateway: FakeGateway;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleetgate-join-'));
  const signer = await testSigner();
  gateway = await startFakeGateway({
    jwks: signer.jwks,
    nodeId: 'node_join',
    nodeSecret: 'fgn-join-secret',
    registrationToken: 'fgr-join',
    heartbeatIntervalS: 1,
  });
});
afterAll(async () => {
  await gateway.close();
  await rm(dir, { recursive: true, force: true });
});

function capture(): RegisterIo & { text: () => string } {
  const lines: string[] = [];
  return { out: (l) => lines.push(l), err: (l) => lines.push(l), text: () => lines.join('\n') };
}

// Runs the real daemon from the config until its first heartbeat, then stops it.
const runUntilHeartbeat: RunFromConfig = async (configPath, listen) => {
  const before = gateway.heartbeats.length;
  const daemon = await startDaemon({
    config: await loadConfig(configPath, {}),
    configPath,
    listen: listen ?? '127.0.0.1:0',
    log: { info: () => {}, warn: () => {}, error: () => {} },
    queryGpus: () => Promise.resolve({ gpus: [] }),
  });
  try {
    const deadline = Date.now() + 10_000;
    while (gateway.heartbeats.length === before && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    return gateway.heartbeats.length > before ? 0 : 1;
  } finally {
    await daemon.close();
  }
};

describe('fleetgate-node join', () => {
  it('registers and runs once, then only runs: no second node, no token needed', async () => {
    const configPath = join(dir, 'node.json');
    const port = await freeLocalPort();
    const registrations = gateway.registrations.length;
    const first = capture();
    const code = await runJoin(
      [
        '--gateway',
        gateway.url,
        '--token',
        'fgr-join',
        '--advertise-url',
        `http://127.0.0.1:${port}`,
        '--config',
        configPath,
        '--listen',
        '127.0.0.1:0',
      ],
      runUntilHeartbeat,
      first,
      {},
    );
    expect(code, first.text()).toBe(0);
    expect(gateway.registrations.length).toBe(registrations + 1);
    expect(first.text()).toMatch(/registered '[\w.-]+' as node_join/);
    expect(first.text()).not.toContain('fgn-join-secret');
    expect((await stat(configPath)).mode & 0o777).toBe(0o600);

    const again = capture();
    const code2 = await runJoin(
      ['--gateway', `${gateway.url}/`, '--config', configPath, '--listen', '127.0.0.1:0'],
      runUntilHeartbeat,
      again,
      {},
    );
    expect(code2, again.text()).toBe(0);
    expect(again.text()).toMatch(/already registered as .* \(node_join\); running it/);
    expect(gateway.registrations.length).toBe(registrations + 1);
  });

  it('refuses to run an identity that belongs to another gateway', async () => {
    const configPath = join(dir, 'node.json');
    const io = capture();
    let ran = false;
    const code = await runJoin(
      ['--gateway', 'http://other-gateway.example:8787', '--config', configPath],
      () => {
        ran = true;
        return Promise.resolve(0);
      },
      io,
      {},
    );
    expect(code).toBe(2);
    expect(ran).toBe(false);
    expect(io.text()).toMatch(
      /is node node_join of http:\/\/127\.0\.0\.1:\d+, not of http:\/\/other/,
    );
  });

  it('needs a token only when there is no identity yet, and says so', async () => {
    const io = capture();
    const code = await runJoin(
      ['--gateway', gateway.url, '--config', join(dir, 'none.json')],
      () => Promise.resolve(0),
      io,
      {},
    );
    expect(code).toBe(2);
    expect(io.text()).toContain('--token is required');
  });

  it('takes the token from FLEETGATE_REGISTRATION_TOKEN', async () => {
    const configPath = join(dir, 'env.json');
    const io = capture();
    const code = await runJoin(
      ['--gateway', gateway.url, '--config', configPath, '--name', 'from-env'],
      () => Promise.resolve(0),
      io,
      { FLEETGATE_REGISTRATION_TOKEN: 'fgr-join' },
    );
    expect(code, io.text()).toBe(0);
    expect(gateway.registrations.at(-1)?.name).toBe('from-env');
  });
});

describe('join defaults', () => {
  it('makes a valid node name from a host name', () => {
    expect(nameFromHostname('gpu-box-1.internal')).toBe('gpu-box-1.internal');
    expect(nameFromHostname('My Box (2)')).toBe('My-Box-2');
    expect(nameFromHostname('---')).toBe('gpu-node');
    expect(nameFromHostname('x'.repeat(100))).toHaveLength(63);
  });

  it('advertises the first non-internal IPv4 address', () => {
    const iface = (address: string, family: 'IPv4' | 'IPv6', internal: boolean) => ({
      address,
      family,
      internal,
      netmask: '',
      mac: '',
      cidr: null,
      ...(family === 'IPv6' ? { scopeid: 0 } : {}),
    });
    expect(
      primaryAddress({
        lo: [iface('127.0.0.1', 'IPv4', true)],
        eth0: [iface('fe80::1', 'IPv6', false), iface('10.0.0.7', 'IPv4', false)],
      } as ReturnType<typeof networkInterfaces>),
    ).toBe('10.0.0.7');
    expect(primaryAddress({ lo: [iface('127.0.0.1', 'IPv4', true)] } as never)).toBeUndefined();
  });
});
