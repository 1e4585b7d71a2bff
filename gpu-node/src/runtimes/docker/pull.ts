// Image pull progress: Docker reports per-layer events; the node reports one number.
import type { PullProgress } from '../types.ts';

export interface PullEvent {
  id?: string;
  status?: string;
  progressDetail?: { current?: number; total?: number };
  error?: string;
  errorDetail?: { message?: string };
}

interface Layer {
  current: number;
  total?: number;
}

// Statuses after which a layer's bytes are all there.
const DONE = /^(Download complete|Pull complete|Already exists|Verifying Checksum)$/;

export class PullTracker {
  private readonly layers = new Map<string, Layer>();

  // Returns the aggregated progress when the event changed it.
  update(event: PullEvent): PullProgress | undefined {
    const id = event.id;
    const status = event.status ?? '';
    if (!id || id === 'latest' || status.startsWith('Pulling from')) return undefined;
    const layer = this.layers.get(id) ?? { current: 0 };
    this.layers.set(id, layer);
    if (status === 'Downloading') {
      const { current, total } = event.progressDetail ?? {};
      if (typeof total === 'number' && total > 0) layer.total = total;
      if (typeof current === 'number') layer.current = current;
    } else if (DONE.test(status)) {
      if (layer.total !== undefined) layer.current = layer.total;
    } else {
      return undefined;
    }
    return this.progress();
  }

  progress(): PullProgress {
    let bytes = 0;
    let total = 0;
    let allKnown = this.layers.size > 0;
    for (const layer of this.layers.values()) {
      bytes += layer.current;
      if (layer.total === undefined) allKnown = false;
      else total += layer.total;
    }
    const progress: PullProgress = { bytes };
    if (total > 0) {
      progress.totalBytes = total;
      // Layers of unknown size hold the percentage below 100 until they are done.
      const percent = (bytes / total) * 100;
      progress.percent = allKnown ? Math.min(100, percent) : Math.min(99, percent);
    }
    return progress;
  }
}

// Lines worth a log entry: layer and image statuses, not every byte count.
export function pullLogLine(image: string, event: PullEvent): string | undefined {
  const status = event.status ?? '';
  if (!status || status === 'Downloading' || status === 'Extracting' || status === 'Waiting') {
    return undefined;
  }
  return `pull ${image}: ${event.id ? `${event.id}: ` : ''}${status}`;
}
