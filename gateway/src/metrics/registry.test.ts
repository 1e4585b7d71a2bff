import { describe, expect, it } from 'vitest';
import type { UsageEvent } from '../types.ts';
import { GatewayMetrics } from './gateway-metrics.ts';
import { Counter, Histogram, OTHER } from './registry.ts';

const event = (over: Partial<UsageEvent>): UsageEvent => ({
  id: 'r',
  clientRequestId: null,
  keyId: 'key_1',
  model: 'm',
  endpoint: '/v1/chat/completions',
  nodeId: null,
  instanceId: null,
  stream: false,
  status: 200,
  outcome: 'ok',
  errorCode: null,
  promptTokens: 1,
  completionTokens: 2,
  totalTokens: 3,
  latencyMs: 100,
  ttftMs: null,
  createdAt: 0,
  ...over,
});

describe('the metrics registry', () => {
  it('keeps at most maxSeries label sets and counts the rest as other', () => {
    const c = new Counter('x_total', 'help', ['model'], 2);
    for (const model of ['a', 'b', 'c', 'd']) c.inc({ model });
    expect(c.render().split('\n').slice(2)).toEqual([
      'x_total{model="a"} 1',
      'x_total{model="b"} 1',
      `x_total{model="${OTHER}"} 2`,
    ]);
  });

  it('escapes label values', () => {
    const c = new Counter('x_total', 'help', ['model'], 5);
    c.inc({ model: 'a"b\\c\nd' });
    expect(c.render()).toContain('x_total{model="a\\"b\\\\c\\nd"} 1');
  });

  it('renders cumulative histogram buckets, +Inf, sum and count', () => {
    const h = new Histogram('t_seconds', 'help', [], 5, [0.1, 1]);
    h.observe({}, 0.05);
    h.observe({}, 0.5);
    h.observe({}, 5);
    expect(h.render().split('\n').slice(2)).toEqual([
      't_seconds_bucket{le="0.1"} 1',
      't_seconds_bucket{le="1"} 2',
      't_seconds_bucket{le="+Inf"} 3',
      't_seconds_sum 5.55',
      't_seconds_count 3',
    ]);
  });

  it('adds a key_id label only when asked', () => {
    const plain = new GatewayMetrics();
    plain.finished(event({}));
    const empty = { nodes: { online: 0, offline: 0 }, instances: new Map<string, number>() };
    expect(plain.render(empty)).not.toContain('key_id');
    const keyed = new GatewayMetrics({ keyLabel: true });
    keyed.finished(event({ outcome: 'upstream_error', status: 502 }));
    const text = keyed.render(empty);
    expect(text).toContain(
      'fleetgate_requests_total{model="m",key_id="key_1",endpoint="/v1/chat/completions",status="502"} 1',
    );
    expect(text).toContain(
      'fleetgate_request_errors_total{model="m",key_id="key_1",outcome="upstream_error"} 1',
    );
  });
});
