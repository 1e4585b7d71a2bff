// The node API (/node/v1): GPU machines register with a registration token, then
// heartbeat with their node secret and get back the instances they should run. Pull-based,
// so nodes behind NAT need no inbound connection for the control plane.
import { Hono } from 'hono';
import {
  DAEMON_PROTOCOL_VERSION,
  DATA_PLANE_JWT_ISSUER,
  HeartbeatRequestSchema,
  RegisterRequestSchema,
  type DataPlaneKey,
  type DesiredInstance,
  type HeartbeatResponse,
  type InstanceStatus,
  type RegisterResponse,
} from '../../../schema/contracts.ts';
import { nodeModeOf, TUNNEL_ADVERTISE_URL } from '../../../schema/tunnel.ts';
import { parseRecipeOptions } from '../../../schema/recipes.ts';
import { bearerToken, generateSecret, hashSecret, looksLike } from '../auth/secrets.ts';
import { ApiError, badRequest, conflict, unauthorized } from '../errors.ts';
import { newId } from '../lib/ids.ts';
import { readJson } from '../lib/json-body.ts';
import { isDataPlaneSigner } from '../signing/node-keys.ts';
import { instancesAssignedTo } from '../store/instances.ts';
import {
  findNodeBySecretHash,
  findNodeIdByName,
  recordHeartbeat,
  registerNode,
} from '../store/nodes.ts';
import { findTokenByHash } from '../store/registration-tokens.ts';
import type { Db } from '../store/db.ts';
import type { AppDeps, AppEnv } from '../types.ts';
import { isOnline } from './liveness.ts';
import type { Reconciler } from './reconcile.ts';

function credential(header: string | undefined, what: string): string {
  const token = bearerToken(header);
  if (token === undefined)
    throw unauthorized(
      `missing ${what}: send Authorization: Bearer <${what}>`,
      'invalid_node_credentials',
    );
  if (token === null) {
    throw unauthorized(
      `malformed Authorization header: expected 'Bearer <${what}>'`,
      'invalid_node_credentials',
    );
  }
  return token;
}

function nameTaken(name: string, id: string | undefined) {
  const fix =
    id === undefined
      ? 'choose another name'
      : `(${id}); remove it with DELETE /admin/v1/nodes/${id} or choose another name`;
  return conflict(
    `a node named '${name}' is already registered${id === undefined ? ';' : ''} ${fix}`,
    'node_name_taken',
  );
}

// A pull-progress or failure detail as one line for the admin API.
function detailOf(status: ReturnType<typeof HeartbeatRequestSchema.parse>['instances'][number]) {
  if (status.state === 'pulling' && status.progress) {
    const { bytes, total_bytes: total, percent } = status.progress;
    const amount = `${(bytes / 1e6).toFixed(1)} MB${total ? ` of ${(total / 1e6).toFixed(1)} MB` : ''}`;
    const pulled = `pulling: ${amount}${percent === undefined ? '' : ` (${percent.toFixed(0)}%)`}`;
    return status.detail ? `${pulled}; ${status.detail}` : pulled;
  }
  return status.detail ?? null;
}

// The node a node secret belongs to; 401 for anything else.
export async function nodeBySecret(db: Db, authorization: string | undefined) {
  const secret = credential(authorization, 'node secret');
  if (!looksLike('nodeSecret', secret)) {
    throw unauthorized('invalid node secret: node secrets start with fgn-', 'invalid_node_secret');
  }
  const node = await findNodeBySecretHash(db, await hashSecret(secret));
  if (!node) {
    throw unauthorized(
      'unknown node secret: the node was removed or never registered; register it again',
      'invalid_node_secret',
    );
  }
  return node;
}

// The node whose tunnel a GET /node/v1/tunnel opens: its secret, and registered in tunnel
// mode (a direct node is reached at its address; a tunnel would be a second way in).
export async function tunnelNodeFor(db: Db, authorization: string | undefined) {
  const node = await nodeBySecret(db, authorization);
  if (nodeModeOf(node.advertiseUrl) !== 'tunnel') {
    throw conflict(
      `node '${node.id}' is registered in direct mode; register it with --tunnel to use a tunnel`,
      'node_not_in_tunnel_mode',
    );
  }
  return node;
}

