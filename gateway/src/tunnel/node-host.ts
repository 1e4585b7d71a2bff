// The Node host's tunnels: a WebSocket server on the node:http server's upgrade event
// (GET /node/v1/tunnel, authenticated with the node secret) and the sessions of the nodes
// connected to this process. With several replicas behind a load balancer, each replica
// holds the tunnels that landed on it and routes to a tunnel node only through its own: a
// replica without the node's tunnel fails that attempt at once (node_tunnel_down), and
// forward() moves on to another instance (README, "Tunnel mode").
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import {
  TUNNEL_CLOSE,
  TUNNEL_MAX_FRAME_BYTES,
  TUNNEL_PATH,
  TUNNEL_PING,
  TUNNEL_PING_INTERVAL_MS,
  TUNNEL_PONG,
} from '../../../schema/tunnel.ts';
import { tunnelNodeFor } from '../control-plane/node-api.ts';
import { ApiError } from '../errors.ts';
import type { Db } from '../store/db.ts';
import type { TunnelHost } from '../types.ts';
import { TunnelError, TunnelSession } from './session.ts';

// A tunnel silent this long (no frame, no ping) is dropped; the daemon reconnects.
const SILENT_TUNNEL_MS = 3 * TUNNEL_PING_INTERVAL_MS;

interface Held {
  ws: WebSocket;
  session: TunnelSession;
}

function toBytes(data: RawData): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data);
  return data instanceof ArrayBuffer ? new Uint8Array(data) : data;
}

// An error answer on a socket that never became a WebSocket.
function refuse(socket: Duplex, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  socket.end(
    `HTTP/1.1 ${status} ${status === 401 ? 'Unauthorized' : 'Error'}\r\n` +
      'content-type: application/json\r\n' +
      `content-length: ${Buffer.byteLength(text)}\r\n` +
      'connection: close\r\n\r\n' +
      text,
  );
}

export class NodeTunnels implements TunnelHost {
  readonly #db: Db;
  readonly #held = new Map<string, Held>();
  readonly #wss = new WebSocketServer({
    noServer: true,
    maxPayload: TUNNEL_MAX_FRAME_BYTES,
    perMessageDeflate: false,
  });
  readonly #sweep: ReturnType<typeof setInterval>;
  #closing = false;

  constructor(db: Db) {
    this.#db = db;
    this.#sweep = setInterval(() => this.#dropSilent(), TUNNEL_PING_INTERVAL_MS);
    this.#sweep.unref();
  }

  // The server's 'upgrade' listener. Only the tunnel path upgrades; a refused node gets the
  // API's error body, as a plain HTTP answer.
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => undefined);
    const path = (req.url ?? '/').split('?')[0];
    if (path !== TUNNEL_PATH || this.#closing) {
      refuse(socket, 404, {
        error: {
          message: 'no WebSocket here',
          type: 'invalid_request_error',
          param: null,
          code: 'not_found',
        },
      });
      return;
    }
    tunnelNodeFor(this.#db, req.headers.authorization).then(
      (node) => {
        this.#wss.handleUpgrade(req, socket, head, (ws) => this.#attach(node.id, ws));
      },
      (err: unknown) => {
        if (err instanceof ApiError) {
          refuse(socket, err.status, err.body());
          return;
        }
        console.error('tunnel upgrade failed:', err instanceof Error ? err.message : err);
        refuse(socket, 500, {
          error: {
            message: 'tunnel upgrade failed',
            type: 'server_error',
            param: null,
            code: null,
          },
        });
      },
    );
  }

  #attach(nodeId: string, ws: WebSocket): void {
    const session = new TunnelSession({
      send: (data) => ws.send(data),
      close: (code, reason) => ws.close(code, reason),
    });
    const held = { ws, session };
    // A second tunnel for the node replaces the first: the daemon reconnected (the old
    // socket is dead or about to be), or a second daemon runs with the same identity.
    const previous = this.#held.get(nodeId);
    this.#held.set(nodeId, held);
    if (previous) {
      previous.session.close('replaced by a newer tunnel');
      previous.ws.close(TUNNEL_CLOSE.replaced, 'replaced by a newer tunnel');
    }
    ws.on('message', (data, isBinary) => {
      if (!isBinary) {
        session.lastSeen = Date.now();
        if (Buffer.from(toBytes(data)).toString('utf8') === TUNNEL_PING) ws.send(TUNNEL_PONG);
        return;
      }
      session.receive(toBytes(data));
    });
    ws.on('error', () => undefined);
    ws.once('close', () => {
      session.close('the connection closed');
      if (this.#held.get(nodeId) === held) this.#held.delete(nodeId);
    });
  }

  #dropSilent(): void {
    const now = Date.now();
    for (const { ws, session } of this.#held.values()) {
      if (now - session.lastSeen > SILENT_TUNNEL_MS) ws.terminate();
    }
  }

  fetch(nodeId: string, path: string, init: RequestInit & { signal: AbortSignal }) {
    const held = this.#held.get(nodeId);
    if (!held?.session.isOpen) {
      return Promise.reject(
        new TunnelError('node_tunnel_down', `node '${nodeId}' has no tunnel to this gateway`),
      );
    }
    return held.session.fetch(path, init);
  }

  // Upgrades never reach the app on this host (handleUpgrade answers them first).
  accept(): Promise<Response> {
    return Promise.resolve(new Response(null, { status: 426 }));
  }

  connected(nodeId: string): Promise<boolean> {
    return Promise.resolve(this.#held.get(nodeId)?.session.isOpen ?? false);
  }

  // Shutdown, first step: no new tunnels, and each tunnel closes once its streams are over
  // (the server's close() waits for the sockets; its grace period still cuts what is left).
  drain(): void {
    this.#closing = true;
    const check = () => {
      for (const [nodeId, { ws, session }] of this.#held) {
        if (session.openStreams > 0) continue;
        session.close('the gateway is shutting down');
        ws.close(TUNNEL_CLOSE.goingAway, 'the gateway is shutting down');
        this.#held.delete(nodeId);
      }
      if (this.#held.size > 0) setTimeout(check, 100).unref();
    };
    check();
  }

  // Shutdown: the daemons see 1001 and reconnect (to this address, when it is back).
  close(): void {
    this.#closing = true;
    clearInterval(this.#sweep);
    for (const { ws, session } of this.#held.values()) {
      session.close('the gateway is shutting down');
      ws.close(TUNNEL_CLOSE.goingAway, 'the gateway is shutting down');
    }
    this.#held.clear();
    this.#wss.close();
  }
}
