// `npm run bench`: what the gateway costs, measured against the direct path (issue 5) and
// against a bare Node.js hop (issue 11). Starts the engine simulator, a bare node:http
// pass-through (floor.ts), a gpu-node daemon and the Node-host gateway as real processes,
// then drives the same closed-loop load through
//   (a) the simulator directly, (m) the bare pass-through, (b) the gpu-node only,
//   (c) gateway -> gpu-node,
//   (c+) the same gateway with a key that carries every limit (the limiter's cost),
// and, with --worker, (d) the Worker host under `wrangler dev` -> gpu-node,
// from a load generator in a process of its own. Prints Markdown tables and writes
// results.md, results.json and chart.svg under test/bench/results/<timestamp>/.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join, relative } from 'node:path';
import type { JWK } from 'jose';
import { generateSigningJwk } from '../../gateway/src/signing/signer.ts';
import { freePort, repoRoot, type Service } from '../support/processes.ts';
import { startGateway, startNode, type Gateway, type GpuNode } from '../support/stack.ts';
import { BenchArgsError, USAGE, parseBenchArgs, type BenchOptions } from './args.ts';
import { chartFor } from './chart.ts';
import {
  LONG_TOKENS,
  MODEL,
  MODEL_MAX_TOKENS,
  NODE_JWT_TTL_S,
  SIM,
  SLOW,
  SLOW_MODEL,
  TUNNEL_MODEL,
  log,
  measurePaths,
  memoryPhase,
  smokeTest,
  type Target,
} from './levels.ts';
import { startLoadGenerator } from './loadgen-client.ts';
import type { Role } from './measure.ts';
import { memory as readMemory } from './procfs.ts';
import { collectProfiles, profileArgs, type ProfileRead } from './profile-run.ts';
import { renderMarkdown, fmt } from './report.ts';
import { runRoutingBench } from './routing.ts';
import type { BenchResults, LevelResult, MachineInfo } from './results.ts';
import {
  deploySim,
  findSigningKey,
  readNodeJwks,
  readNodeKeyId,
  signsFor,
  startFloor,
  startSim,
} from './services.ts';
import { startWorkerStack, type WorkerStack } from './worker-host.ts';

// Everything started is stopped again, in reverse order, on success, error or Ctrl-C.
const cleanups: { name: string; run: () => Promise<void> }[] = [];
const children = new Set<Service>();
let cleaning: Promise<void> | undefined;

function track(service: Service): Service {
  children.add(service);
  cleanups.push({ name: service.name, run: () => service.stop('SIGTERM', 5000) });
  return service;
}

function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const step of cleanups.reverse()) {
      try {
        await step.run();
      } catch (err) {
        log(`cleanup of ${step.name} failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  })();
  return cleaning;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    log(`\n${signal}: stopping the benchmark's processes...`);
    void cleanup().finally(() => process.exit(130));
  });
}
// Last resort if the process exits some other way: no child outlives the benchmark.
process.on('exit', () => {
  for (const service of children) {
    if (service.child.exitCode === null && service.child.signalCode === null) {
      service.child.kill('SIGKILL');
    }
  }
});

function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    memoryGiB: os.totalmem() / 1024 ** 3,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    loadAvgAtStart: os.loadavg()[0] ?? 0,
  };
}

function gitCommit(): string | null {
  try {
    const run = (args: string[]) =>
      execFileSync('git', args, {
        cwd: repoRoot,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      });
    const hash = run(['rev-parse', '--short', 'HEAD']).trim();
    return run(['status', '--porcelain', '--untracked-files=no']).trim() ? `${hash}+dirty` : hash;
  } catch {
    return null;
  }
}

async function apiKey(gateway: Gateway): Promise<string> {
  const key = await gateway.admin.request<{ key: string }>('POST', '/keys', { name: 'bench' });
  return key.key;
}

// A key with every limit (in-process limiter), set high enough that nothing is refused, and
// a price for the model: the gateway does all the limit work on every request.
async function limitedKey(gateway: Gateway): Promise<string> {
  await gateway.admin.request('PUT', `/prices/${MODEL}`, {
    input_usd_per_mtok: 1,
    output_usd_per_mtok: 2,
  });
  const key = await gateway.admin.request<{ key: string }>('POST', '/keys', {
    name: 'bench-limited',
    limits: {
      requests_per_minute: 100_000,
      tokens_per_minute: 1_000_000_000,
      max_concurrent_requests: 100_000,
      token_budget: 1_000_000_000_000,
      spend_budget_usd: 1_000_000,
      budget_period: 'month',
    },
  });
  return key.key;
}

