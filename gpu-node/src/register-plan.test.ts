// Register's options in tunnel mode: no advertise URL, a loopback listener by default.
import { describe, expect, it } from 'vitest';
import { TUNNEL_LISTEN } from './config.ts';
import { planRegistration, UsageError } from './register.ts';

const base = {
  gateway: 'https://gw.example.com',
  token: 'fgr-x',
  name: 'n1',
  config: '/tmp/n.json',
};

describe('planRegistration', () => {
  it('plans a tunnel node without an advertise URL, listening on loopback', () => {
    const plan = planRegistration({ ...base, tunnel: true }, {});
    expect(plan).toMatchObject({ mode: 'tunnel', advertiseUrl: undefined, listen: TUNNEL_LISTEN });
  });

  it('keeps direct mode as it was', () => {
    const plan = planRegistration({ ...base, 'advertise-url': 'http://10.0.0.5:8788' }, {});
    expect(plan).toMatchObject({
      mode: 'direct',
      advertiseUrl: 'http://10.0.0.5:8788',
      listen: '0.0.0.0:8788',
    });
    expect(() => planRegistration(base, {})).toThrow(/--advertise-url is required/);
  });

  it('refuses --tunnel with --advertise-url', () => {
    expect(() =>
      planRegistration({ ...base, tunnel: true, 'advertise-url': 'http://10.0.0.5:8788' }, {}),
    ).toThrow(UsageError);
  });
});
