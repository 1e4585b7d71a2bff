// Health checks of one instance's engine: an answering engine becomes ready (after the
// recipe's prepare step, if it has one) and has its metrics read; one that stops answering
// is reported waiting or failed, as lifecycle.ts decides.
import { probeHealth } from '../engines/probe.ts';
import type { EngineEndpoint } from '../recipes/types.ts';
import { errorMessage, type EngineInstance } from './instance.ts';
import { needsPrepare } from './lifecycle.ts';

export async function checkHealth(
  inst: EngineInstance,
  now: number,
  clock: () => number,
): Promise<void> {
  const endpoint = inst.endpoint;
  if (!endpoint) return;
  const health = await probeHealth(endpoint.healthUrl, endpoint.headers);
  // Stopped or restarted while the check ran: its answer describes another engine.
  if (inst.isStopped() || inst.busy) return;
  if (!health.ok) {
    inst.apply({
      type: 'unhealthy',
      url: endpoint.healthUrl,
      reason: health.reason,
      // Nothing is starting an external engine: if it does not answer, it is down.
      external: !inst.runtime,
    });
    return;
  }
  const hasPrepare = Boolean(inst.recipe?.prepare && inst.options);
  inst.apply({ type: 'healthy', now, prepareFirst: hasPrepare });
  if (inst.state === 'ready') {
    await inst.metrics.read(endpoint, now);
    return;
  }
  if (needsPrepare(inst.lifecycle, hasPrepare, now)) prepare(inst, endpoint, clock);
}

function prepare(inst: EngineInstance, endpoint: EngineEndpoint, clock: () => number): void {
  const { recipe, options } = inst;
  if (!recipe?.prepare || !options) return;
  inst.apply({ type: 'preparing' });
  inst.run('prepare', async (signal) => {
    try {
      await recipe.prepare?.(endpoint.baseUrl, options, inst.context(0), signal);
      inst.apply({ type: 'prepared', now: clock() });
    } catch (err) {
      if (signal.aborted) return;
      inst.apply({
        type: 'prepare_failed',
        detail: `preparing the engine failed: ${errorMessage(err)}`,
        now: clock(),
      });
    }
  });
}
