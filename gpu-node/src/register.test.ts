import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from './config.ts';
import { runRegister, type RegisterIo } from './register.ts';
import { startFakeGateway, type FakeGateway } from './testing/fake-gateway.ts';
import { testSigner } from './testing/jwt.ts';
import { freeLocalPort } from './control/endpoint.ts';

let dir: string;
let gateway: FakeGateway;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleetgate-register-'));
  const signer = await testSigner();
  gateway = await startFakeGateway({
    jwks: signer.jwks,
    nodeId: 'node_abc',
    nodeSecret: 'fgn-very-secret',
    registrationToken: 'fgr-good',
    heartbeatIntervalS: 5,
  });
});
afterAll(async () => {
  await gateway.close();
  await rm(dir, { recursive: true, force: true });
});

function capture(): RegisterIo & { out: (l: string) => void; text: () => string } {
  const lines: string[] = [];
  return { out: (l) => lines.push(l), err: (l) => lines.push(l), text: () => lines.join('\n') };
}

const args = (overrides: Record<string, string> = {}) =>
  Object.entries({
    '--gateway': gateway.url,
    '--token': 'fgr-good',
    '--name': 'gpu-box-1',
    '--advertise-url': 'http://10.1.2.3:8788',
    '--config': join(dir, 'node.json'),
    ...overrides,
  }).flat();

describe('fleetgate-node register', () => {
  it('registers, writes a 0600 config, never prints the secret, and says what to run next', async () => {
    const io = capture();
    const code = await runRegister(args(), io);
    expect(code, io.text()).toBe(0);
    const path = join(dir, 'node.json');
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const config = await loadConfig(path, {});
    expect(config).toMatchObject({
      gateway_url: gateway.url,
      node_id: 'node_abc',
      node_secret: 'fgn-very-secret',
      name: 'gpu-box-1',
      advertise_url: 'http://10.1.2.3:8788',
      listen: '0.0.0.0:8788',
      heartbeat_interval_s: 5,
      runtime: 'auto',
    });
    expect(gateway.registrations.at(-1)).toMatchObject({
      name: 'gpu-box-1',
      advertise_url: 'http://10.1.2.3:8788',
    });
    const output = io.text();
    expect(output).not.toContain('fgn-very-secret');
    expect(output).toContain('node_abc');
    expect(output).toMatch(/ExecStart=.*bin\.js join --gateway http:\/\/\S+ --config .*node\.json/);
    expect(output).toContain('[Install]');
    expect(await readFile(path, 'utf8')).toContain('fgn-very-secret');
  });

  it("shows the gateway's reason for a bad, expired or used token", async () => {
    const io = capture();
    const code = await runRegister(
      args({ '--token': 'fgr-used', '--config': join(dir, 'x.json') }),
      io,
    );
    expect(code).toBe(1);
    expect(io.text()).toMatch(
      /refused the registration token: registration token is invalid, expired or used up/,
    );
    await expect(stat(join(dir, 'x.json'))).rejects.toThrow();
  });

  it('says in one line when the gateway cannot be reached', async () => {
    const port = await freeLocalPort();
    const io = capture();
    const code = await runRegister(args({ '--gateway': `http://127.0.0.1:${port}` }), io);
    expect(code).toBe(1);
    expect(io.text()).toMatch(
      /^error: cannot reach the gateway at http:\/\/127\.0\.0\.1:\d+\/node\/v1\/register: connection refused \(ECONNREFUSED\)$/,
    );
  });

  it('rejects bad arguments before calling anyone', async () => {
    const before = gateway.registrations.length;
    const cases: Record<string, string>[] = [
      { '--gateway': 'gateway.example.com' },
      { '--advertise-url': 'ftp://x' },
      { '--name': 'no spaces allowed' },
      { '--runtime': 'podman' },
    ];
    for (const bad of cases) {
      const io = capture();
      expect(await runRegister(args(bad), io), JSON.stringify(bad)).toBe(2);
    }
    const io = capture();
    expect(await runRegister(['--gateway', gateway.url], io)).toBe(2);
    expect(io.text()).toMatch(/--advertise-url is required|--token is required/);
    expect(gateway.registrations.length).toBe(before);
  });
});
