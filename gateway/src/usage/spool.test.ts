import { appendFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { UsageEvent } from '../types.ts';
import { openUsageSpool } from './spool.ts';

const event = (id: string): UsageEvent => ({
  id,
  clientRequestId: null,
  keyId: 'k',
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
  latencyMs: 4,
  ttftMs: null,
  createdAt: 1_800_000_000_000,
});

const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'fleetgate-spool-'));
  dirs.push(dir);
  return dir;
};
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('usage spool', () => {
  it('gives a new run the events the last one appended and never released', () => {
    const dir = tempDir();
    const first = openUsageSpool(dir);
    expect(first.append(event('a'))).toBe(true);
    first.seal();
    expect(first.append(event('b'))).toBe(true);
    first.close();
    // A crash in the middle of a line leaves it cut short: skipped.
    const [last] = readdirSync(dir).sort().reverse();
    appendFileSync(join(dir, last ?? ''), '{"id":"c","crea');
    const second = openUsageSpool(dir);
    expect(second.recovered.map((e) => e.id)).toEqual(['a', 'b']);
    expect(second.recovered[0]).toEqual(event('a'));
    second.close();
  });

  it('release() deletes sealed segments only', () => {
    const dir = tempDir();
    const spool = openUsageSpool(dir);
    spool.append(event('written'));
    spool.seal();
    spool.append(event('waiting'));
    spool.release();
    spool.close();
    expect(openUsageSpool(dir).recovered.map((e) => e.id)).toEqual(['waiting']);
  });

  it('refuses appends beyond its size cap until released', () => {
    const dir = tempDir();
    const size = JSON.stringify(event('x1')).length + 1;
    const spool = openUsageSpool(dir, { maxBytes: 2 * size });
    expect([1, 2, 3].map((n) => spool.append(event(`x${n}`)))).toEqual([true, true, false]);
    spool.seal();
    spool.release();
    expect(spool.append(event('x4'))).toBe(true);
    spool.close();
  });
});
