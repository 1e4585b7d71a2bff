// /admin/v1/usage and /admin/v1/usage/events over usage rows written straight to the
// database: grouping, totals, the time window, raw events and validation.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageEventListSchema, UsageSummarySchema } from '../../schema/admin.ts';
import { usageEvents } from '../../schema/db.ts';
import {
  expectError,
  startGatewayHarness,
  type GatewayHarness,
} from '../support/gateway-harness.ts';

describe('usage', () => {
  const base = Date.UTC(2030, 0, 1, 12);
  const from = Math.floor(base / 1000) - 3600;
  const to = Math.floor(base / 1000) + 2 * 86_400;
  let h: GatewayHarness;

  beforeAll(async () => {
    h = await startGatewayHarness();
    const row = (
      id: string,
      keyId: string,
      model: string,
      createdAt: number,
      outcome: 'ok' | 'error' | 'client_aborted' | 'upstream_error',
      tokens: [number, number],
      latencyMs: number,
      ttftMs: number | null,
    ) => ({
      id,
      keyId,
      model,
      endpoint: '/v1/chat/completions',
      nodeId: 'node_u',
      instanceId: 'inst_u',
      stream: ttftMs !== null,
      status: outcome === 'error' ? 400 : 200,
      outcome,
      errorCode: null,
      promptTokens: tokens[0],
      completionTokens: tokens[1],
      totalTokens: tokens[0] + tokens[1],
      latencyMs,
      ttftMs,
      createdAt,
    });
    await h.db.insert(usageEvents).values([
      row('u1', 'key_u1', 'alpha', base, 'ok', [10, 5], 100, 20),
      row('u2', 'key_u1', 'alpha', base + 1000, 'ok', [20, 10], 300, 40),
      row('u3', 'key_u2', 'beta', base + 86_400_000, 'upstream_error', [7, 0], 50, null),
      row('u4', 'key_u2', 'alpha', base + 86_400_000 + 5, 'client_aborted', [3, 2], 10, null),
      row('u5', 'key_u2', 'beta', base + 86_400_000 + 9, 'error', [0, 0], 1, null),
      // Outside the window.
      row('u6', 'key_u1', 'alpha', base - 2 * 86_400_000, 'ok', [1000, 1000], 1, 1),
    ]);
  });
  afterAll(async () => {
    await h.close();
  });

  it('groups by model, key, node and day within the window', async () => {
    const byModel = await h.adminOk(
      UsageSummarySchema,
      'GET',
      `/usage?from=${from}&to=${to}&group_by=model`,
    );
    expect(byModel.status).toBe(200);
    expect(byModel.body.data).toEqual([
      {
        group: 'alpha',
        requests: 3,
        errors: 0,
        prompt_tokens: 33,
        completion_tokens: 17,
        total_tokens: 50,
        spend_usd: 0,
        images: 0,
        audio_seconds: 0,
        avg_latency_ms: 136.7,
        avg_ttft_ms: 30,
      },
      {
        group: 'beta',
        requests: 2,
        errors: 2,
        prompt_tokens: 7,
        completion_tokens: 0,
        total_tokens: 7,
        spend_usd: 0,
        images: 0,
        audio_seconds: 0,
        avg_latency_ms: 25.5,
        avg_ttft_ms: null,
      },
    ]);
    const byKey = await h.adminOk(
      UsageSummarySchema,
      'GET',
      `/usage?from=${from}&to=${to}&group_by=key`,
    );
    expect(byKey.body.data.map((r) => [r.group, r.requests])).toEqual([
      ['key_u1', 2],
      ['key_u2', 3],
    ]);
    const byDay = await h.adminOk(
      UsageSummarySchema,
      'GET',
      `/usage?from=${new Date(from * 1000).toISOString()}&to=${to}&group_by=day`,
    );
    expect(byDay.body.data.map((r) => [r.group, r.total_tokens])).toEqual([
      ['2030-01-01', 45],
      ['2030-01-02', 12],
    ]);
    const byNode = await h.adminOk(
      UsageSummarySchema,
      'GET',
      `/usage?from=${from}&to=${to}&group_by=node`,
    );
    expect(byNode.body.data).toEqual([expect.objectContaining({ group: 'node_u', requests: 5 })]);
  });

  it('answers totals without group_by, and zeros for an empty window', async () => {
    const totals = await h.adminOk(UsageSummarySchema, 'GET', `/usage?from=${from}&to=${to}`);
    expect(totals.body.data).toEqual([
      expect.objectContaining({ group: null, requests: 5, errors: 2, total_tokens: 57 }),
    ]);
    const empty = await h.adminOk(UsageSummarySchema, 'GET', '/usage?from=1000&to=2000');
    expect(empty.body.data).toEqual([
      {
        group: null,
        requests: 0,
        errors: 0,
        prompt_tokens: 0,
        completion_tokens: 0,
        total_tokens: 0,
        spend_usd: 0,
        images: 0,
        audio_seconds: 0,
        avg_latency_ms: null,
        avg_ttft_ms: null,
      },
    ]);
  });

  it('lists raw events, newest first and bounded', async () => {
    const events = await h.adminOk(
      UsageEventListSchema,
      'GET',
      `/usage/events?from=${from}&to=${to}&limit=2`,
    );
    expect(events.body.data.map((e) => e.id)).toEqual(['u5', 'u4']);
    const byKey = await h.adminOk(
      UsageEventListSchema,
      'GET',
      `/usage/events?from=${from}&to=${to}&key_id=key_u1`,
    );
    expect(byKey.body.data.map((e) => e.id)).toEqual(['u2', 'u1']);
    expect(expectError(await h.admin('GET', '/usage/events?limit=100000'), 400).param).toBe(
      'limit',
    );
  });

  it('refuses a bad group or window', async () => {
    expect(expectError(await h.admin('GET', '/usage?group_by=week'), 400).param).toBe('group_by');
    expect(expectError(await h.admin('GET', '/usage?from=yesterday'), 400).param).toBe('from');
    expect(expectError(await h.admin('GET', '/usage?from=2000&to=1000'), 400).param).toBe('from');
  });
});
