// Applies the placement rules (scheduler.ts) to the database: loads deployments, nodes and
// instances, plans, and writes the changes (store/placement.ts). Runs after every
// deployment or node change and, throttled, on heartbeats. Within one process runs are
// serialized; across hosts, inserts ignore a replica another host placed first (unique
// deployment/replica index), so concurrent runs cannot double-place a replica.
import { parseRecipeOptions } from '../../../schema/recipes.ts';
import { SHARED_LOAD_WAIT_MS, settledWithin } from '../lib/shared-load.ts';
import type { Db } from '../store/db.ts';
import { loadPlacementState, writePlacement } from '../store/placement.ts';
import { planPlacement, type Plan } from './scheduler.ts';

export async function reconcilePlacement(
  db: Db,
  opts: { now: number; heartbeatIntervalS: number },
): Promise<Plan> {
  const plan = await previewPlacement(db, opts);
  await writePlacement(
    db,
    { removeIds: plan.remove.map((r) => r.instanceId), create: plan.create },
    opts.now,
  );
  return plan;
}

// The plan placement would make now, without writing it: what the admin API shows as the
// replicas that fit nowhere, and why (so the reason follows the fleet as it changes).
export async function previewPlacement(
  db: Db,
  opts: { now: number; heartbeatIntervalS: number },
): Promise<Plan> {
  const state = await loadPlacementState(db);
  return planPlacement({
    deployments: state.deployments
      .sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id))
      .map((d) => {
        const parsed = parseRecipeOptions(d.recipe, d.options);
        return {
          id: d.id,
          replicas: d.replicas,
          // Options were validated on the way in; a schema change since then must not
          // stop placement of everything else.
          gpus: parsed.ok ? parsed.gpus : 0,
          nodeId: d.placement.node_id ?? null,
        };
      }),
    nodes: state.nodes.map((n) => ({
      id: n.id,
      name: n.name,
      gpuCount: n.gpus.length,
      lastHeartbeatAt: n.lastHeartbeatAt,
    })),
    instances: state.instances,
    now: opts.now,
    heartbeatIntervalS: opts.heartbeatIntervalS,
  });
}

export interface Reconciler {
  // Runs now (after any run in progress) and returns its plan.
  run(): Promise<Plan>;
  // Runs only if the last run is older than minIntervalMs; never throws (logs instead).
  runIfDue(): Promise<void>;
}

export function createReconciler(
  db: Db,
  opts: { heartbeatIntervalS: number; now: () => number },
): Reconciler {
  return serializeRuns(
    (now) => reconcilePlacement(db, { now, heartbeatIntervalS: opts.heartbeatIntervalS }),
    { minIntervalMs: opts.heartbeatIntervalS * 1000, now: opts.now },
  );
}

// Runs `place` one run at a time. A run waits for the one before it at most waitMs: on
// Workers the run before may belong to a request that was canceled, and then it never
// settles (lib/shared-load.ts); a run that cannot wait for it proceeds, which is safe, as
// concurrent runs on several hosts are (see the top of this file).
export function serializeRuns(
  place: (now: number) => Promise<Plan>,
  opts: { minIntervalMs: number; now: () => number; waitMs?: number },
): Reconciler {
  const waitMs = opts.waitMs ?? SHARED_LOAD_WAIT_MS;
  let lastRunAt = Number.NEGATIVE_INFINITY;
  let previous: Promise<unknown> = Promise.resolve();

  function run(): Promise<Plan> {
    const next = settledWithin(previous, waitMs).then(() => {
      lastRunAt = opts.now();
      return place(lastRunAt);
    });
    previous = next;
    return next;
  }

  return {
    run,
    async runIfDue() {
      if (opts.now() - lastRunAt < opts.minIntervalMs) return;
      try {
        await run();
      } catch (err) {
        console.error('placement failed:', err instanceof Error ? err.message : err);
      }
    },
  };
}
