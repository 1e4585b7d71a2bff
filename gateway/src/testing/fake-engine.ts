// A small OpenAI-compatible upstream for the gateway's tests: a real HTTP server on
// 127.0.0.1 that behaves as the body's `scenario` field asks (the gateway forwards unknown
// fields untouched), verifies the gateway's JWT, and records what it received and sent.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLocalJWKSet, jwtVerify, type JWTPayload } from 'jose';
import { DATA_PLANE_JWT_ISSUER, type Jwks } from '../../../schema/contracts.ts';

export const ENGINE_USAGE = { prompt_tokens: 11, completion_tokens: 3, total_tokens: 14 };
export const STREAM_TEXT = ['Hel', 'lo ', 'wörld 🚀'];

export type Scenario =
  | 'ok'
  | 'usage-with-choices'
  | 'error-in-stream'
  | 'die-mid-stream'
  | 'die-before-content'
  // Headers, a role delta, then a data block with a server error and [DONE]: an engine
  // that failed during prefill.
  | 'error-before-content'
  // The same as an `event: error` block, then the end without [DONE].
  | 'error-event-before-content'
  // Headers, a role delta, then the end (no [DONE]).
  | 'end-before-content'
  // A role delta, then an error that blames the request (vLLM's BadRequestError).
  | 'request-error-before-content'
  // A role delta, then nothing (an engine stuck in prefill).
  | 'silent-before-content'
  // A whole stream whose answer is empty: a role delta, finish_reason, usage, [DONE].
  | 'no-content'
  | 'no-done'
  | 'slow'
  | 'silent'
  | 'bad-request'
  | 'plain-400'
  | 'fail-500'
  // A stream whose usage chunk comes a while after the finish_reason.
  | 'late-usage'
  // A stream that sends its finish_reason, then nothing, never ending.
  | 'finish-then-silent'
  // A non-streamed 200 whose JSON body never ends (no Content-Length).
  | 'endless-answer';

export interface Received {
  path: string;
  headers: IncomingMessage['headers'];
  body: Record<string, unknown>;
  claims: JWTPayload | null;
  // The client side closed the connection before the answer was complete.
  aborted: boolean;
  // Exactly what the engine wrote to the body.
  sent: string;
}

export interface FakeEngine {
  url: string;
  received: Received[];
  close(): Promise<void>;
}

const chunk = (choices: unknown[], extra: object = {}) =>
  `data: ${JSON.stringify({ id: 'cmpl-1', object: 'chat.completion.chunk', created: 1, model: 'm', choices, ...extra })}\n\n`;
const delta = (content: string) => chunk([{ index: 0, delta: { content }, finish_reason: null }]);

