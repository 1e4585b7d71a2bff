// Path (m) of `npm run bench`: the floor. A bare `node:http` pass-through in front of the
// simulator, written for the benchmark and nothing else: it reads the request body, forwards
// it on a keep-alive connection, pipes the answer back and stops the upstream request when
// the client leaves. No parsing, no auth, no logging: what any Node.js hop costs at least, so
// the gateway's and the daemon's CPU per request can be read as multiples of it.
// Run as its own process: `node --import tsx test/bench/floor.ts --port P --upstream URL`.
import http, { type IncomingMessage, type OutgoingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

// Headers that describe one connection, not the message (RFC 9110 7.6.1).
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'host']);

function copyHeaders(from: IncomingMessage['headers']): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const name in from) {
    if (!HOP_BY_HOP.has(name)) out[name] = from[name];
  }
  return out;
}

export function createFloor(upstream: URL): Server {
  if (upstream.protocol !== 'http:') throw new Error(`the floor forwards over http only`);
  const agent = new http.Agent({ keepAlive: true, scheduling: 'lifo' });
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const headers = copyHeaders(req.headers);
      headers['content-length'] = body.length;
      const up = http.request(
        {
          agent,
          hostname: upstream.hostname,
          port: upstream.port,
          method: req.method,
          path: req.url,
          headers,
        },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, copyHeaders(answer.headers));
          answer.pipe(res);
          answer.once('error', () => res.destroy());
        },
      );
      up.once('error', () => {
        if (res.headersSent) res.destroy();
        else res.writeHead(502).end();
      });
      res.once('close', () => {
        if (!res.writableFinished) up.destroy();
      });
      up.end(body);
    });
  });
  server.requestTimeout = 0;
  return server;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { port: { type: 'string', default: '0' }, upstream: { type: 'string' } },
  });
  if (!values.upstream) throw new Error('--upstream URL is required');
  const server = createFloor(new URL(values.upstream));
  await new Promise<void>((resolve) => server.listen(Number(values.port), '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  console.log(`bench floor listening on http://127.0.0.1:${port} -> ${values.upstream}`);
  const stop = () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
