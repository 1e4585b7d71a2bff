// Responses API streams through the relay with the Responses inspector: metered from
// response.completed, ended by it (no [DONE]), and passed on byte for byte.
import { describe, expect, it } from 'vitest';
import { relaySse } from '../proxy/relay.ts';
import { UpstreamAbort } from '../proxy/upstream.ts';
import { UsageMeter } from '../usage/meter.ts';
import { readUsage } from './inspect.ts';
import { inspectResponseEvent } from './responses.ts';

const event = (type: string, fields: Record<string, unknown> = {}) =>
  `event: ${type}\ndata: ${JSON.stringify({ type, ...fields })}\n\n`;

const USAGE = { input_tokens: 7, output_tokens: 2, total_tokens: 9 };
const STREAM =
  event('response.created', { response: { status: 'in_progress', usage: null } }) +
  event('response.output_text.delta', { delta: 'Hel' }) +
  event('response.output_text.delta', { delta: 'lo' }) +
  event('response.output_text.done', { text: 'Hello' }) +
  event('response.completed', { response: { status: 'completed', usage: USAGE } });

async function relay(text: string) {
  const meter = new UsageMeter({ id: 'r', keyId: null, endpoint: '/v1/responses', now: Date.now });
  meter.stream = true;
  meter.status = 200;
  meter.estimatePrompt = () => 3;
  const bytes = new TextEncoder().encode(text);
  const source = new ReadableStream<Uint8Array>({
    start(controller) {
      // Cut mid-event, as the network may.
      controller.enqueue(bytes.slice(0, 50));
      controller.enqueue(bytes.slice(50));
      controller.close();
    },
  });
  const relayed = relaySse(source, {
    clientWantsUsage: true,
    meter,
    upstream: new UpstreamAbort(new AbortController().signal),
    clientSignal: new AbortController().signal,
    idleTimeoutMs: 60_000,
    inspect: inspectResponseEvent,
  });
  const out = await new Response(relayed.stream).text();
  await relayed.done;
  return { out, row: meter.finish() };
}

describe('Responses streams', () => {
  it('are metered from response.completed and end there without [DONE]', async () => {
    const { out, row } = await relay(STREAM);
    expect(out).toBe(STREAM);
    expect(row).toMatchObject({
      outcome: 'ok',
      promptTokens: 7,
      completionTokens: 2,
      totalTokens: 9,
    });
    expect(row.ttftMs).not.toBeNull();
  });

  it('cut off before response.completed: an error event, charged prompt estimate and deltas', async () => {
    const cut = STREAM.slice(0, STREAM.indexOf('event: response.output_text.done'));
    const { out, row } = await relay(cut);
    expect(out).toContain('"code":"upstream_error"');
    expect(row).toMatchObject({
      outcome: 'upstream_error',
      errorCode: 'upstream_incomplete',
      promptTokens: 3,
      completionTokens: 2,
    });
  });

  it('record a failed response as an error, with its usage', async () => {
    const failed =
      event('response.output_text.delta', { delta: 'x' }) +
      event('response.failed', {
        response: { error: { code: 'server_error', message: 'boom' }, usage: USAGE },
      });
    const { row } = await relay(failed);
    expect(row).toMatchObject({ outcome: 'error', errorCode: 'server_error', totalTokens: 9 });
  });

  it('read delta events as output and other events as nothing', () => {
    expect(inspectResponseEvent({ type: 'response.output_text.delta', delta: 'a' })).toMatchObject({
      outputs: 1,
      choices: 1,
    });
    expect(inspectResponseEvent({ type: 'response.output_text.delta', delta: '' }).outputs).toBe(0);
    expect(inspectResponseEvent({ type: 'response.in_progress', response: {} })).toMatchObject({
      outputs: 0,
      usage: null,
    });
    expect(
      inspectResponseEvent({ type: 'error', code: 'overloaded', message: 'busy' }).error,
    ).toMatchObject({ code: 'overloaded', message: 'busy' });
  });
});

describe('readUsage', () => {
  it('reads chat, Responses and rerank usage alike', () => {
    expect(readUsage({ prompt_tokens: 1, completion_tokens: 2 })).toEqual({
      promptTokens: 1,
      completionTokens: 2,
      totalTokens: 3,
    });
    expect(readUsage(USAGE)).toEqual({ promptTokens: 7, completionTokens: 2, totalTokens: 9 });
    expect(readUsage({ total_tokens: 12 })).toEqual({
      promptTokens: 12,
      completionTokens: 0,
      totalTokens: 12,
    });
    expect(readUsage({ type: 'duration', seconds: 3 })).toBeNull();
  });
});