export async function startFakeEngine(opts: {
  jwks: () => Jwks;
  // Answer every request with this, whatever the body asks (a broken instance).
  force?: Scenario;
}): Promise<FakeEngine> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    void handle(req, res).catch((err: unknown) => {
      res.destroy(err instanceof Error ? err : new Error(String(err)));
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let raw = '';
    for await (const part of req) raw += String(part);
    const body = JSON.parse(raw) as Record<string, unknown>;
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    // Like a real node: a token that does not verify is answered 401.
    const claims = token
      ? await jwtVerify(token, createLocalJWKSet(opts.jwks()), { issuer: DATA_PLANE_JWT_ISSUER })
          .then((r) => r.payload)
          .catch(() => null)
      : null;
    const record: Received = {
      path: req.url ?? '',
      headers: req.headers,
      body,
      claims,
      aborted: false,
      sent: '',
    };
    received.push(record);
    res.on('close', () => {
      if (!res.writableFinished) record.aborted = true;
    });
    const write = (text: string) => {
      record.sent += text;
      res.write(text);
    };
    const scenario = opts.force ?? (body.scenario as Scenario | undefined) ?? 'ok';

    if (!claims) {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(
        '{"error":{"message":"no token","type":"authentication_error","param":null,"code":null}}',
      );
      return;
    }
    if (scenario === 'fail-500') {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('engine crashed');
      return;
    }
    if (scenario === 'bad-request') {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          error: {
            message: 'max_tokens is too large',
            type: 'BadRequestError',
            param: 'max_tokens',
            code: 400,
          },
        }),
      );
      return;
    }
    if (scenario === 'plain-400') {
      res.writeHead(400, { 'content-type': 'text/plain' });
      res.end('bad things');
      return;
    }
    if (scenario === 'endless-answer') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"id":"cmpl-1","choices":[{"index":0,"text":"');
      const piece = 'x'.repeat(16 * 1024);
      const timer = setInterval(() => res.write(piece), 1);
      res.on('close', () => clearInterval(timer));
      return;
    }
    if (req.url === '/v1/embeddings') {
      const input = Array.isArray(body.input) ? body.input : [body.input];
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          object: 'list',
          data: input.map((_, index) => ({ object: 'embedding', index, embedding: [0.1, 0.2] })),
          model: body.model,
          usage: { prompt_tokens: 4, total_tokens: 4 },
        }),
      );
      return;
    }
    if (body.stream !== true) {
      // A generation that never finishes: the answer never comes.
      if (scenario === 'slow') return;
      const text = STREAM_TEXT.join('');
      const choice =
        req.url === '/v1/completions'
          ? { index: 0, text, finish_reason: 'stop' }
          : { index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' };
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          id: 'cmpl-1',
          object: 'chat.completion',
          created: 1,
          model: body.model,
          choices: [choice],
          usage: ENGINE_USAGE,
        }),
      );
      return;
    }

    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8' });
    res.flushHeaders();
    const includeUsage =
      (body.stream_options as { include_usage?: boolean } | undefined)?.include_usage === true;
    write(chunk([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }]));
    write(': ping\n\n');
    if (scenario === 'slow' || scenario === 'silent') {
      write(delta('first'));
      if (scenario === 'silent') return;
      const timer = setInterval(() => write(delta('more')), 20);
      res.on('close', () => clearInterval(timer));
      return;
    }
    if (scenario === 'error-before-content' || scenario === 'request-error-before-content') {
      const error =
        scenario === 'error-before-content'
          ? { message: 'engine crashed during prefill', type: 'InternalServerError', code: 500 }
          : { message: 'prompt too long', type: 'BadRequestError', code: 400 };
      write(`data: ${JSON.stringify({ error })}\n\n`);
      write('data: [DONE]\n\n');
      res.end();
      return;
    }
    if (scenario === 'error-event-before-content') {
      const error = { message: 'engine died', type: 'server_error', code: 'engine_dead' };
      write(`event: error\ndata: ${JSON.stringify({ error })}\n\n`);
      res.end();
      return;
    }
    if (scenario === 'silent-before-content') return;
    if (scenario === 'end-before-content') {
      res.end();
      return;
    }
    if (scenario === 'no-content') {
      write(chunk([{ index: 0, delta: {}, finish_reason: 'length' }]));
      if (includeUsage) write(chunk([], { usage: ENGINE_USAGE }));
      write('data: [DONE]\n\n');
      res.end();
      return;
    }
    if (scenario === 'die-before-content') {
      // An engine that fails after its headers, before any output (counts against it).
      await new Promise((r) => setTimeout(r, 20));
      res.destroy();
      return;
    }
    for (const [i, text] of STREAM_TEXT.entries()) {
      write(delta(text));
      if (scenario === 'error-in-stream' && i === 1) {
        write(
          `data: ${JSON.stringify({ error: { message: 'context too long', type: 'BadRequestError', code: 'context_length_exceeded' } })}\n\n`,
        );
        write('data: [DONE]\n\n');
        res.end();
        return;
      }
      if (scenario === 'die-mid-stream' && i === 1) {
        // Let the chunks leave before the connection is cut.
        await new Promise((r) => setTimeout(r, 50));
        res.destroy();
        return;
      }
    }
    if (scenario === 'finish-then-silent') {
      write(chunk([{ index: 0, delta: {}, finish_reason: 'stop' }]));
      return;
    }
    if (scenario === 'late-usage') {
      write(chunk([{ index: 0, delta: {}, finish_reason: 'stop' }]));
      await new Promise((r) => setTimeout(r, 300));
      write(chunk([], { usage: ENGINE_USAGE }));
      write('data: [DONE]\n\n');
      res.end();
      return;
    }
    if (scenario === 'usage-with-choices') {
      write(chunk([{ index: 0, delta: {}, finish_reason: 'stop' }], { usage: ENGINE_USAGE }));
    } else {
      write(chunk([{ index: 0, delta: {}, finish_reason: 'stop' }]));
      if (includeUsage) write(chunk([], { usage: ENGINE_USAGE }));
    }
    if (scenario !== 'no-done') write('data: [DONE]\n\n');
    res.end();
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// A port nothing listens on: bind one, note it, close it.
export async function refusedUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}
