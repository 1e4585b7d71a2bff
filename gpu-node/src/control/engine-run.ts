// One check of one instance (the supervisor runs it about once a second): start its engine
// when it is due, notice an engine that exited, and otherwise health-check it (health.ts).
import type { Logger } from '../log.ts';
import type { EngineStatus } from '../runtimes/types.ts';
import { localEndpoint } from './endpoint.ts';
import type { GpuAssignment } from './gpu-assign.ts';
import { checkHealth } from './health.ts';
import { errorMessage, type EngineInstance } from './instance.ts';
import { SPEC_HASH_LABEL } from './spec-hash.ts';

export interface CheckDeps {
  // GPUs for an instance that needs `count`, never ones another instance holds.
  assignGpus(count: number): GpuAssignment;
  allocatePort(): Promise<number>;
  now: () => number;
  log: Logger;
  // The engine exited and was removed (its GPUs are to be released or the instance dropped).
  onExited(instance: EngineInstance): void;
}

export async function checkInstance(
  inst: EngineInstance,
  now: number,
  deps: CheckDeps,
): Promise<void> {
  if (inst.checking || inst.busy || inst.isStopped() || inst.lifecycle.permanent) return;
  inst.checking = true;
  try {
    if (inst.runtime && !inst.handle) {
      if (now >= inst.lifecycle.retryAt) startEngine(inst, deps);
      return;
    }
    if (inst.runtime && inst.handle) {
      const status = await inst.runtime.inspect(inst.handle).catch(() => undefined);
      if (inst.isStopped() || inst.busy) return;
      if (!status || status.state === 'exited') {
        await engineExited(inst, status, now);
        deps.onExited(inst);
        return;
      }
    }
    await checkHealth(inst, now, deps.now);
  } finally {
    inst.checking = false;
  }
}

function startEngine(inst: EngineInstance, deps: CheckDeps): void {
  const { desired, recipe, runtime, options } = inst;
  if (!desired || !recipe || !runtime || !options) return;
  const assignment = deps.assignGpus(desired.gpus);
  if (!assignment.ok) {
    inst.apply({ type: 'gpus_busy', detail: assignment.detail, now: deps.now() });
    return;
  }
  inst.gpuIndices = assignment.indices;
  inst.run('start', async (signal) => {
    const port = await deps.allocatePort();
    const spec = recipe.spec(options, inst.context(port));
    spec.labels = { ...spec.labels, [SPEC_HASH_LABEL]: inst.key };
    inst.apply({ type: 'start' });
    try {
      const status = await runtime.start(
        spec,
        { onPullProgress: (progress) => inst.apply({ type: 'pull', progress }) },
        signal,
      );
      // Kept even when the instance was stopped meanwhile: stopping removes this engine.
      inst.handle = status.handle;
      inst.apply({ type: 'started' });
      inst.endpoint = localEndpoint(status.port ?? spec.port, spec.healthPath, spec.metricsPath);
      deps.log.info(
        `instance ${inst.id}: started (${runtime.kind} ${status.handle}, port ${spec.port})`,
      );
    } catch (err) {
      if (signal.aborted) return;
      inst.gpuIndices = [];
      inst.apply({
        type: 'start_failed',
        detail: `cannot start engine: ${errorMessage(err)}`,
        now: deps.now(),
      });
    }
  });
}

// The engine is gone: its last log line explains why, what is left of it is removed, and
// the lifecycle backs off before the next start.
async function engineExited(
  inst: EngineInstance,
  status: EngineStatus | undefined,
  now: number,
): Promise<void> {
  const { runtime, handle } = inst;
  let last = '';
  if (runtime && handle) {
    const lines = await runtime.logs(handle, 5).catch(() => []);
    last =
      lines
        .filter((l) => l.trim())
        .at(-1)
        ?.trim() ?? '';
    await runtime.remove(handle).catch(() => undefined);
  }
  inst.handle = undefined;
  inst.metrics.forget();
  const code = status?.exitCode;
  const why = status
    ? `engine exited${code === undefined ? '' : ` with code ${code}`}`
    : 'engine is gone';
  inst.apply({ type: 'exited', why: `${why}${last ? `: ${last}` : ''}`, now });
}