// Gateway CPU per request with every limit against none, level by level (same run).
function limitsOverhead(levels: readonly LevelResult[]): string[] {
  const cpuPerRequest = (l: LevelResult | undefined) => {
    const usage = l?.processes.gateway;
    return l && usage && l.load.completed > 0 ? usage.cpuS / l.load.completed : undefined;
  };
  const lines: string[] = [];
  for (const l of levels.filter((x) => x.path === 'gateway')) {
    const limited = levels.find(
      (x) =>
        x.path === 'limited' &&
        x.stream === l.stream &&
        x.concurrency === l.concurrency &&
        x.tokens === l.tokens,
    );
    const base = cpuPerRequest(l);
    const withLimits = cpuPerRequest(limited);
    if (base === undefined || withLimits === undefined) continue;
    const refused = limited?.load.failed ?? 0;
    lines.push(
      `limits (c+ vs c), ${l.stream ? 'stream' : 'non-stream'} x${l.concurrency}: gateway CPU per request ` +
        `${fmt(withLimits * 1000, 3)} ms vs ${fmt(base * 1000, 3)} ms, ratio ${fmt(withLimits / base, 3)}` +
        (refused > 0 ? ` (${refused} requests of c+ failed)` : ''),
    );
  }
  return lines;
}

// Path (e) against (c) in the same run: throughput ratio and TTFT p50 difference per
// streaming level (issue 12's targets: >= 0.9 and <= 2 ms at 64 streams).
function tunnelOverhead(levels: readonly LevelResult[]): string[] {
  const lines: string[] = [];
  for (const e of levels.filter((x) => x.path === 'tunnel' && x.stream)) {
    const c = levels.find(
      (x) =>
        x.path === 'gateway' &&
        x.stream &&
        x.concurrency === e.concurrency &&
        x.tokens === e.tokens,
    );
    if (!c || c.load.rps === 0) continue;
    const ttft = (l: LevelResult) => l.load.ttftMs?.p50;
    const ce = ttft(e);
    const cc = ttft(c);
    lines.push(
      `tunnel (e vs c), stream x${e.concurrency}, ${e.tokens} tokens: throughput ratio ` +
        `${fmt(e.load.rps / c.load.rps, 3)} (${fmt(e.load.rps, 1)} vs ${fmt(c.load.rps, 1)} req/s)` +
        (ce === undefined || cc === undefined
          ? ''
          : `, TTFT p50 ${fmt(ce, 2)} ms vs ${fmt(cc, 2)} ms (${fmt(ce - cc, 2)} ms more)`),
    );
  }
  return lines;
}

// The key that signs data-plane JWTs for path (b): the gateway's own, which the node trusts.
async function dataPlaneKey(offered: JWK, node: GpuNode, dbUrl: string): Promise<JWK | undefined> {
  const jwks = await readNodeJwks(node.configPath);
  if (await signsFor(offered, jwks)) return offered;
  return findSigningKey(dbUrl, jwks);
}

