// Which GPUs an instance gets: never a GPU another instance holds.
export type GpuAssignment = { ok: true; indices: number[] } | { ok: false; detail: string };

export function assignGpus(
  inventory: readonly number[],
  taken: ReadonlySet<number>,
  count: number,
): GpuAssignment {
  if (count <= 0) return { ok: true, indices: [] };
  const free = [...new Set(inventory)].filter((i) => !taken.has(i)).sort((a, b) => a - b);
  if (free.length < count) {
    const busy = inventory.length - free.length;
    return {
      ok: false,
      detail:
        inventory.length === 0
          ? `needs ${count} GPU(s) but this node has none`
          : `needs ${count} GPU(s) but only ${free.length} of ${inventory.length} are free ` +
            `(${busy} held by other instances)`,
    };
  }
  return { ok: true, indices: free.slice(0, count) };
}
