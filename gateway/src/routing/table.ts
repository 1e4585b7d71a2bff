// The routing table: for every deployed model name, the ready instances on online nodes.
// One query loads all of it (deployed names included, so an unknown model can be told
// from a known one with nothing ready), and each app instance caches it for
// config.cacheTtlMs, so a request costs at most one database round trip on a cache miss.
import { DEFAULT_ROUTING_POLICY, type RoutingPolicy } from '../../../schema/contracts.ts';
import { offlineAfterMs } from '../control-plane/liveness.ts';
import { createSharedLoads, orStaleAfter, SHARED_LOAD_WAIT_MS } from '../lib/shared-load.ts';
import type { Db } from '../store/db.ts';
import { DB_TIMEOUT_MS, withDbTimeout } from '../store/timeout.ts';
import { selectRoutes } from '../store/deployments.ts';
import { endpointsOf, type OpenAIPath } from '../../../schema/endpoints.ts';
import { capacityOf, engineFiguresOf, type EngineFigures } from './figures.ts';

export interface Target {
  instanceId: string;
  deploymentId: string;
  nodeId: string;
  advertiseUrl: string;
  // Sequences the engine runs at once (its max_num_seqs): load is counted against it.
  capacity: number;
}

export interface ModelRoutes {
  model: string;
  // Unix seconds of the oldest deployment of this name (the `created` of /v1/models).
  created: number;
  // The routing policy of the oldest deployment of this name (several deployments of one
  // model, on different hardware say, share one policy).
  policy: RoutingPolicy;
  // Ready instances on online nodes, in a stable order; empty when none is ready.
  targets: Target[];
  // What each target's engine reported in its node's last heartbeat, by instance id;
  // kept apart from the gateway's own live figures (live.ts).
  engine: Map<string, EngineFigures>;
  // The API paths some deployment of this name serves (schema/endpoints.ts); absent: all.
  served?: ReadonlySet<OpenAIPath>;
  // Where the model's deployments serve different paths: the routes of each path, with
  // only the targets that serve it. Absent when they all serve the same.
  byPath?: ReadonlyMap<OpenAIPath, ModelRoutes>;
}

// The routes of one API path: undefined when no deployment of the model serves it.
export function routesFor(routes: ModelRoutes, path: OpenAIPath): ModelRoutes | undefined {
  if (routes.served && !routes.served.has(path)) return undefined;
  return routes.byPath?.get(path) ?? routes;
}

export type RoutingTable = ReadonlyMap<string, ModelRoutes>;

export async function loadRoutingTable(
  db: Db,
  opts: { now: number; heartbeatIntervalS: number },
): Promise<RoutingTable> {
  const rows = await selectRoutes(db, opts);

  const table = new Map<string, ModelRoutes>();
  // What each deployment serves, by deployment id.
  const serves = new Map<string, ReadonlySet<OpenAIPath>>();
  // The oldest deployment of each model so far, whose policy the model takes.
  const oldest = new Map<string, { createdAt: number; id: string }>();
  for (const row of rows) {
    const created = Math.floor(row.createdAt / 1000);
    let routes = table.get(row.model);
    if (!routes) {
      routes = { model: row.model, created, policy: row.routing, targets: [], engine: new Map() };
      table.set(row.model, routes);
    }
    routes.created = Math.min(routes.created, created);
    let paths = serves.get(row.deploymentId);
    if (!paths) {
      paths = new Set(endpointsOf(row.recipe, row.options));
      serves.set(row.deploymentId, paths);
      routes.served = new Set([...(routes.served ?? []), ...paths]);
    }
    const first = oldest.get(row.model);
    if (
      !first ||
      row.createdAt < first.createdAt ||
      (row.createdAt === first.createdAt && row.deploymentId < first.id)
    ) {
      oldest.set(row.model, { createdAt: row.createdAt, id: row.deploymentId });
      routes.policy = row.routing ?? DEFAULT_ROUTING_POLICY;
    }
    // Instance ready but its node offline: the node join came back empty.
    if (row.instanceId === null || row.nodeId === null || row.advertiseUrl === null) continue;
    routes.targets.push({
      instanceId: row.instanceId,
      deploymentId: row.deploymentId,
      nodeId: row.nodeId,
      advertiseUrl: row.advertiseUrl,
      capacity: capacityOf(row.options),
    });
    const figures = engineFiguresOf(row.metrics);
    if (figures) routes.engine.set(row.instanceId, figures);
  }
  for (const routes of table.values()) splitByPath(routes, serves);
  return table;
}

// Sets routes.byPath where some ready target does not serve every path the model serves.
function splitByPath(routes: ModelRoutes, serves: ReadonlyMap<string, ReadonlySet<OpenAIPath>>) {
  const served = routes.served;
  if (!served) return;
  const partial = routes.targets.some((t) => (serves.get(t.deploymentId)?.size ?? 0) < served.size);
  if (!partial) return;
  const byPath = new Map<OpenAIPath, ModelRoutes>();
  for (const path of served) {
    const targets = routes.targets.filter((t) => serves.get(t.deploymentId)?.has(path));
    byPath.set(path, { ...routes, targets });
  }
  routes.byPath = byPath;
}

export interface RoutingCache {
  get(): Promise<RoutingTable>;
}

export interface RoutingCacheOptions {
  // How long a loaded table is served without a reload, in ms.
  cacheTtlMs: number;
  heartbeatIntervalS: number;
  now: () => number;
  // How long a miss waits for a reload another request started before starting its own,
  // and how long a reload may take before the previous table is served instead.
  // Default SHARED_LOAD_WAIT_MS.
  sharedLoadWaitMs?: number;
  // How long a load waits for the database. Default DB_TIMEOUT_MS.
  dbTimeoutMs?: number;
}

export function createRoutingCache(db: Db, opts: RoutingCacheOptions): RoutingCache {
  return cacheRoutingTable(
    (now) =>
      withDbTimeout(
        loadRoutingTable(db, { now, heartbeatIntervalS: opts.heartbeatIntervalS }),
        opts.dbTimeoutMs ?? DB_TIMEOUT_MS,
        'routing table load',
      ),
    opts,
  );
}

// The caching around any table loader (createRoutingCache's, or a test's).
export function cacheRoutingTable(
  loadTable: (now: number) => Promise<RoutingTable>,
  opts: RoutingCacheOptions,
): RoutingCache {
  let cached: { table: RoutingTable; loadedAt: number } | undefined;
  // Concurrent misses share one load instead of each querying the database (with a bounded
  // wait: lib/shared-load.ts says why).
  const loading = createSharedLoads<'table', RoutingTable>({ waitMs: opts.sharedLoadWaitMs });
  const staleAfterMs = opts.sharedLoadWaitMs ?? SHARED_LOAD_WAIT_MS;
  // While a reload fails or is slow, a table this young is still served (nodes that died
  // meanwhile are caught by the proxy's retry); older than this, the error reaches the
  // client.
  const maxStaleMs = offlineAfterMs(opts.heartbeatIntervalS);

  const load = async (): Promise<RoutingTable> => {
    const now = opts.now();
    const table = await loadTable(now);
    cached = { table, loadedAt: now };
    return table;
  };

  return {
    get() {
      const now = opts.now();
      if (cached && now - cached.loadedAt < opts.cacheTtlMs) {
        return Promise.resolve(cached.table);
      }
      const reload = loading.run('table', load);
      if (!cached || now - cached.loadedAt > maxStaleMs) return reload;
      return orStaleAfter(reload, cached.table, staleAfterMs, 'routing table reload');
    },
  };
}
