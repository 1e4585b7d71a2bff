// What an engine was started from, as a short hash kept with the engine (a container label):
// an adopted engine whose desired instance changed since is replaced, not kept.
import { createHash } from 'node:crypto';
import type { DesiredInstance } from '../../../schema/contracts.ts';

// Same prefix as the docker runtime's own labels (runtimes/docker/spec.ts).
export const SPEC_HASH_LABEL = 'dev.fleetgate.spec-hash';

export function specHash(d: DesiredInstance): string {
  const canonical = JSON.stringify([
    d.deployment_id,
    d.model,
    d.recipe,
    d.gpus,
    sortKeys(d.options),
  ]);
  return createHash('sha256').update(canonical).digest('hex').slice(0, 16);
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([k, v]) => [k, sortKeys(v)]),
    );
  }
  return value;
}
