// /admin/v1/nodes: the registered GPU machines, whether they are online (a heartbeat in
// the last 3 intervals), their GPUs, last reported load and the instances they run.
import { Hono } from 'hono';
import { isOnline } from '../control-plane/liveness.ts';
import { notFound } from '../errors.ts';
import { toUnixSeconds, toUnixSecondsOrNull } from '../lib/time.ts';
import { instancesBy, type InstanceView } from '../store/instances.ts';
import { deleteNodeWithInstances, findNode, listNodes, type NodeRow } from '../store/nodes.ts';
import type { Node as AdminNode } from '../../../schema/admin.ts';
import { nodeModeOf } from '../../../schema/tunnel.ts';
import type { AppDeps, AppEnv } from '../types.ts';
import type { AdminContext } from './context.ts';
import { replan } from './replan.ts';

export function nodesApp(deps: AppDeps, ctx: AdminContext): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const now = deps.now ?? Date.now;
  const { heartbeatIntervalS } = deps.config;

  async function nodeView(row: NodeRow, instances: InstanceView[]): Promise<AdminNode> {
    const online = isOnline(row, now(), heartbeatIntervalS);
    const mode = nodeModeOf(row.advertiseUrl);
    return {
      id: row.id,
      object: 'node' as const,
      name: row.name,
      advertise_url: row.advertiseUrl,
      mode,
      tunnel_connected:
        mode === 'tunnel' ? ((await deps.tunnels?.connected(row.id)) ?? false) : null,
      status: online ? ('online' as const) : ('offline' as const),
      daemon_version: row.daemonVersion,
      gpus: row.gpus,
      stats: row.stats ?? null,
      created_at: toUnixSeconds(row.createdAt),
      last_heartbeat_at: toUnixSecondsOrNull(row.lastHeartbeatAt),
      instances,
    };
  }

  app.get('/', async (c) => {
    const [rows, instances] = await Promise.all([listNodes(deps.db), instancesBy(deps.db, 'node')]);
    return c.json({
      object: 'list',
      data: await Promise.all(rows.map((r) => nodeView(r, instances.get(r.id) ?? []))),
    });
  });

  app.get('/:id', async (c) => {
    const id = c.req.param('id');
    const [row, instances] = await Promise.all([
      findNode(deps.db, id),
      instancesBy(deps.db, 'node', id),
    ]);
    if (!row) throw notFound(`no node with id '${id}'`, 'node_not_found', 'id');
    return c.json(await nodeView(row, instances.get(id) ?? []));
  });

  // Removes the node and its instances; its secret stops working at once, and unpinned
  // replicas are placed elsewhere.
  app.delete('/:id', async (c) => {
    const id = c.req.param('id');
    if (!(await deleteNodeWithInstances(deps.db, id)))
      throw notFound(`no node with id '${id}'`, 'node_not_found', 'id');
    await replan(ctx);
    return c.json({ id, object: 'node' as const, deleted: true });
  });

  return app;
}
