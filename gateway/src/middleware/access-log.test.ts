import { describe, expect, it } from 'vitest';
import { accessLogWriter, formatAccessLogText, type AccessLogEntry } from './access-log.ts';

const entry: AccessLogEntry = {
  time: '2026-01-02T03:04:05.000Z',
  request_id: 'b3c1a2d4-0000-4000-8000-000000000001',
  client_request_id: null,
  method: 'POST',
  path: '/v1/chat/completions',
  status: 200,
  latency_ms: 812,
  ttft_ms: 95,
  key_id: 'key_abc',
  model: 'org/model',
  node_id: 'node_1',
  instance_id: 'inst_1',
  bytes_in: 120,
  bytes_out: 4096,
  outcome: 'ok',
  error_code: null,
};

describe('access log lines', () => {
  it('writes one key=value text line, with - for what is unknown', () => {
    expect(formatAccessLogText(entry)).toBe(
      '2026-01-02T03:04:05.000Z b3c1a2d4-0000-4000-8000-000000000001 POST /v1/chat/completions 200 812ms ' +
        'ttft=95ms key=key_abc model=org/model node=node_1 instance=inst_1 in=120 out=4096 outcome=ok error=- client_id=-',
    );
    expect(
      formatAccessLogText({ ...entry, ttft_ms: null, key_id: null, bytes_out: null }),
    ).toContain('ttft=- key=- ');
  });

  it('prints a JSON line on Node, the object itself on Workers, text, or nothing', () => {
    const printed: unknown[] = [];
    const print = (line: unknown) => printed.push(line);
    accessLogWriter('json', 'lines', print)?.(entry);
    accessLogWriter('json', 'objects', print)?.(entry);
    accessLogWriter('text', 'objects', print)?.(entry);
    expect(accessLogWriter('off', 'lines', print)).toBeUndefined();
    expect(printed).toEqual([JSON.stringify(entry), entry, formatAccessLogText(entry)]);
  });
});