export function nodeApiApp(deps: AppDeps, reconciler: Reconciler): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const now = deps.now ?? Date.now;
  const { db, signer } = deps;
  const { heartbeatIntervalS } = deps.config;
  // The node's own data-plane key, for answers to that node only (gateway/src/signing/
  // node-keys.ts); none from a signer that signs ES256 only.
  const dataPlaneKey = async (nodeId: string): Promise<{ data_plane_key?: DataPlaneKey }> =>
    isDataPlaneSigner(signer) ? { data_plane_key: await signer.nodeKey(nodeId) } : {};

  app.get('/jwks', (c) => c.json(signer.jwks()));

  app.post('/register', async (c) => {
    const token = credential(c.req.header('authorization'), 'registration token');
    if (!looksLike('registrationToken', token)) {
      throw unauthorized(
        'invalid registration token: tokens start with fgr-',
        'invalid_registration_token',
      );
    }
    const found = await findTokenByHash(db, await hashSecret(token));
    const at = now();
    if (!found) {
      throw unauthorized(
        'unknown registration token: create one with POST /admin/v1/registration-tokens',
        'invalid_registration_token',
      );
    }
    if (found.expiresAt <= at) {
      throw unauthorized(
        `registration token expired at ${new Date(found.expiresAt).toISOString()}`,
        'expired_registration_token',
      );
    }
    if (found.uses >= found.maxUses) {
      throw unauthorized(
        `registration token is used up (${found.maxUses} use(s))`,
        'registration_token_used_up',
      );
    }
    const body = await readJson(c, RegisterRequestSchema);
    if (body.protocol_version !== DAEMON_PROTOCOL_VERSION) {
      throw badRequest(
        `unsupported daemon protocol version ${body.protocol_version}; this gateway speaks ${DAEMON_PROTOCOL_VERSION}`,
        'protocol_version',
        'unsupported_protocol_version',
      );
    }
    const sameName = await findNodeIdByName(db, body.name);
    if (sameName !== undefined) throw nameTaken(body.name, sameName);
    const secret = generateSecret('nodeSecret');
    const nodeId = newId('node');
    const outcome = await registerNode(
      db,
      {
        id: nodeId,
        name: body.name,
        advertiseUrl:
          body.mode === 'tunnel'
            ? TUNNEL_ADVERTISE_URL
            : (body.advertise_url ?? TUNNEL_ADVERTISE_URL),
        secretHash: await hashSecret(secret),
        daemonVersion: body.daemon_version,
        gpus: body.gpus,
      },
      found.id,
      at,
    );
    if (outcome === 'name_taken') throw nameTaken(body.name, await findNodeIdByName(db, body.name));
    if (outcome === 'token_used_up') {
      throw unauthorized('registration token is used up', 'registration_token_used_up');
    }
    const answer: RegisterResponse = {
      node_id: nodeId,
      node_secret: secret,
      jwks: signer.jwks(),
      heartbeat_interval_s: heartbeatIntervalS,
      issuer: DATA_PLANE_JWT_ISSUER,
      ...(await dataPlaneKey(nodeId)),
    };
    return c.json(answer, 201);
  });

  // The daemon's dial-out tunnel (schema/tunnel.ts). The host holds the socket
  // (AppDeps.tunnels): on the Node host the server's upgrade handler answers before this
  // route (gateway/src/tunnel/node-host.ts), so here only the Worker's upgrades arrive.
  app.get('/tunnel', async (c) => {
    const node = await tunnelNodeFor(db, c.req.header('authorization'));
    if (c.req.header('upgrade')?.toLowerCase() !== 'websocket' || !deps.tunnels) {
      throw new ApiError(
        426,
        'invalid_request_error',
        'GET /node/v1/tunnel opens a WebSocket: send Upgrade: websocket',
        'upgrade_required',
      );
    }
    return deps.tunnels.accept(c.req.raw, node.id);
  });

  app.post('/heartbeat', async (c) => {
    const node = await nodeBySecret(db, c.req.header('authorization'));
    const body = await readJson(c, HeartbeatRequestSchema);
    // HS256 tokens for this node from now on if it holds the current key, ES256 otherwise.
    if (isDataPlaneSigner(signer)) signer.noteNodeKey(node.id, body.data_plane_key_id);
    const at = now();
    const wasOnline = isOnline(node, at, heartbeatIntervalS);
    const gpuCountChanged = node.gpus.length !== body.gpus.length;

    await recordHeartbeat(
      db,
      node.id,
      {
        at,
        daemonVersion: body.daemon_version,
        gpus: body.gpus,
        stats: {
          in_flight: body.in_flight,
          queued: body.queued,
          free_gpu_indices: body.free_gpu_indices,
        },
      },
      body.instances.map((s) => ({
        instanceId: s.instance_id,
        state: s.state,
        detail: detailOf(s),
        gpuIndices: s.gpu_indices,
        metrics: metricsOf(s),
      })),
    );

    // A node that just came (back) online, or whose GPUs changed, may change placement at
    // once; otherwise placement is re-checked at most once per interval.
    if (!wasOnline || gpuCountChanged) {
      try {
        await reconciler.run();
      } catch (err) {
        console.error('placement on heartbeat failed:', err instanceof Error ? err.message : err);
      }
    } else {
      await reconciler.runIfDue();
    }

    const answer: HeartbeatResponse = {
      node_id: node.id,
      desired: desiredOf(await instancesAssignedTo(db, node.id)),
      heartbeat_interval_s: heartbeatIntervalS,
      jwks: signer.jwks(),
      ...(await dataPlaneKey(node.id)),
    };
    return c.json(answer);
  });

  return app;
}

function metricsOf(
  status: InstanceStatus & { in_flight: number; restarts: number },
): Record<string, number> {
  const metrics: Record<string, number> = {
    in_flight: status.in_flight,
    restarts: status.restarts,
  };
  for (const [name, value] of Object.entries(status.metrics ?? {})) {
    if (typeof value === 'number') metrics[name] = value;
  }
  return metrics;
}

function desiredOf(rows: Awaited<ReturnType<typeof instancesAssignedTo>>): DesiredInstance[] {
  return rows.map((r) => {
    const parsed = parseRecipeOptions(r.recipe, r.options);
    return {
      instance_id: r.instanceId,
      deployment_id: r.deploymentId,
      model: r.model,
      recipe: r.recipe,
      options: r.options,
      gpus: parsed.ok ? parsed.gpus : 0,
    };
  });
}
