// The Node host's side of DirectStreams (types.ts): a streamed answer the app handed over
// is written to the client's ServerResponse here, after the app's response came back
// through every middleware (so the status and headers are final, x-request-id and CORS
// included), and @hono/node-server is told the response was already sent. What costs the
// most per streamed chunk on the Node host (a Web stream the relay exposes, node-server's
// reader loop over it, a promise per chunk) is skipped.
import { ServerResponse } from 'node:http';
import type { Http2Bindings, HttpBindings } from '@hono/node-server';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import type { DirectStreams } from '../types.ts';
import type { DirectAnswer } from './relay-node.ts';

type Fetch = (request: Request, env: HttpBindings | Http2Bindings) => Response | Promise<Response>;

export interface DirectStreamHost {
  // For createApp's deps.
  streams: DirectStreams;
  // Wraps the app's fetch for serve(): answers with a stream taken over are sent here.
  fetch(appFetch: Fetch): Fetch;
}

function writeHead(out: ServerResponse, res: Response): void {
  const headers: Record<string, string | string[]> = {};
  const cookies: string[] = [];
  res.headers.forEach((value, name) => {
    if (name === 'set-cookie') cookies.push(value);
    else headers[name] = value;
  });
  if (cookies.length > 0) headers['set-cookie'] = cookies;
  out.writeHead(res.status, headers);
}

function isBindings(env: unknown): env is HttpBindings {
  return typeof env === 'object' && env !== null && 'outgoing' in env && 'incoming' in env;
}

// Aborts as @hono/node-server's request signal does: the response closed before it
// finished, or the request errored.
function closedSignal({ incoming, outgoing }: HttpBindings): AbortSignal {
  const controller = new AbortController();
  outgoing.once('close', () => {
    if (incoming.errored) controller.abort(incoming.errored.toString());
    else if (!outgoing.writableFinished) {
      controller.abort('Client connection prematurely closed.');
    }
  });
  return controller.signal;
}

export function directStreamHost(): DirectStreamHost {
  // Keyed by the request's bindings object, which @hono/node-server makes per request.
  const taken = new WeakMap<object, DirectAnswer>();
  return {
    streams: {
      clientSignal: (env) => (isBindings(env) ? closedSignal(env) : undefined),
      take(env, answer) {
        if (typeof env !== 'object' || env === null) {
          answer.cancel(new Error('no Node.js bindings to send the stream with'));
          return;
        }
        taken.set(env, answer);
      },
    },
    fetch: (appFetch) => async (request, env) => {
      let res: Response;
      try {
        res = await appFetch(request, env);
      } catch (err) {
        taken.get(env)?.cancel(err);
        throw err;
      }
      const answer = taken.get(env);
      if (answer === undefined) return res;
      taken.delete(env);
      // The app answered with the stream's own head (a middleware may have replaced it with
      // an error): only then is the stream sent.
      const streamed = res.headers.get('content-type')?.startsWith('text/event-stream') ?? false;
      const out = env.outgoing;
      if (
        res.status !== 200 ||
        !streamed ||
        res.body !== null ||
        !(out instanceof ServerResponse)
      ) {
        answer.cancel(new Error('the app answered otherwise'));
        return res;
      }
      writeHead(out, res);
      answer.sendTo(out);
      return RESPONSE_ALREADY_SENT;
    },
  };
}
