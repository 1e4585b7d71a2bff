// Placement: which node runs which replica of each deployment. Pure (no I/O) so every rule
// is unit-tested; reconcile.ts loads the state, runs this and writes the plan.
//
// Rules, in order:
// - an instance stays where it is while its node exists, its deployment still wants that
//   replica, and a pinned deployment is pinned to that node;
// - a replica whose node has been silent for MOVE_AFTER_INTERVALS heartbeats (liveness.ts)
//   moves to an online node with room, if there is one (a node that is merely late keeps
//   its work);
// - a missing replica goes to the pinned node (online or not: the operator chose it, and
//   the node reports why it cannot run it), or else to the online node with enough free
//   GPUs that runs the fewest instances, preferring nodes without a replica of the same
//   deployment; with no such node it stays unplaced until one appears, and the plan says
//   why (each node's free GPUs or that it is offline), for the admin API and the CLI.

import { isOnline, isStranded } from './liveness.ts';

export interface PlacementDeployment {
  id: string;
  replicas: number;
  // GPUs each replica needs (the recipe's `gpus` option or its default).
  gpus: number;
  // Pinned node, or null for any node.
  nodeId: string | null;
}

export interface PlacementNode {
  id: string;
  // Shown in reasons (the id when absent).
  name?: string;
  gpuCount: number;
  lastHeartbeatAt: number | null;
}

export interface PlacementInstance {
  id: string;
  deploymentId: string;
  nodeId: string;
  replica: number;
}

export type RemovalReason =
  'deployment_gone' | 'node_gone' | 'not_pinned_node' | 'surplus' | 'duplicate' | 'moved';

export interface Plan {
  create: { deploymentId: string; nodeId: string; replica: number }[];
  remove: { instanceId: string; reason: RemovalReason }[];
  // Replicas no node can take now, per deployment, and why (one line for operators).
  unplaced: { deploymentId: string; replicas: number[]; reason: string }[];
}

export interface PlacementInput {
  deployments: readonly PlacementDeployment[];
  nodes: readonly PlacementNode[];
  instances: readonly PlacementInstance[];
  now: number;
  heartbeatIntervalS: number;
}

interface Load {
  gpus: number;
  instances: number;
  deployments: Map<string, number>;
}

