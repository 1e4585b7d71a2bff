// `npm run bench -- --routing`: the routing policies against three workloads (issue 10).
// Four simulators, each with a bounded prefix cache and a prefill cost per uncached token,
// run as processes of their own behind two gpu-node daemons (two simulators each, as
// external engines), with the Node-host gateway in front. Per workload the simulators are
// fresh; per policy the deployments are switched with PATCH {routing} and the prompts get
// a new salt, so no policy finds what an earlier one cached. Measures TTFT p50/p99,
// requests per second, the prefix-cache hit rate (from the simulators' own counters) and
// the requests each simulator served.
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RoutingPolicy } from '../../schema/contracts.ts';
import { freePort, repoRoot, startService, type Service } from '../support/processes.ts';
import {
  createDeployment,
  startGateway,
  startNode,
  waitForReady,
  type Gateway,
  type GpuNode,
} from '../support/stack.ts';
import { drive } from './routing-driver.ts';
import {
  POLICIES,
  checkTargets,
  renderRoutingMarkdown,
  routingChart,
  type RoutingResults,
  type RoutingRun,
} from './routing-report.ts';
import type { WorkloadName } from './routing-workloads.ts';
import type { Sim } from './services.ts';
import { summarize } from './stats.ts';

// A small model on a mid-range GPU, scaled down so the run stays short: a cache miss on a
// 3000-token system prompt costs 300 ms of serial prefill; a hit costs the new tokens only.
export const HEALTHY = {
  ttftMs: 20,
  itlMs: 10,
  prefillMsPerToken: 0.1,
  maxNumSeqs: 16,
  // Room for about four of workload A's eight system prompts per instance.
  prefixCacheTokens: 12_288,
  maxTokens: 16,
};
// Workload C's sick instance: everything six times slower.
export const SICK_FACTOR = 6;
const CLIENTS: Record<WorkloadName, number> = { A: 24, B: 16, C: 24 };
const INSTANCES = 4;
const REQUEST_TIMEOUT_MS = 60_000;
// The gateway caches its routing table for 2 s: a changed policy applies after that.
const TABLE_TTL_WAIT_MS = 2_500;

export interface RoutingBenchOptions {
  durationS: number;
  warmupS: number;
  out: string | undefined;
  track(service: Service): Service;
  log(line: string): void;
  machine: RoutingResults['machine'];
  commit: string | null;
  dir: string;
}

async function startBenchSim(
  port: number,
  model: string,
  slow: number,
  seed: number,
): Promise<Sim> {
  const s = HEALTHY;
  const service = await startService({
    name: `sim ${model} ${port}`,
    entry: 'gpu-node/src/sim/main.ts',
    args: [
      ...['--host', '127.0.0.1', '--port', String(port), '--model', model, '--seed', String(seed)],
      ...['--ttft-ms', String(s.ttftMs * slow), '--itl-ms', String(s.itlMs * slow)],
      ...['--prefill-ms-per-token', String(s.prefillMsPerToken * slow)],
      ...['--max-num-seqs', String(s.maxNumSeqs), '--max-tokens', String(s.maxTokens)],
      ...['--prefix-cache-tokens', String(s.prefixCacheTokens), '--jitter', '0.05'],
    ],
    ready: /listening on http:\/\//,
  });
  return { url: `http://127.0.0.1:${port}`, service };
}

interface SimCounters {
  queries: number;
  hits: number;
  requests: number;
}

// Sums of the simulator's counters (vLLM's names) from its /metrics.
export function parseCounters(text: string): SimCounters {
  const sum = (name: string) =>
    text
      .split('\n')
      .filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
      .reduce((acc, l) => acc + Number(l.trim().split(/\s+/).at(-1) ?? 0), 0);
  return {
    queries: sum('vllm:prefix_cache_queries_total'),
    hits: sum('vllm:prefix_cache_hits_total'),
    requests: sum('vllm:request_success_total'),
  };
}

async function counters(sim: Sim): Promise<SimCounters> {
  const res = await fetch(`${sim.url}/metrics`, { signal: AbortSignal.timeout(5000) });
  return parseCounters(await res.text());
}

async function setPolicy(gateway: Gateway, ids: string[], policy: RoutingPolicy): Promise<void> {
  for (const id of ids)
    await gateway.admin.request('PATCH', `/deployments/${id}`, { routing: policy });
  await new Promise((r) => setTimeout(r, TABLE_TTL_WAIT_MS));
}

