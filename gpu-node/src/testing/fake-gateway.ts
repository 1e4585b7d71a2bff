// A gateway stand-in for daemon tests: a real HTTP server that answers register and
// heartbeat per schema/contracts.ts and validates what the daemon sends with the same
// schemas the real gateway uses.
import http, { type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  DATA_PLANE_JWT_ISSUER,
  HeartbeatRequestSchema,
  RegisterRequestSchema,
  type DesiredInstance,
  type HeartbeatRequest,
  type Jwks,
  type RegisterRequest,
} from '../../../schema/contracts.ts';
import type { z } from 'zod';

export interface FakeGateway {
  url: string;
  port: number;
  desired: DesiredInstance[];
  // The key set sent with every heartbeat answer (change it to rotate keys).
  jwks: Jwks;
  heartbeats: z.infer<typeof HeartbeatRequestSchema>[];
  registrations: RegisterRequest[];
  // Contract violations seen in requests (should stay empty).
  invalid: string[];
  close(): Promise<void>;
}

export interface FakeGatewayOptions {
  jwks: Jwks;
  nodeId?: string;
  nodeSecret?: string;
  registrationToken?: string;
  heartbeatIntervalS?: number;
  port?: number;
}

function readJson(req: http.IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      try {
        resolve(JSON.parse(body));
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
  });
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

const unauthorized = (message: string) => ({
  error: { message, type: 'authentication_error', param: null, code: 'invalid_token' },
});

export async function startFakeGateway(opts: FakeGatewayOptions): Promise<FakeGateway> {
  const nodeId = opts.nodeId ?? 'node-test';
  const nodeSecret = opts.nodeSecret ?? 'fgn-secret-for-tests';
  const state: Omit<FakeGateway, 'url' | 'port' | 'close'> = {
    desired: [],
    jwks: opts.jwks,
    heartbeats: [],
    registrations: [],
    invalid: [],
  };
  const server: Server = http.createServer((req, res) => {
    void (async () => {
      const auth = req.headers.authorization ?? '';
      const body = await readJson(req).catch(() => undefined);
      if (req.method === 'POST' && req.url === '/node/v1/register') {
        if (auth !== `Bearer ${opts.registrationToken ?? 'fgr-token'}`) {
          send(res, 401, unauthorized('registration token is invalid, expired or used up'));
          return;
        }
        const parsed = RegisterRequestSchema.safeParse(body);
        if (!parsed.success) {
          state.invalid.push(`register: ${parsed.error.message}`);
          send(res, 400, {
            error: { message: 'bad body', type: 'invalid_request_error', param: null, code: null },
          });
          return;
        }
        state.registrations.push(parsed.data);
        send(res, 200, {
          node_id: nodeId,
          node_secret: nodeSecret,
          jwks: opts.jwks,
          heartbeat_interval_s: opts.heartbeatIntervalS ?? 0.2,
          issuer: DATA_PLANE_JWT_ISSUER,
        });
        return;
      }
      if (req.method === 'POST' && req.url === '/node/v1/heartbeat') {
        if (auth !== `Bearer ${nodeSecret}`) {
          send(res, 401, unauthorized('unknown node secret'));
          return;
        }
        const parsed = HeartbeatRequestSchema.safeParse(body);
        if (!parsed.success) {
          state.invalid.push(`heartbeat: ${parsed.error.message}`);
          send(res, 400, {
            error: { message: 'bad body', type: 'invalid_request_error', param: null, code: null },
          });
          return;
        }
        state.heartbeats.push(parsed.data);
        send(res, 200, {
          node_id: nodeId,
          desired: state.desired,
          heartbeat_interval_s: opts.heartbeatIntervalS ?? 0.2,
          jwks: state.jwks,
        });
        return;
      }
      send(res, 404, {
        error: { message: 'not found', type: 'not_found_error', param: null, code: null },
      });
    })();
  });
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const gateway = state as FakeGateway;
  gateway.port = port;
  gateway.url = `http://127.0.0.1:${port}`;
  gateway.close = async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  };
  return gateway;
}

export type { HeartbeatRequest };
