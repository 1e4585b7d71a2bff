// /admin/v1/nodes: the registered GPU machines, whether they are online (a heartbeat in
// the last 3 intervals), their GPUs, last reported load and the instances they run.
import { asc, eq } from 'drizzle-orm';
import { Hono } from 'hono';
import { deploymentInstances, nodes } from '../../../schema/db.ts';
import { notFound } from '../errors.ts';
import { toUnixSeconds, toUnixSecondsOrNull } from '../lib/time.ts';
import { isOnline } from '../nodes/scheduler.ts';
import { instancesBy, type InstanceView } from '../store/instances.ts';
import type { AppDeps, AppEnv } from '../types.ts';
import type { AdminContext } from './context.ts';
import { replan } from './replan.ts';

type NodeRow = typeof nodes.$inferSelect;

export function nodesApp(deps: AppDeps, ctx: AdminContext): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const now = deps.now ?? Date.now;
  const { heartbeatIntervalS } = deps.config;

  function nodeView(row: NodeRow, instances: InstanceView[]) {
    const online = isOnline(
      { id: row.id, gpuCount: row.gpus.length, lastHeartbeatAt: row.lastHeartbeatAt },
      now(),
      heartbeatIntervalS,
    );
    return {
      id: row.id,
      object: 'node' as const,
      name: row.name,
      advertise_url: row.advertiseUrl,
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
    const [rows, instances] = await Promise.all([
      deps.db.select().from(nodes).orderBy(asc(nodes.createdAt), asc(nodes.id)),
      instancesBy(deps.db, 'node'),
    ]);
    return c.json({
      object: 'list',
      data: rows.map((r) => nodeView(r, instances.get(r.id) ?? [])),
    });
  });

  app.get('/:id', async (c) => {
    const id = c.req.param('id');
    const [[row], instances] = await Promise.all([
      deps.db.select().from(nodes).where(eq(nodes.id, id)).limit(1),
      instancesBy(deps.db, 'node', id),
    ]);
    if (!row) throw notFound(`no node with id '${id}'`, 'node_not_found', 'id');
    return c.json(nodeView(row, instances.get(id) ?? []));
  });

  // Removes the node and its instances (explicitly: SQLite foreign keys may be off); its
  // secret stops working at once, and unpinned replicas are placed elsewhere.
  app.delete('/:id', async (c) => {
    const id = c.req.param('id');
    const [, removed] = await deps.db.batch([
      deps.db.delete(deploymentInstances).where(eq(deploymentInstances.nodeId, id)),
      deps.db.delete(nodes).where(eq(nodes.id, id)).returning({ id: nodes.id }),
    ]);
    if (removed.length === 0) throw notFound(`no node with id '${id}'`, 'node_not_found', 'id');
    await replan(ctx);
    return c.json({ id, object: 'node' as const, deleted: true });
  });

  return app;
}
