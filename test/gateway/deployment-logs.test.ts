// GET /admin/v1/deployments/{id}/logs: the gateway reads an engine's last lines from the node
// that runs it (a real HTTP server on 127.0.0.1 plays the node), with a JWT for that node and
// instance.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeploymentLogsSchema, DeploymentSchema } from '../../schema/admin.ts';
import { DATA_PLANE_JWT_ISSUER } from '../../schema/contracts.ts';
import {
  expectError,
  HEARTBEAT_S,
  startGatewayHarness,
  type GatewayHarness,
} from '../support/gateway-harness.ts';

describe('engine logs through the admin API', () => {
  let h: GatewayHarness;
  let server: Server;
  let url: string;
  let seen: { path: string; authorization: string | undefined }[];

  beforeAll(async () => {
    h = await startGatewayHarness();
    seen = [];
    server = createServer((req, res) => {
      seen.push({ path: req.url ?? '', authorization: req.headers.authorization });
      const tail = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('tail'));
      res.writeHead(200, { 'content-type': 'application/json' });
      if (tail === 9999) {
        // A node whose answer never ends.
        res.write('{"object":"list","data":["');
        const timer = setInterval(() => res.write('x'.repeat(64 * 1024)), 1);
        res.on('close', () => clearInterval(timer));
        return;
      }
      res.end(
        JSON.stringify({
          object: 'list',
          data: Array.from({ length: tail }, (_, i) => `line ${i}`),
        }),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    await h.close();
  });

  it("reads the engine's last lines from the node, with a JWT for that node and instance", async () => {
    const node = await h.registerNode('logs-node', url);
    await h.heartbeat(node.node_secret);
    const dep = await h.adminOk(DeploymentSchema, 'POST', '/deployments', {
      model: 'logged',
      recipe: 'sim',
      placement: { node_id: node.node_id },
    });
    const instanceId = dep.body.instances[0]?.id ?? '';
    const res = await h.adminOk(
      DeploymentLogsSchema,
      'GET',
      `/deployments/${dep.body.id}/logs?tail=3&replica=0`,
    );
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual(['line 0', 'line 1', 'line 2']);
    expect(res.body.instance_id).toBe(instanceId);
    const request = seen.at(-1);
    expect(request?.path).toBe(`/fleetgate/v1/instances/${instanceId}/logs?tail=3`);
    const jwt = /^Bearer (.+)$/.exec(request?.authorization ?? '')?.[1] ?? '';
    const { payload } = await jwtVerify(jwt, createLocalJWKSet(h.signer.jwks()), {
      issuer: DATA_PLANE_JWT_ISSUER,
      audience: node.node_id,
    });
    expect(payload).toMatchObject({ instance: instanceId, model: 'logged' });

    expectError(
      await h.admin('GET', `/deployments/${dep.body.id}/logs?tail=9999`),
      502,
      'upstream_response_too_large',
    );
    expectError(await h.admin('GET', `/deployments/${dep.body.id}/logs?tail=0`), 400);
    expectError(await h.admin('GET', `/deployments/${dep.body.id}/logs?replica=4`), 404);
    h.clock.advance(3 * HEARTBEAT_S * 1000 + 1000);
    expectError(await h.admin('GET', `/deployments/${dep.body.id}/logs`), 503, 'node_offline');
  });
});
