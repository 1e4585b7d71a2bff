// The Cloudflare host's tunnels: one Durable Object per tunnel node (idFromName(nodeId))
// holds the node's WebSocket with the hibernation API, so an idle tunnel costs no duration:
// the daemon's pings are answered by the runtime's auto-response without waking the object.
// The Worker sends each request for the node through the object's stub; the object runs it
// as a stream over the socket (session.ts) and answers with the streamed Response. While a
// request is open the object stays awake; state lost to hibernation is only the (then
// empty) table of streams, rebuilt on the next message.
import { DurableObject } from 'cloudflare:workers';
import { TUNNEL_CLOSE, TUNNEL_PING, TUNNEL_PONG } from '../../../schema/tunnel.ts';
import type { TunnelHost } from '../types.ts';
import { TunnelError, TunnelSession } from './session.ts';
import type { TunnelFetch } from './transport.ts';

export interface TunnelEnv {
  NODE_TUNNEL?: DurableObjectNamespace<NodeTunnel>;
}

// Between the Worker and the object (never from outside: a stub is reachable only by this
// Worker's code).
const PATH_HEADER = 'x-fleetgate-tunnel-path';
const ERROR_HEADER = 'x-fleetgate-tunnel-error';
const BASE = 'https://node-tunnel';

export class NodeTunnel extends DurableObject<TunnelEnv> {
  #current: { ws: WebSocket; session: TunnelSession } | undefined;

  constructor(ctx: DurableObjectState, env: TunnelEnv) {
    super(ctx, env);
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(TUNNEL_PING, TUNNEL_PONG));
  }

  override async fetch(request: Request): Promise<Response> {
    const { pathname } = new URL(request.url);
    switch (pathname) {
      case '/connect':
        return this.#connect();
      case '/status':
        return Response.json({ connected: this.#live() !== undefined });
      case '/forward':
        return this.#forward(request);
      default:
        return new Response(null, { status: 404 });
    }
  }

  // A newer tunnel replaces the older: the daemon reconnected, or a second daemon runs
  // with the same identity.
  #connect(): Response {
    const pair = new WebSocketPair();
    const [client, server] = [pair[0], pair[1]];
    this.#current?.session.close('replaced by a newer tunnel');
    this.#current = undefined;
    for (const old of this.ctx.getWebSockets()) {
      old.close(TUNNEL_CLOSE.replaced, 'replaced by a newer tunnel');
    }
    this.ctx.acceptWebSocket(server);
    this.#current = { ws: server, session: this.#sessionOn(server) };
    return new Response(null, { status: 101, webSocket: client });
  }

  #sessionOn(ws: WebSocket): TunnelSession {
    return new TunnelSession({
      send: (data) => ws.send(data),
      close: (code, reason) => ws.close(code, reason),
    });
  }

  // The open socket and its session; after hibernation the session is made anew.
  #live(): { ws: WebSocket; session: TunnelSession } | undefined {
    if (this.#current?.ws.readyState === WebSocket.OPEN) return this.#current;
    const open = this.ctx.getWebSockets().filter((ws) => ws.readyState === WebSocket.OPEN);
    const ws = open[open.length - 1];
    this.#current = ws ? { ws, session: this.#sessionOn(ws) } : undefined;
    return this.#current;
  }

  async #forward(request: Request): Promise<Response> {
    const live = this.#live();
    const path = request.headers.get(PATH_HEADER) ?? '/';
    if (!live) return failure('node_tunnel_down', 'the node has no tunnel open');
    const headers = new Headers(request.headers);
    headers.delete(PATH_HEADER);
    try {
      const res = await live.session.fetch(path, {
        method: request.method,
        headers,
        body: request.body,
        signal: request.signal,
      });
      // The node's answer never speaks for the object: a node setting this header would
      // make the Worker take its answer for a tunnel failure.
      if (!res.headers.has(ERROR_HEADER)) return res;
      const clean = new Headers(res.headers);
      clean.delete(ERROR_HEADER);
      return new Response(res.body, { status: res.status, headers: clean });
    } catch (err) {
      const code = err instanceof TunnelError ? err.code : 'node_tunnel_stream';
      return failure(code, err instanceof Error ? err.message : String(err));
    }
  }

  override webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): void {
    // Text is only the keep-alive, which the auto-response answers.
    if (typeof message === 'string') return;
    const live = this.#live();
    if (live?.ws === ws) live.session.receive(new Uint8Array(message));
  }

  override webSocketClose(ws: WebSocket, code: number, reason: string): void {
    this.#drop(ws, `closed (${code}${reason ? ` ${reason}` : ''})`);
  }

  override webSocketError(ws: WebSocket, error: unknown): void {
    this.#drop(ws, error instanceof Error ? error.message : 'socket error');
  }

  #drop(ws: WebSocket, why: string): void {
    if (this.#current?.ws !== ws) return;
    this.#current.session.close(why);
    this.#current = undefined;
  }
}

function failure(code: string, message: string): Response {
  return new Response(message, { status: 502, headers: { [ERROR_HEADER]: code } });
}

function stubOf(ns: DurableObjectNamespace<NodeTunnel>, nodeId: string) {
  return ns.get(ns.idFromName(nodeId));
}

// The Worker's side: TunnelHost (the upgrade and the admin API's status) and the fetch that
// withTunnels() sends tunnel nodes' requests to. A failure inside the object comes back as
// a TunnelError, so forward() tries another instance as for a refused connection.
export function durableObjectTunnels(
  ns: DurableObjectNamespace<NodeTunnel>,
): TunnelHost & TunnelFetch {
  return {
    accept: (request, nodeId) =>
      stubOf(ns, nodeId).fetch(new Request(`${BASE}/connect`, { headers: request.headers })),
    async connected(nodeId) {
      const res = await stubOf(ns, nodeId).fetch(`${BASE}/status`);
      return (await res.json<{ connected: boolean }>()).connected;
    },
    async fetch(nodeId, path, init) {
      const headers = new Headers(init.headers);
      headers.set(PATH_HEADER, path);
      const res = await stubOf(ns, nodeId).fetch(`${BASE}/forward`, {
        method: init.method ?? 'GET',
        headers,
        body: init.body ?? null,
        signal: init.signal,
      });
      const error = res.headers.get(ERROR_HEADER);
      if (error !== null) {
        const message = await res.text();
        throw new TunnelError(
          error === 'node_tunnel_down' ? 'node_tunnel_down' : 'node_tunnel_stream',
          message,
        );
      }
      return res;
    },
  };
}
