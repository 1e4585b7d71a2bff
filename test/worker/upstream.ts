// A real OpenAI-speaking HTTP server in Node.js that plays a GPU node's data plane for the
// Worker tests: the gateway inside workerd forwards requests to it over the loopback
// network like it would to a node's advertise URL. It records what arrived (path,
// authorization header, body) so tests can check the signed JWT and the forwarded body.
// It also holds answers on request (/_test/hold/<ns>), so a test can keep a load the
// Worker started pending, see whether its connection was dropped, and release it; and it
// keeps a stream open, or cuts it, when the body's `scenario` asks (the limits tests).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SeenRequest {
  method: string;
  path: string;
  authorization: string | null;
  requestId: string | null;
  body: unknown;
}

// Loads held under one namespace, numbered in order of arrival from 1.
export interface Holds {
  // Numbers of the loads still waiting for their answer.
  held: number[];
  // Numbers of the loads whose connection the Worker dropped before the answer.
  dropped: number[];
}

export interface Upstream {
  url: string;
  close(): Promise<void>;
}

// Whitespace-separated words stand in for tokens; the tests compare the usage the gateway
// recorded with what this server reported, so the counting rule only has to be stable.
function countWords(text: string): number {
  return text.split(/\s+/).filter(Boolean).length;
}

