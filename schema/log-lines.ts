// How both programs write their access-log lines (schema/access-log.ts) to stdout: gathered
// and written together, in order (the gateway's Node host and the node daemon).
//
// A write to a pipe is a system call that wakes the reader (and blocks when the pipe is
// full): one per request cost more than the rest of the line, and one per turn of the event
// loop still about a twentieth of the daemon's CPU at 64 streams, and some 5% of the
// gateway's. A line waits at most ACCESS_LOG_FLUSH_MS, or less once ACCESS_LOG_BATCH_CHARS
// are gathered (half a pipe's default buffer).
export const ACCESS_LOG_FLUSH_MS = 100;
export const ACCESS_LOG_BATCH_CHARS = 32 * 1024;

export interface LineBatch {
  // Queues one line (without its newline).
  push(line: string): void;
  // Writes what is queued now.
  flush(): void;
}

export function lineBatch(
  write: (text: string) => void,
  flushMs = ACCESS_LOG_FLUSH_MS,
  maxChars = ACCESS_LOG_BATCH_CHARS,
): LineBatch {
  let pending: string[] = [];
  let chars = 0;
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    clearTimeout(timer);
    timer = undefined;
    if (!pending.length) return;
    const text = `${pending.join('\n')}\n`;
    pending = [];
    chars = 0;
    write(text);
  };
  return {
    push(line) {
      pending.push(line);
      chars += line.length + 1;
      if (chars >= maxChars) flush();
      else if (!timer) timer = setTimeout(flush, flushMs).unref();
    },
    flush,
  };
}