export function planPlacement(input: PlacementInput): Plan {
  const { now, heartbeatIntervalS } = input;
  const nodes = new Map(input.nodes.map((n) => [n.id, n]));
  const deployments = new Map(input.deployments.map((d) => [d.id, d]));
  const plan: Plan = { create: [], remove: [], unplaced: [] };

  // Pass 1: drop what no deployment wants; the rest is kept (for now) and loads its node.
  const kept = new Map<string, Map<number, PlacementInstance>>();
  const load = new Map<string, Load>(
    input.nodes.map((n) => [n.id, { gpus: 0, instances: 0, deployments: new Map() }]),
  );
  const addLoad = (nodeId: string, deploymentId: string, gpus: number, sign: 1 | -1) => {
    const l = load.get(nodeId);
    if (!l) return;
    l.gpus += sign * gpus;
    l.instances += sign;
    l.deployments.set(deploymentId, (l.deployments.get(deploymentId) ?? 0) + sign);
  };
  const sorted = [...input.instances].sort(
    (a, b) => a.replica - b.replica || a.id.localeCompare(b.id),
  );
  for (const inst of sorted) {
    const dep = deployments.get(inst.deploymentId);
    let reason: RemovalReason | undefined;
    if (!dep) reason = 'deployment_gone';
    else if (!nodes.has(inst.nodeId)) reason = 'node_gone';
    else if (dep.nodeId !== null && dep.nodeId !== inst.nodeId) reason = 'not_pinned_node';
    else if (inst.replica >= dep.replicas || inst.replica < 0) reason = 'surplus';
    else if (kept.get(dep.id)?.has(inst.replica)) reason = 'duplicate';
    if (reason || !dep) {
      plan.remove.push({ instanceId: inst.id, reason: reason ?? 'deployment_gone' });
      continue;
    }
    let replicas = kept.get(dep.id);
    if (!replicas) kept.set(dep.id, (replicas = new Map<number, PlacementInstance>()));
    replicas.set(inst.replica, inst);
    addLoad(inst.nodeId, dep.id, dep.gpus, 1);
  }

  const candidates = input.nodes
    .filter((n) => isOnline(n, now, heartbeatIntervalS))
    .sort((a, b) => a.id.localeCompare(b.id));

  function pick(dep: PlacementDeployment, exclude?: string): string | undefined {
    let best: { node: PlacementNode; l: Load } | undefined;
    for (const node of candidates) {
      const l = load.get(node.id);
      if (!l || node.id === exclude || node.gpuCount - l.gpus < dep.gpus) continue;
      if (!best || better(dep.id, node, l, best.node, best.l)) best = { node, l };
    }
    return best?.node.id;
  }

  // Pass 2: move stranded replicas, then fill the missing ones, deployment by deployment.
  for (const dep of input.deployments) {
    const replicas = kept.get(dep.id) ?? new Map<number, PlacementInstance>();
    const missing: number[] = [];
    for (let replica = 0; replica < dep.replicas; replica++) {
      const inst = replicas.get(replica);
      if (!inst) {
        missing.push(replica);
        continue;
      }
      const node = nodes.get(inst.nodeId);
      if (dep.nodeId !== null || !node || !isStranded(node, now, heartbeatIntervalS)) continue;
      const target = pick(dep, inst.nodeId);
      if (!target) continue;
      plan.remove.push({ instanceId: inst.id, reason: 'moved' });
      addLoad(inst.nodeId, dep.id, dep.gpus, -1);
      plan.create.push({ deploymentId: dep.id, nodeId: target, replica });
      addLoad(target, dep.id, dep.gpus, 1);
    }
    const unplaced: number[] = [];
    let reason = '';
    for (const replica of missing) {
      const target = dep.nodeId ?? pick(dep);
      if (target === undefined || !nodes.has(target)) {
        // Said with the fleet as it is when the first replica fails to fit.
        if (unplaced.length === 0)
          reason = whyUnplaced(dep, input.nodes, load, now, heartbeatIntervalS);
        unplaced.push(replica);
        continue;
      }
      plan.create.push({ deploymentId: dep.id, nodeId: target, replica });
      addLoad(target, dep.id, dep.gpus, 1);
    }
    if (unplaced.length > 0) {
      plan.unplaced.push({ deploymentId: dep.id, replicas: unplaced, reason });
    }
  }
  return plan;
}

// Why no node can take a replica of `dep`, as GPUStack says it:
// "no online node has 1 free GPU; gpu-1: 0 of 2 free, gpu-2: offline".
function whyUnplaced(
  dep: PlacementDeployment,
  nodes: readonly PlacementNode[],
  load: ReadonlyMap<string, Load>,
  now: number,
  heartbeatIntervalS: number,
): string {
  if (dep.nodeId !== null) return `pinned node '${dep.nodeId}' is not registered`;
  if (nodes.length === 0) return 'no node is registered';
  const each = [...nodes]
    .sort((a, b) => (a.name ?? a.id).localeCompare(b.name ?? b.id))
    .map((n) => {
      const name = n.name ?? n.id;
      if (!isOnline(n, now, heartbeatIntervalS)) return `${name}: offline`;
      const free = n.gpuCount - (load.get(n.id)?.gpus ?? 0);
      return `${name}: ${free} of ${n.gpuCount} free`;
    });
  const need =
    dep.gpus === 0
      ? 'no node is online'
      : `no online node has ${dep.gpus} free GPU${dep.gpus === 1 ? '' : 's'}`;
  return `${need}; ${each.join(', ')}`;
}

// Spread replicas of one deployment first, then balance instance counts, then keep the
// most GPUs free; the node id breaks ties so the plan is deterministic.
function better(
  deploymentId: string,
  a: PlacementNode,
  la: Load,
  b: PlacementNode,
  lb: Load,
): boolean {
  const sameA = la.deployments.get(deploymentId) ?? 0;
  const sameB = lb.deployments.get(deploymentId) ?? 0;
  if (sameA !== sameB) return sameA < sameB;
  if (la.instances !== lb.instances) return la.instances < lb.instances;
  const freeA = a.gpuCount - la.gpus;
  const freeB = b.gpuCount - lb.gpus;
  if (freeA !== freeB) return freeA > freeB;
  return a.id < b.id;
}
