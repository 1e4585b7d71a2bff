// The Node host's access-log output: lines gathered during one turn of the event loop and
// written to stdout in one call. stdout to a pipe or a file is written synchronously on
// Linux, one system call per console.log; under many short requests that call (and
// console's formatting) cost more than the line itself. Lines keep their order, and what is
// gathered is written before the process exits.

export interface LineBatch {
  // Queues one line (without its newline).
  push(line: string): void;
  // Writes what is queued now.
  flush(): void;
}

export function lineBatch(write: (text: string) => void): LineBatch {
  let queued: string[] = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (queued.length === 0) return;
    const text = `${queued.join('\n')}\n`;
    queued = [];
    write(text);
  };
  return {
    push(line) {
      queued.push(line);
      if (scheduled) return;
      scheduled = true;
      setImmediate(flush);
    },
    flush,
  };
}
