// Closed-loop clients for the routing benchmark: each sends its conversation's next request
// as soon as the last one is answered, streams it, and notes the time to the first content
// and the answer's text (the next turn includes it). Runs in the benchmark's own process:
// the routing runs are light (tens of requests per second), unlike the overhead runs.
import { Conversation, type WorkloadName } from './routing-workloads.ts';

export interface Sample {
  startedAt: number;
  ttftMs: number | null;
  latencyMs: number;
  ok: boolean;
}

export interface DriveOptions {
  url: string;
  apiKey: string;
  model: string;
  workload: WorkloadName;
  salt: string;
  clients: number;
  maxTokens: number;
  warmupMs: number;
  durationMs: number;
  timeoutMs: number;
}

export interface DriveResult {
  // Requests started inside the measured window (after the warm-up).
  samples: Sample[];
  errors: string[];
  windowMs: number;
}

// Text of the content deltas in a block of SSE lines.
function contentOf(data: string): string {
  try {
    const json = JSON.parse(data) as {
      choices?: { delta?: { content?: unknown } }[];
    };
    const content = json.choices?.[0]?.delta?.content;
    return typeof content === 'string' ? content : '';
  } catch {
    return '';
  }
}

async function one(
  opts: DriveOptions,
  conversation: Conversation,
): Promise<{ sample: Sample; error?: string }> {
  const startedAt = performance.now();
  const body = {
    model: opts.model,
    messages: conversation.next(),
    max_tokens: opts.maxTokens,
    stream: true,
  };
  let ttftMs: number | null = null;
  let text = '';
  try {
    const res = await fetch(opts.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${opts.apiKey}` },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(opts.timeoutMs),
    });
    if (!res.ok || !res.body) {
      const detail = (await res.text()).slice(0, 200);
      throw new Error(`HTTP ${res.status} ${detail}`);
    }
    const decoder = new TextDecoder();
    let buffer = '';
    const reader = res.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        for (const line of block.split('\n')) {
          if (!line.startsWith('data: ') || line === 'data: [DONE]') continue;
          const piece = contentOf(line.slice(6));
          if (piece && ttftMs === null) ttftMs = performance.now() - startedAt;
          text += piece;
        }
      }
    }
    conversation.answered(text);
    return { sample: { startedAt, ttftMs, latencyMs: performance.now() - startedAt, ok: true } };
  } catch (err) {
    conversation.answered(text);
    return {
      sample: { startedAt, ttftMs, latencyMs: performance.now() - startedAt, ok: false },
      error: err instanceof Error ? err.message : String(err),
    };
  }
}

export async function drive(opts: DriveOptions): Promise<DriveResult> {
  const t0 = performance.now();
  const windowStart = t0 + opts.warmupMs;
  const windowEnd = windowStart + opts.durationMs;
  const samples: Sample[] = [];
  const errors: string[] = [];
  const client = async (i: number): Promise<void> => {
    const conversation = new Conversation(opts.workload, i, opts.salt);
    while (performance.now() < windowEnd) {
      const { sample, error } = await one(opts, conversation);
      if (sample.startedAt >= windowStart && sample.startedAt < windowEnd) {
        samples.push(sample);
        if (error && errors.length < 5) errors.push(error);
      }
    }
  };
  await Promise.all(Array.from({ length: opts.clients }, (_, i) => client(i)));
  return { samples, errors, windowMs: opts.durationMs };
}
