// The routing table: for every deployed model name, the ready instances on online nodes.
// One query loads all of it (deployed names included, so an unknown model can be told
// from a known one with nothing ready), and each app instance caches it for
// config.cacheTtlMs, so a request costs at most one database round trip on a cache miss.
import { offlineAfterMs } from '../control-plane/liveness.ts';
import type { Db } from '../store/db.ts';
import { selectRoutes } from '../store/deployments.ts';

export interface Target {
  instanceId: string;
  deploymentId: string;
  nodeId: string;
  advertiseUrl: string;
}

export interface ModelRoutes {
  model: string;
  // Unix seconds of the oldest deployment of this name (the `created` of /v1/models).
  created: number;
  // Ready instances on online nodes, in a stable order; empty when none is ready.
  targets: Target[];
}

export type RoutingTable = ReadonlyMap<string, ModelRoutes>;

export async function loadRoutingTable(
  db: Db,
  opts: { now: number; heartbeatIntervalS: number },
): Promise<RoutingTable> {
  const rows = await selectRoutes(db, opts);

  const table = new Map<string, ModelRoutes>();
  for (const row of rows) {
    const created = Math.floor(row.createdAt / 1000);
    let routes = table.get(row.model);
    if (!routes) {
      routes = { model: row.model, created, targets: [] };
      table.set(row.model, routes);
    }
    routes.created = Math.min(routes.created, created);
    // Instance ready but its node offline: the node join came back empty.
    if (row.instanceId === null || row.nodeId === null || row.advertiseUrl === null) continue;
    routes.targets.push({
      instanceId: row.instanceId,
      deploymentId: row.deploymentId,
      nodeId: row.nodeId,
      advertiseUrl: row.advertiseUrl,
    });
  }
  return table;
}

export interface RoutingCache {
  get(): Promise<RoutingTable>;
}

export function createRoutingCache(
  db: Db,
  opts: { cacheTtlMs: number; heartbeatIntervalS: number; now: () => number },
): RoutingCache {
  let cached: { table: RoutingTable; loadedAt: number } | undefined;
  // Concurrent misses share one load instead of each querying the database.
  let loading: Promise<RoutingTable> | undefined;
  // When a reload fails, a table this young is still served (nodes that died meanwhile
  // are caught by the proxy's retry); older than this, the error reaches the client.
  const maxStaleMs = offlineAfterMs(opts.heartbeatIntervalS);

  const load = async (): Promise<RoutingTable> => {
    const now = opts.now();
    try {
      const table = await loadRoutingTable(db, {
        now,
        heartbeatIntervalS: opts.heartbeatIntervalS,
      });
      cached = { table, loadedAt: now };
      return table;
    } catch (err) {
      if (cached && now - cached.loadedAt <= maxStaleMs) {
        console.error('routing table reload failed; serving the previous one:', err);
        return cached.table;
      }
      throw err;
    } finally {
      loading = undefined;
    }
  };

  return {
    get() {
      if (cached && opts.now() - cached.loadedAt < opts.cacheTtlMs) {
        return Promise.resolve(cached.table);
      }
      loading ??= load();
      return loading;
    },
  };
}
