// A minimal OpenAI-ish engine for daemon tests: `node engine.mjs --port N --model NAME`.
// /health (503 while the file named by ENGINE_READY_FILE, if any, does not exist), vLLM-named
// /metrics, /v1/models and a non-streaming /v1/chat/completions.
import { existsSync } from 'node:fs';
import http from 'node:http';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: { port: { type: 'string' }, model: { type: 'string' } },
  strict: false,
});
let requests = 0;
const server = http.createServer((req, res) => {
  const json = (status, body) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  req.resume();
  req.on('end', () => {
    if (req.url === '/health') {
      const gate = process.env.ENGINE_READY_FILE;
      return gate && !existsSync(gate) ? json(503, { ok: false }) : json(200, { ok: true });
    }
    if (req.url === '/metrics') {
      res.end(`vllm:num_requests_running 0\nvllm:generation_tokens_total ${requests}\n`);
      return;
    }
    if (req.url === '/v1/models')
      return json(200, { object: 'list', data: [{ id: values.model }] });
    if (req.url === '/v1/chat/completions') {
      requests += 1;
      return json(200, { object: 'chat.completion', model: values.model, pid: process.pid });
    }
    json(404, { error: { message: 'not found' } });
  });
});
server.listen(Number(values.port), '127.0.0.1', () =>
  console.log(`engine listening on ${values.port}`),
);
process.on('SIGTERM', () => server.close(() => process.exit(0)));
