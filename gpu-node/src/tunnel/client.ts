// The daemon's dial-out tunnel (tunnel mode): one WebSocket to the gateway's /node/v1/tunnel,
// opened with the node secret, kept alive with pings, and opened again after any drop with
// exponential back-off and jitter (1 s to 60 s). Requests arrive on it as streams
// (streams.ts) and go to the daemon's own listener.
import WebSocket, { type RawData } from 'ws';
import {
  TUNNEL_CLOSE,
  TUNNEL_MAX_FRAME_BYTES,
  TUNNEL_PATH,
  TUNNEL_PING,
  TUNNEL_PING_INTERVAL_MS,
} from '../../../schema/tunnel.ts';
import { backoffDelay, jittered, TUNNEL_BACKOFF } from '../control/backoff.ts';
import type { Logger } from '../log.ts';
import { TunnelStreams, type LocalTarget } from './streams.ts';

export interface TunnelClientOptions {
  gatewayUrl: string;
  nodeSecret: string;
  // The daemon's own listener, which every tunnelled request is sent to.
  target: LocalTarget;
  log: Logger;
  // Ping interval in ms; two intervals without any message from the gateway and the
  // connection counts as dead. Default TUNNEL_PING_INTERVAL_MS.
  pingIntervalMs?: number;
}

// A connection that stayed up this long resets the back-off.
const STABLE_MS = 10_000;

export function tunnelUrl(gatewayUrl: string): string {
  const url = new URL(gatewayUrl);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  url.pathname = `${url.pathname.replace(/\/+$/, '')}${TUNNEL_PATH}`;
  return url.toString();
}

function toBytes(data: RawData): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data);
  return data instanceof ArrayBuffer ? new Uint8Array(data) : data;
}

export class TunnelClient {
  readonly #opts: TunnelClientOptions;
  readonly #url: string;
  #ws: WebSocket | undefined;
  #streams: TunnelStreams | undefined;
  #failures = 0;
  #retry: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;
  #connected = false;
  // Times connected since start (tests and logs).
  connects = 0;

  constructor(opts: TunnelClientOptions) {
    this.#opts = opts;
    this.#url = tunnelUrl(opts.gatewayUrl);
  }

  get connected(): boolean {
    return this.#connected;
  }

  start(): void {
    this.#connect();
  }

  #connect(): void {
    if (this.#stopped) return;
    const { log } = this.#opts;
    const ws = new WebSocket(this.#url, {
      headers: { authorization: `Bearer ${this.#opts.nodeSecret}` },
      maxPayload: TUNNEL_MAX_FRAME_BYTES,
      perMessageDeflate: false,
      handshakeTimeout: 10_000,
    });
    this.#ws = ws;
    let openedAt = 0;
    let heardAt = Date.now();
    let pinger: ReturnType<typeof setInterval> | undefined;
    const interval = this.#opts.pingIntervalMs ?? TUNNEL_PING_INTERVAL_MS;

    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (body.length < 2000) body += chunk;
      });
      res.on('end', () => {
        log.warn(
          `tunnel refused by the gateway (HTTP ${res.statusCode ?? '?'}): ${body.slice(0, 500)}`,
        );
      });
      ws.terminate();
    });
    ws.on('open', () => {
      openedAt = Date.now();
      heardAt = openedAt;
      this.#connected = true;
      this.connects += 1;
      const streams = new TunnelStreams((data) => ws.send(data), this.#opts.target);
      this.#streams = streams;
      log.info(`tunnel to ${this.#url} open`);
      pinger = setInterval(() => {
        if (Date.now() - heardAt > 2 * interval) {
          log.warn('tunnel: no answer to pings; reconnecting');
          ws.terminate();
          return;
        }
        ws.send(TUNNEL_PING);
      }, interval);
    });
    ws.on('message', (data, isBinary) => {
      heardAt = Date.now();
      if (isBinary) this.#streams?.receive(toBytes(data));
    });
    // 'close' follows every error and reports it.
    let lastError = '';
    ws.on('error', (err) => {
      lastError = err.message;
    });
    ws.once('close', (code, reason) => {
      clearInterval(pinger);
      this.#streams?.closeAll();
      this.#streams = undefined;
      const wasOpen = openedAt > 0;
      this.#connected = false;
      if (this.#ws === ws) this.#ws = undefined;
      if (this.#stopped) return;
      if (wasOpen && Date.now() - openedAt >= STABLE_MS) this.#failures = 0;
      this.#failures += 1;
      const delay = jittered(backoffDelay(this.#failures, TUNNEL_BACKOFF));
      const why =
        code === TUNNEL_CLOSE.replaced
          ? 'replaced by a newer tunnel for this node (is a second daemon running with this config?)'
          : `${code}${reason.length ? ` ${reason.toString()}` : ''}`;
      if (wasOpen) log.warn(`tunnel closed (${why}); reconnecting in ${delay} ms`);
      else {
        const cause = lastError ? ` (${lastError})` : '';
        log.info(`tunnel: cannot connect to ${this.#url}${cause}; retrying in ${delay} ms`);
      }
      this.#retry = setTimeout(() => this.#connect(), delay);
    });
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#retry);
    const ws = this.#ws;
    this.#streams?.closeAll();
    if (!ws || ws.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        ws.terminate();
        resolve();
      }, 2000);
      ws.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      ws.close(1001, 'the node daemon is stopping');
    });
  }
}