async function runWorkload(
  workload: WorkloadName,
  gateway: Gateway,
  nodes: GpuNode[],
  apiKey: string,
  opts: RoutingBenchOptions,
): Promise<RoutingRun[]> {
  const model = `bench-routing-${workload}`;
  const sims: Sim[] = [];
  for (let i = 0; i < INSTANCES; i += 1) {
    // C: the last instance is the sick one.
    const slow = workload === 'C' && i === INSTANCES - 1 ? SICK_FACTOR : 1;
    const sim = await startBenchSim(await freePort(), model, slow, i + 1);
    opts.track(sim.service);
    sims.push(sim);
  }
  const deployments: string[] = [];
  for (const [i, sim] of sims.entries()) {
    const node = nodes[i % nodes.length];
    if (!node) throw new Error('no node');
    // As external engines, so the benchmark reads each simulator's own /metrics.
    const deployment = await createDeployment(gateway, {
      model,
      recipe: 'external',
      options: { url: sim.url, health_path: '/health' },
      placement: { node_id: node.nodeId },
    });
    await waitForReady(gateway, deployment.id, 60_000);
    deployments.push(deployment.id);
  }
  const runs: RoutingRun[] = [];
  for (const policy of POLICIES) {
    await setPolicy(gateway, deployments, policy);
    const before = await Promise.all(sims.map(counters));
    const result = await drive({
      url: `${gateway.url}/v1/chat/completions`,
      apiKey,
      model,
      workload,
      salt: `${policy}-${randomBytes(4).toString('hex')}`,
      clients: CLIENTS[workload],
      maxTokens: HEALTHY.maxTokens,
      warmupMs: opts.warmupS * 1000,
      durationMs: opts.durationS * 1000,
      timeoutMs: REQUEST_TIMEOUT_MS,
    });
    const after = await Promise.all(sims.map(counters));
    const delta = after.map((a, i) => {
      const b = before[i] ?? { queries: 0, hits: 0, requests: 0 };
      return {
        queries: a.queries - b.queries,
        hits: a.hits - b.hits,
        requests: a.requests - b.requests,
      };
    });
    const queries = delta.reduce((acc, d) => acc + d.queries, 0);
    const hits = delta.reduce((acc, d) => acc + d.hits, 0);
    const ok = result.samples.filter((s) => s.ok);
    const ttfts = ok.map((s) => s.ttftMs).filter((t): t is number => t !== null);
    const run: RoutingRun = {
      workload,
      policy,
      clients: CLIENTS[workload],
      requests: result.samples.length,
      failed: result.samples.length - ok.length,
      ttftMs: summarize(ttfts),
      rps: ok.length / (result.windowMs / 1000),
      hitRate: queries > 0 ? hits / queries : null,
      perInstance: delta.map((d) => d.requests),
      errors: result.errors,
    };
    opts.log(
      `  ${workload} ${policy.padEnd(11)} TTFT p50 ${run.ttftMs.p50.toFixed(0).padStart(5)} ms, p99 ${run.ttftMs.p99.toFixed(0).padStart(5)} ms, ` +
        `${run.rps.toFixed(1)} req/s, hits ${run.hitRate === null ? '-' : (run.hitRate * 100).toFixed(0)}%, per instance ${run.perInstance.join('/')}, ${run.failed} errors`,
    );
    runs.push(run);
  }
  for (const id of deployments) await gateway.admin.request('DELETE', `/deployments/${id}`);
  for (const sim of sims) await sim.service.stop('SIGTERM', 5000);
  return runs;
}

export async function runRoutingBench(opts: RoutingBenchOptions): Promise<RoutingResults> {
  const startedAt = new Date().toISOString();
  const adminToken = `bench-admin-${randomBytes(16).toString('hex')}`;
  const gateway = await startGateway({ dataDir: opts.dir, adminToken, heartbeatIntervalS: 1 });
  opts.track(gateway.service);
  const nodes: GpuNode[] = [];
  for (const name of ['bench-node-1', 'bench-node-2']) {
    const node = await startNode({ gateway, name, configPath: join(opts.dir, `${name}.json`) });
    opts.track(node.service);
    nodes.push(node);
  }
  const key = await gateway.admin.request<{ key: string }>('POST', '/keys', { name: 'bench' });
  opts.log(
    `routing benchmark: gateway ${gateway.url}, daemons ${nodes.map((n) => n.url).join(', ')}`,
  );

  const runs: RoutingRun[] = [];
  for (const workload of ['A', 'B', 'C'] as const) {
    runs.push(...(await runWorkload(workload, gateway, nodes, key.key, opts)));
  }
  const results: RoutingResults = {
    startedAt,
    commit: opts.commit,
    machine: opts.machine,
    settings: {
      instances: INSTANCES,
      daemons: nodes.length,
      sim: HEALTHY,
      sickFactor: SICK_FACTOR,
      // The gateway inherits the benchmark's environment.
      routingLoadFactor: process.env.FLEETGATE_ROUTING_LOAD_FACTOR ?? '1.1 (default)',
      clients: CLIENTS,
      warmupS: opts.warmupS,
      durationS: opts.durationS,
    },
    runs,
  };
  const outDir =
    opts.out ?? join(repoRoot, 'test/bench/results', `${startedAt.replace(/[:.]/g, '-')}-routing`);
  await mkdir(outDir, { recursive: true });
  const markdown = renderRoutingMarkdown(results);
  await writeFile(join(outDir, 'routing.md'), `${markdown}\n`);
  await writeFile(join(outDir, 'routing.json'), `${JSON.stringify(results, null, 2)}\n`);
  await writeFile(join(outDir, 'routing.svg'), routingChart(results));
  await writeFile(join(repoRoot, 'test/bench/results/latest-routing.md'), `${markdown}\n`);
  console.log(markdown);
  const missed = checkTargets(runs).filter((t) => t.met === false);
  opts.log(
    `results written to ${outDir}${missed.length > 0 ? `; targets missed: ${missed.map((t) => t.name).join('; ')}` : ''}`,
  );
  return results;
}