function promptTokens(body: Record<string, unknown>): number {
  const messages = Array.isArray(body.messages) ? (body.messages as unknown[]) : [];
  let n = 0;
  for (const m of messages) {
    if (typeof m === 'object' && m !== null && 'content' in m && typeof m.content === 'string') {
      n += countWords(m.content);
    }
  }
  return n;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const REPLY_WORDS = ['Hello', 'from', 'the', 'upstream', 'node.'];

// A Responses API stream as engines send it: typed events, one delta per word, ending
// with response.completed and its usage (no [DONE]).
function respondStream(res: ServerResponse, body: Record<string, unknown>): void {
  const input = typeof body.input === 'string' ? countWords(body.input) : 0;
  let sequence = 0;
  const event = (type: string, fields: Record<string, unknown>) =>
    `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: sequence++, ...fields })}\n\n`;
  const response = (status: string, output: unknown[], usage: unknown) => ({
    id: 'resp_upstream',
    object: 'response',
    created_at: Math.floor(Date.now() / 1000),
    status,
    model: body.model,
    output,
    usage,
  });
  const part = { type: 'output_text', text: REPLY_WORDS.join(' '), annotations: [] };
  const item = { id: 'msg_1', type: 'message', status: 'completed', role: 'assistant' };
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  res.write(event('response.created', { response: response('in_progress', [], null) }));
  res.write(
    event('response.output_item.added', { output_index: 0, item: { ...item, content: [] } }),
  );
  res.write(
    event('response.content_part.added', {
      item_id: 'msg_1',
      output_index: 0,
      content_index: 0,
      part: { ...part, text: '' },
    }),
  );
  REPLY_WORDS.forEach((word, i) => {
    const delta = i === 0 ? word : ` ${word}`;
    res.write(
      event('response.output_text.delta', {
        item_id: 'msg_1',
        output_index: 0,
        content_index: 0,
        delta,
      }),
    );
  });
  const usage = {
    input_tokens: input,
    output_tokens: REPLY_WORDS.length,
    total_tokens: input + REPLY_WORDS.length,
  };
  res.end(
    event('response.completed', {
      response: response('completed', [{ ...item, content: [part] }], usage),
    }),
  );
}

export async function startUpstream(): Promise<Upstream> {
  const seen: SeenRequest[] = [];
  const holds = new Map<
    string,
    { count: number; held: Map<number, ServerResponse>; dropped: number[] }
  >();
  const holdsOf = (ns: string) => {
    let h = holds.get(ns);
    if (!h) holds.set(ns, (h = { count: 0, held: new Map(), dropped: [] }));
    return h;
  };
  const json = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const server: Server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      if (req.method === 'GET' && url.pathname === '/_test/requests') {
        json(res, 200, seen);
        return;
      }
      const hold = /^\/_test\/(hold|holds|release)\/([\w-]+)(?:\/(\d+))?$/.exec(url.pathname);
      if (hold) {
        const [, verb, ns = '', n] = hold;
        const h = holdsOf(ns);
        if (verb === 'hold') {
          const number = ++h.count;
          h.held.set(number, res);
          res.on('close', () => {
            if (h.held.delete(number)) h.dropped.push(number);
          });
        } else if (verb === 'holds') {
          json(res, 200, { held: [...h.held.keys()], dropped: h.dropped } satisfies Holds);
        } else {
          const number = Number(n);
          const waiting = h.held.get(number);
          h.held.delete(number);
          if (waiting) json(waiting, 200, { number });
          json(res, waiting ? 200 : 404, { released: waiting !== undefined });
        }
        return;
      }
      const raw = await readBody(req);
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(raw) as Record<string, unknown>;
      } catch {
        // Recorded as empty; the gateway should never forward malformed JSON.
      }
      seen.push({
        method: req.method ?? '',
        path: url.pathname,
        authorization: req.headers.authorization ?? null,
        requestId: (req.headers['x-request-id'] as string | undefined) ?? null,
        body,
      });
      if (req.method === 'POST' && url.pathname === '/v1/audio/transcriptions') {
        // A transcription of the upload's size, and how its form arrived.
        json(res, 200, {
          text: `heard ${Buffer.byteLength(raw, 'latin1')} bytes as ${req.headers['content-type'] ?? 'nothing'}`,
          usage: { type: 'duration', seconds: 2 },
        });
        return;
      }
      if (req.method === 'POST' && url.pathname === '/v1/responses' && body.stream === true) {
        respondStream(res, body);
        return;
      }
      if (req.method !== 'POST' || url.pathname !== '/v1/chat/completions') {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: 'not found', type: 'not_found_error' } }));
        return;
      }
      const model = typeof body.model === 'string' ? body.model : 'unknown';
      const usage = {
        prompt_tokens: promptTokens(body),
        completion_tokens: REPLY_WORDS.length,
        total_tokens: promptTokens(body) + REPLY_WORDS.length,
      };
      const created = Math.floor(Date.now() / 1000);
      const id = `chatcmpl-upstream-${String(seen.length)}`;
      if (body.stream !== true) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            id,
            object: 'chat.completion',
            created,
            model,
            choices: [
              {
                index: 0,
                message: { role: 'assistant', content: REPLY_WORDS.join(' ') },
                finish_reason: 'stop',
              },
            ],
            usage,
          }),
        );
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      const chunk = (delta: Record<string, unknown>, finish: string | null) => ({
        id,
        object: 'chat.completion.chunk',
        created,
        model,
        choices: [{ index: 0, delta, finish_reason: finish }],
      });
      // Like vLLM: a keep-alive comment first, then one chunk per word.
      res.write(': ping\n\n');
      // `scenario` (a body field the gateway forwards untouched): `hold` keeps the stream
      // open, a word every 50 ms, until the client goes; `die` cuts it after two words.
      if (body.scenario === 'hold' || body.scenario === 'die') {
        res.write(
          `data: ${JSON.stringify(chunk({ role: 'assistant', content: 'held' }, null))}\n\n`,
        );
        if (body.scenario === 'die') {
          res.write(`data: ${JSON.stringify(chunk({ content: ' then' }, null))}\n\n`);
          setTimeout(() => res.destroy(), 50);
          return;
        }
        const timer = setInterval(() => {
          res.write(`data: ${JSON.stringify(chunk({ content: ' more' }, null))}\n\n`);
        }, 50);
        res.on('close', () => clearInterval(timer));
        return;
      }
      REPLY_WORDS.forEach((word, i) => {
        const delta = i === 0 ? { role: 'assistant', content: word } : { content: ` ${word}` };
        res.write(`data: ${JSON.stringify(chunk(delta, null))}\n\n`);
      });
      res.write(`data: ${JSON.stringify(chunk({}, 'stop'))}\n\n`);
      const options = body.stream_options as { include_usage?: boolean } | undefined;
      if (options?.include_usage === true) {
        res.write(`data: ${JSON.stringify({ ...chunk({}, null), choices: [], usage })}\n\n`);
      }
      res.end('data: [DONE]\n\n');
    })().catch((err: unknown) => {
      res.destroy(err instanceof Error ? err : new Error(String(err)));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${String(port)}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
