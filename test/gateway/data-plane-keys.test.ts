// Per-node data-plane keys through the whole app: the registration and heartbeat answers carry
// the node's own key (and no other node's), the admin API never shows it, and the gateway
// signs a node's tokens HS256 with it only while the node's heartbeat says it holds the
// current key (ES256 otherwise), for inference and for engine logs alike. The node is a real
// HTTP server on 127.0.0.1 that checks tokens with the daemon's own verifier.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { DeploymentSchema } from '../../schema/admin.ts';
import {
  DATA_PLANE_JWT_ISSUER,
  HeartbeatResponseSchema,
  type DataPlaneKey,
  type RegisterResponse,
} from '../../schema/contracts.ts';
import { DataPlaneVerifier } from '../../gpu-node/src/server/auth.ts';
import { HttpError } from '../../gpu-node/src/server/errors.ts';
import { startGatewayHarness, type GatewayHarness } from '../support/gateway-harness.ts';

const CompletionSchema = z.looseObject({ choices: z.array(z.unknown()) });

interface Seen {
  alg: unknown;
  status: number;
  scope?: string;
}

describe('per-node data-plane keys', () => {
  let h: GatewayHarness;
  let server: Server;
  let url: string;
  let node: RegisterResponse;
  let other: RegisterResponse;
  let verifier: DataPlaneVerifier;
  const seen: Seen[] = [];

  beforeAll(async () => {
    h = await startGatewayHarness();
    server = createServer((req, res) => {
      void (async () => {
        for await (const _ of req) {
          // The body is not needed.
        }
        const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
        const header = JSON.parse(
          Buffer.from(token.split('.')[0] ?? '', 'base64url').toString(),
        ) as { alg?: unknown };
        const path = (req.url ?? '/').split('?')[0] ?? '/';
        try {
          const claims = await verifier.verify(req.headers.authorization, {
            method: req.method ?? 'GET',
            path,
          });
          seen.push({ alg: header.alg, status: 200, scope: claims.scope });
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(
            claims.scope === 'logs'
              ? JSON.stringify({ object: 'list', data: ['a line'] })
              : JSON.stringify({
                  id: 'cmpl-1',
                  object: 'chat.completion',
                  created: 1,
                  model: 'keyed',
                  choices: [
                    {
                      index: 0,
                      message: { role: 'assistant', content: 'ok' },
                      finish_reason: 'stop',
                    },
                  ],
                  usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
                }),
          );
        } catch (err) {
          seen.push({ alg: header.alg, status: err instanceof HttpError ? err.status : 500 });
          res.writeHead(401, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: { message: String(err), type: 'x', code: null } }));
        }
      })();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    node = await h.registerNode('keyed-node', url);
    other = await h.registerNode('other-node', url);
    verifier = new DataPlaneVerifier(node.node_id, DATA_PLANE_JWT_ISSUER, node.jwks);
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    await h.close();
  });

  const heartbeat = (secret: string, keyId: string | undefined, instances: unknown[] = []) =>
    h.callOk(HeartbeatResponseSchema, 'POST', '/node/v1/heartbeat', {
      token: secret,
      body: {
        daemon_version: 'test',
        gpus: [],
        instances,
        in_flight: 0,
        queued: 0,
        ...(keyId === undefined ? {} : { data_plane_key_id: keyId }),
      },
    });

  it('hands each node its own key, in the registration and every heartbeat answer', async () => {
    const key = node.data_plane_key;
    const kid = h.signer.jwks().keys[0]?.kid;
    expect(key).toEqual(await h.signer.nodeKey(node.node_id));
    expect(key?.kid).toBe(kid);
    expect(other.data_plane_key?.kid).toBe(kid);
    expect(other.data_plane_key?.key).not.toBe(key?.key);
    expect((await heartbeat(node.node_secret, undefined)).body.data_plane_key).toEqual(key);
    expect((await heartbeat(other.node_secret, undefined)).body.data_plane_key).toEqual(
      other.data_plane_key,
    );
  });

  it('never shows a key in the admin API', async () => {
    const secrets = [node.data_plane_key?.key, other.data_plane_key?.key];
    for (const path of ['/nodes', `/nodes/${node.node_id}`, `/nodes/${other.node_id}`]) {
      const res = await h.admin('GET', path);
      expect(res.status).toBe(200);
      const text = JSON.stringify(res.body);
      for (const secret of secrets) {
        expect(secret).toBeTypeOf('string');
        expect(text).not.toContain(secret);
      }
    }
  });

  it('signs HS256 only while the node holds the current key, for inference and logs', async () => {
    const key = node.data_plane_key as DataPlaneKey;
    const dep = await h.adminOk(DeploymentSchema, 'POST', '/deployments', {
      model: 'keyed',
      recipe: 'external',
      options: { url },
      placement: { node_id: node.node_id },
    });
    const instance = dep.body.instances[0];
    if (!instance) throw new Error('not placed');
    const ready = [{ instance_id: instance.id, deployment_id: dep.body.id, state: 'ready' }];
    const apiKey = await h.createKey({ name: 'caller', models: ['keyed'] });
    const both = async () => {
      await h.callOk(CompletionSchema, 'POST', '/v1/chat/completions', {
        token: apiKey.key,
        body: { model: 'keyed', messages: [{ role: 'user', content: 'hi' }] },
      });
      const logs = await h.admin('GET', `/deployments/${dep.body.id}/logs?tail=1`);
      expect(logs.status).toBe(200);
      return seen.splice(0).map(({ alg, scope, status }) => `${String(alg)} ${scope} ${status}`);
    };

    // A node that does not say it holds a key (an older daemon): ES256, from the JWKS.
    await heartbeat(node.node_secret, undefined, ready);
    expect(await both()).toEqual(['ES256 inference 200', 'ES256 logs 200']);

    // It holds the key: HS256, which only its key verifies.
    verifier.setNodeKey(key);
    await heartbeat(node.node_secret, key.kid, ready);
    expect(await both()).toEqual(['HS256 inference 200', 'HS256 logs 200']);

    // A key under an earlier kid (before a rotation reached it): back to ES256.
    await heartbeat(node.node_secret, 'an-earlier-kid', ready);
    expect(await both()).toEqual(['ES256 inference 200', 'ES256 logs 200']);

    // Another node's word does not count for this one.
    await heartbeat(node.node_secret, undefined, ready);
    await heartbeat(other.node_secret, key.kid);
    expect(await both()).toEqual(['ES256 inference 200', 'ES256 logs 200']);
  });
});
