import type { AdminContext } from './context.ts';

// Re-runs placement after an admin change. The change itself is already written, so a
// failed placement is logged rather than failing the request: heartbeats retry it.
export async function replan(ctx: AdminContext): Promise<void> {
  try {
    await ctx.reconciler.run();
  } catch (err) {
    console.error(
      'placement after an admin change failed:',
      err instanceof Error ? err.message : err,
    );
  }
}
