import { describe, expect, it } from 'vitest';
import { engineOrigin, requestPath, upstreamPath } from './target.ts';

// Request targets as Node's HTTP parser hands them over, plain and not.
const TARGETS = [
  '/',
  '/v1',
  '/v1/',
  '/v1/chat/completions',
  '/v1/chat/completions?x=1',
  '/v1/chat/completions?a=b&c=%20d+e,f:g@h/i?j',
  '/v1//chat',
  '/v1/../metrics',
  '/v1/./chat/completions',
  '/v1/%2e%2e/metrics',
  '/v1/chat/completions/..',
  '/v1\\..\\metrics',
  "/v1/chat?q='x'",
  '/v1/chat?q="x"',
  '/v1/chat?q=<x>',
  '/v1/chat?q=a b',
  '/v1/chat?q=%zz&r=[1]',
  '/v1/chat?q={|^`}',
  '/v1/chat#frag',
  '/v1/models/org.model',
  '/v1/chat/completions%3F',
  '/V1/Chat',
  '/healthz',
  '/fleetgate/v1/instances/inst%2F1/logs?tail=5',
  '//v1/chat',
  'http://other/v1/chat',
];

describe('requestPath', () => {
  it('reads every target as the URL parser does', () => {
    for (const target of TARGETS) {
      expect(requestPath(target), target).toBe(new URL(target, 'http://node').pathname);
    }
  });
});

describe('upstreamPath', () => {
  const bases = [
    'http://127.0.0.1:8000',
    'http://127.0.0.1:8000/prefix',
    'http://127.0.0.1:8000/a/b-c_d',
    'https://Engine.Example:8443',
    'http://[::1]:9000',
    'http://127.0.0.1:8000/pre.fix',
    'http://127.0.0.1:8000/',
    'http://user:pw@127.0.0.1:8000',
    'http://127.0.0.1:8000?k=v',
  ];

  it('gives the path and query the URL parser gives for base and target, or leaves it to it', () => {
    let plain = 0;
    for (const base of bases) {
      const origin = engineOrigin(base);
      for (const target of TARGETS.filter((t) => t.startsWith('/'))) {
        const path = upstreamPath(origin, target);
        if (path === undefined) continue;
        plain += 1;
        const url = new URL(`${base}${target}`);
        expect(path, `${base} ${target}`).toBe(`${url.pathname}${url.search}`);
      }
    }
    // The gateway's targets on the usual bases take the quick way.
    expect(plain).toBeGreaterThan(20);
    const local = engineOrigin('http://127.0.0.1:8000');
    expect(upstreamPath(local, '/v1/chat/completions')).toBe('/v1/chat/completions');
    expect(upstreamPath(engineOrigin('http://127.0.0.1:8000/'), '/v1/chat')).toBeUndefined();
    expect(upstreamPath(engineOrigin('http://h:1?k=v'), '/v1/chat')).toBeUndefined();
    expect(upstreamPath(local, '/v1/../metrics')).toBeUndefined();
  });

  it('takes host, port and credentials from the base as http.request reads them', () => {
    expect(engineOrigin('http://[::1]:9000/x')).toMatchObject({
      protocol: 'http:',
      hostname: '::1',
      port: 9000,
      prefix: '/x',
      plain: true,
    });
    expect(engineOrigin('https://Engine.Example')).toMatchObject({
      protocol: 'https:',
      hostname: 'engine.example',
      port: undefined,
      auth: undefined,
    });
    expect(engineOrigin('http://user:p%40ss@h:1').auth).toBe('user:p@ss');
    expect(() => engineOrigin('ftp://h/')).toThrow(/only http and https/);
  });
});
