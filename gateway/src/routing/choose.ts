// Which instance serves a request: round-robin over a model's ready instances, skipping
// the ones this request already tried (so a retry lands elsewhere).

// The first target at or after `start` (wrapping) that was not tried yet.
export function pickTarget<T extends { instanceId: string }>(
  targets: readonly T[],
  start: number,
  tried: ReadonlySet<string>,
): T | undefined {
  const n = targets.length;
  for (let k = 0; k < n; k += 1) {
    const target = targets[(start + k) % n];
    if (target && !tried.has(target.instanceId)) return target;
  }
  return undefined;
}

// One cursor per model, advanced on every pick; lives as long as the app instance.
export class RoundRobin {
  readonly #cursors = new Map<string, number>();

  next<T extends { instanceId: string }>(
    model: string,
    targets: readonly T[],
    tried: ReadonlySet<string>,
  ): T | undefined {
    if (targets.length === 0) return undefined;
    const cursor = this.#cursors.get(model) ?? 0;
    this.#cursors.set(model, (cursor + 1) % targets.length);
    return pickTarget(targets, cursor % targets.length, tried);
  }
}
