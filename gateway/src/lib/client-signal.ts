// The signal that aborts when the client goes away before its answer is sent. On the Node
// host it is taken from the ServerResponse in c.env.outgoing, as @hono/node-server itself
// decides (closed before it finished, or the request errored): asking c.req.raw.signal
// there would make @hono/node-server build the whole Web Request (a Headers copy, its own
// AbortController, the body as a Web stream), about a tenth of a millisecond per request.
// Elsewhere (the Worker, app.request) it is the Request's own signal.
import type { Context } from 'hono';

// What is used of the IncomingMessage and ServerResponse that @hono/node-server puts in
// c.env, so this module stays free of Node imports.
interface NodeExchange {
  incoming: { errored: Error | null };
  outgoing: {
    writableFinished: boolean;
    destroyed: boolean;
    once(event: 'close', listener: () => void): unknown;
  };
}

function nodeExchange(env: unknown): NodeExchange | undefined {
  if (typeof env !== 'object' || env === null) return undefined;
  if (!('incoming' in env) || !('outgoing' in env)) return undefined;
  const { incoming, outgoing } = env;
  const usable =
    typeof incoming === 'object' &&
    incoming !== null &&
    'errored' in incoming &&
    typeof outgoing === 'object' &&
    outgoing !== null &&
    'writableFinished' in outgoing &&
    'destroyed' in outgoing &&
    'once' in outgoing &&
    typeof outgoing.once === 'function';
  // Checked above member by member; the types are node:http's.
  return usable ? ({ incoming, outgoing } as NodeExchange) : undefined;
}

const signals = new WeakMap<object, AbortSignal>();

export function clientSignal(c: Context): AbortSignal {
  const exchange = nodeExchange(c.env);
  if (!exchange) return c.req.raw.signal;
  const { incoming, outgoing } = exchange;
  const known = signals.get(outgoing);
  if (known) return known;
  const controller = new AbortController();
  const settle = () => {
    if (incoming.errored) controller.abort(incoming.errored.toString());
    else if (!outgoing.writableFinished) controller.abort('Client connection prematurely closed.');
  };
  if (outgoing.destroyed) settle();
  else outgoing.once('close', settle);
  signals.set(outgoing, controller.signal);
  return controller.signal;
}