async function writeResults(results: BenchResults, outDir: string, extra: string): Promise<string> {
  const markdown = renderMarkdown(results) + (extra ? `\n${extra}` : '');
  await mkdir(outDir, { recursive: true });
  await writeFile(join(outDir, 'results.md'), `${markdown}\n`);
  await writeFile(join(outDir, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
  await writeFile(join(outDir, 'chart.svg'), chartFor(results));
  const resultsRoot = join(repoRoot, 'test/bench/results');
  await mkdir(resultsRoot, { recursive: true });
  await copyFile(join(outDir, 'results.md'), join(resultsRoot, 'latest.md'));
  return markdown;
}

async function main(): Promise<void> {
  const parsed = parseBenchArgs(process.argv.slice(2));
  if (parsed.help) {
    console.log(USAGE);
    return;
  }
  // A profiled run measures one streaming level of (a), (m), (b) and (c), nothing else.
  const opts: BenchOptions = parsed.profile
    ? {
        ...parsed,
        levels: [parsed.profileLevel],
        nonStreaming: 0,
        long: 0,
        memory: false,
        worker: false,
      }
    : parsed;
  const startedAt = new Date().toISOString();
  const outDir =
    opts.out ??
    join(
      repoRoot,
      'test/bench/results',
      startedAt.replace(/[:.]/g, '-') + (opts.profile ? '-profile' : ''),
    );
  const profilesDir = join(outDir, 'profiles');
  const profiled = (role: string) =>
    opts.profile ? profileArgs(join(profilesDir, role)) : undefined;
  const machine = machineInfo();
  const commit = gitCommit();
  const notes: string[] = [];
  const dir = await mkdtemp(join(os.tmpdir(), 'fleetgate-bench-'));
  cleanups.push({ name: 'temp folder', run: () => rm(dir, { recursive: true, force: true }) });
  if (opts.routing) {
    await runRoutingBench({ ...opts, track, log, machine, commit, dir });
    return;
  }
  log(
    `fleetgate benchmark: levels ${opts.levels.join(', ')}, ${opts.durationS} s each (state in ${dir})`,
  );

  const sim = await startSim(await freePort(), {
    model: MODEL,
    ...SIM,
    maxTokens: MODEL_MAX_TOKENS,
  });
  track(sim.service);
  const floor = await startFloor(await freePort(), sim.url, profiled('floor'));
  track(floor.service);
  const slowSim = opts.memory
    ? await startSim(await freePort(), {
        model: SLOW_MODEL,
        ttftMs: SLOW.ttftMs,
        itlMs: SLOW.itlMs,
        maxTokens: SLOW.tokens,
        maxNumSeqs: SIM.maxNumSeqs,
        seed: 2,
      })
    : undefined;
  if (slowSim) track(slowSim.service);

  const signingJwk = await generateSigningJwk();
  const adminToken = `bench-admin-${randomBytes(16).toString('hex')}`;
  const gateway = await startGateway({
    dataDir: dir,
    adminToken,
    heartbeatIntervalS: 2,
    // Honoured if the Node host takes its key from the environment; otherwise it makes
    // its own and dataPlaneKey() finds that one.
    env: { FLEETGATE_SIGNING_JWK: JSON.stringify(signingJwk) },
    nodeArgs: profiled('gateway'),
  });
  track(gateway.service);
  const node = await startNode({
    gateway,
    name: 'bench-node',
    configPath: join(dir, 'node.json'),
    nodeArgs: profiled('daemon'),
  });
  track(node.service);
  log(`  gateway ${gateway.url}, gpu-node ${node.url}, simulator ${sim.url}`);

  const instance = await deploySim(gateway, node, MODEL, sim);
  if (slowSim) await deploySim(gateway, node, SLOW_MODEL, slowSim);
  const key = await apiKey(gateway);

  const pidOf = (service: Service): number => {
    if (service.child.pid === undefined) throw new Error(`${service.name} has no pid`);
    return service.child.pid;
  };
  const simRole: Role = { name: 'sim', pid: pidOf(sim.service) };
  const floorRole: Role = { name: 'floor', pid: pidOf(floor.service) };
  const daemonRole: Role = { name: 'daemon', pid: pidOf(node.service) };
  const gatewayRole: Role = { name: 'gateway', pid: pidOf(gateway.service) };
  const chat = '/v1/chat/completions';

  const targets: Target[] = [
    { path: 'direct', url: sim.url + chat, headers: {}, roles: [simRole] },
    { path: 'floor', url: floor.url + chat, headers: {}, roles: [floorRole, simRole] },
  ];
  const nodeKey = await dataPlaneKey(signingJwk, node, `file:${join(dir, 'fleetgate.db')}`);
  const nodeKeyId = await readNodeKeyId(node.configPath);
  if (nodeKey) {
    targets.push({
      path: 'node',
      url: node.url + chat,
      headers: {},
      jwt: {
        jwk: nodeKey,
        aud: node.nodeId,
        instance: instance.id,
        model: MODEL,
        ttlS: NODE_JWT_TTL_S,
        nodeKeyId,
      },
      roles: [daemonRole, simRole],
    });
  } else {
    notes.push('path (b) skipped: the gateway signing key the node trusts was not found');
  }
  targets.push({
    path: 'gateway',
    url: gateway.url + chat,
    headers: { authorization: `Bearer ${key}` },
    roles: [gatewayRole, daemonRole, simRole],
  });
  if (!opts.profile) {
    targets.push({
      path: 'limited',
      url: gateway.url + chat,
      headers: { authorization: `Bearer ${await limitedKey(gateway)}` },
      roles: [gatewayRole, daemonRole, simRole],
    });
  }
  if (opts.tunnel) {
    // Path (e): a second daemon in tunnel mode (loopback listener only) with a simulator of
    // its own, configured as (c)'s; reached only through the WebSocket it dialled.
    const tunnelSim = await startSim(await freePort(), {
      model: TUNNEL_MODEL,
      ...SIM,
      maxTokens: MODEL_MAX_TOKENS,
    });
    track(tunnelSim.service);
    const tunnelNode = await startNode({
      gateway,
      name: 'bench-tunnel-node',
      configPath: join(dir, 'tunnel-node.json'),
      tunnel: true,
    });
    track(tunnelNode.service);
    await deploySim(gateway, tunnelNode, TUNNEL_MODEL, tunnelSim);
    targets.push({
      path: 'tunnel',
      url: gateway.url + chat,
      headers: { authorization: `Bearer ${key}` },
      model: TUNNEL_MODEL,
      roles: [
        gatewayRole,
        { name: 'daemon', pid: pidOf(tunnelNode.service) },
        { name: 'sim', pid: pidOf(tunnelSim.service) },
      ],
    });
  }
  const measured = targets.filter(
    (t) => opts.paths.includes(t.path) || (t.path === 'tunnel' && opts.tunnel),
  );
  for (const target of measured) await smokeTest(target, target.model ?? MODEL);

  // The gateway's RSS before any load, to tell what the levels leave behind.
  const idleAtStartKb = (() => {
    try {
      return readMemory(gatewayRole.pid).rssKb;
    } catch {
      return null;
    }
  })();
  const loadgen = await startLoadGenerator();
  cleanups.push({ name: 'load generator', run: () => loadgen.stop() });

  log('measuring:');
  const levels = await measurePaths(loadgen, measured, opts);
  const gatewayTarget = measured.find((t) => t.path === 'gateway');
  const memory =
    opts.memory && gatewayTarget
      ? await memoryPhase(loadgen, gatewayTarget, gatewayRole, opts, idleAtStartKb)
      : null;

  if (opts.worker) {
    let worker: WorkerStack | undefined;
    try {
      worker = await startWorkerStack({ dir, sim, model: MODEL, track });
      const target: Target = {
        path: 'worker',
        url: worker.url + chat,
        headers: { authorization: `Bearer ${worker.apiKey}` },
        roles: [
          { name: 'gateway', pid: worker.wranglerPid, withDescendants: true },
          { name: 'daemon', pid: worker.daemonPid },
          simRole,
        ],
      };
      await smokeTest(target, MODEL);
      log('measuring the Worker host:');
      levels.push(...(await measurePaths(loadgen, [target], opts)));
      notes.push(
        "path (d): the gateway's CPU and RSS cover the whole `wrangler dev` process tree " +
          "(wrangler's Node.js process and workerd, with local D1): a development server, not Cloudflare's runtime",
      );
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      notes.push(`path (d) not measured: ${message.split('\n')[0] ?? message}`);
      log(`the Worker host could not be measured: ${message}`);
    }
  }

  // The profiles are written when the processes exit: the floor's read for (m), the
  // daemon's for (b), where it runs alone like the floor, and for (c), the gateway's for (c).
  let profileSummary = '';
  if (opts.profile) {
    await Promise.all([gateway, node, floor].map((p) => p.service.stop('SIGTERM', 15_000)));
    const reads: ProfileRead[] = [];
    const at = (path: string) => levels.find((l) => l.path === path);
    const floorLevel = at('floor');
    if (floorLevel) reads.push({ role: 'floor', level: floorLevel });
    const nodeLevel = at('node');
    const gatewayLevel = at('gateway');
    if (nodeLevel) reads.push({ role: 'daemon', level: nodeLevel });
    if (gatewayLevel)
      reads.push({ role: 'gateway', level: gatewayLevel }, { role: 'daemon', level: gatewayLevel });
    profileSummary = await collectProfiles(profilesDir, reads);
    notes.push(
      'profiled run: the gateway and the daemon ran under --cpu-prof, which costs them some CPU',
    );
  }

  const results: BenchResults = {
    startedAt,
    commit,
    machine,
    settings: {
      ttftMs: SIM.ttftMs,
      itlMs: SIM.itlMs,
      maxTokens: SIM.maxTokens,
      warmupMs: opts.warmupS * 1000,
      durationMs: opts.durationS * 1000,
      levels: opts.levels,
      nonStreamingConcurrency: opts.nonStreaming,
      longConcurrency: opts.long,
      longTokens: LONG_TOKENS,
      paths: measured.map((t) => t.path).concat(opts.worker ? ['worker'] : []),
    },
    levels,
    memory,
    notes: [
      ...notes,
      ...limitsOverhead(levels),
      ...tunnelOverhead(levels),
      ...(nodeKey
        ? [
            'path (b) signs one data-plane JWT per request in the load generator, as the gateway does per forwarded request' +
              (nodeKeyId
                ? " (HS256 with the node's own data-plane key)"
                : ' (ES256: the node holds no data-plane key)'),
          ]
        : []),
    ],
  };
  const markdown = await writeResults(results, outDir, profileSummary);
  console.log(markdown);
  log(
    `results written to ${relative(process.cwd(), outDir) || outDir} (and test/bench/results/latest.md)`,
  );
}

main()
  .catch((err: unknown) => {
    process.exitCode = 1;
    if (err instanceof BenchArgsError) log(`${err.message}\n\n${USAGE}`);
    else
      log(`benchmark failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  })
  .finally(async () => {
    await cleanup();
    process.exit();
  });
