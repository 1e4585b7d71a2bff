// Docker's log stream for a container without a TTY: frames of an 8-byte header (stream
// type, three zero bytes, payload length as big-endian uint32) and the payload.

export interface LogFrame {
  stream: 'stdin' | 'stdout' | 'stderr';
  payload: Buffer;
}

const STREAMS = ['stdin', 'stdout', 'stderr'] as const;

export function demuxFrames(buf: Buffer): LogFrame[] {
  const frames: LogFrame[] = [];
  let offset = 0;
  while (offset + 8 <= buf.length) {
    const stream = STREAMS[buf[offset] ?? 1] ?? 'stdout';
    const size = buf.readUInt32BE(offset + 4);
    const end = Math.min(buf.length, offset + 8 + size);
    frames.push({ stream, payload: buf.subarray(offset + 8, end) });
    offset = end;
  }
  return frames;
}

// A header's first byte is 0, 1 or 2 followed by three zero bytes; raw TTY output almost
// never starts that way.
export function isMultiplexed(buf: Buffer): boolean {
  return buf.length >= 8 && (buf[0] ?? 9) <= 2 && buf[1] === 0 && buf[2] === 0 && buf[3] === 0;
}

// The last `tail` lines of a container's output, stdout and stderr in the order written.
export function logLines(buf: Buffer, tail: number): string[] {
  if (tail <= 0) return [];
  const text = isMultiplexed(buf)
    ? Buffer.concat(demuxFrames(buf).map((f) => f.payload)).toString('utf8')
    : buf.toString('utf8');
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines.map((l) => l.replace(/\r$/, '')).slice(-tail);
}

// Followed logs arrive in chunks that cut frames and lines anywhere. This turns the chunks
// back into lines, per stream (stdout and stderr each keep their own unfinished line), and
// cuts a line that grows past maxLineChars so a chatty engine cannot grow it forever.
export function createLogLineDecoder(
  onLine: (line: string) => void,
  maxLineChars: number,
): { push(chunk: Buffer): void; end(): void } {
  let pending: Buffer = Buffer.alloc(0);
  // Decided by the first 8 bytes (a container without a TTY multiplexes).
  let multiplexed: boolean | undefined;
  const partial = new Map<string, string>();

  function text(stream: string, payload: Buffer): void {
    const parts = ((partial.get(stream) ?? '') + payload.toString('utf8')).split('\n');
    let rest = parts.pop() ?? '';
    if (rest.length > maxLineChars) {
      parts.push(rest);
      rest = '';
    }
    partial.set(stream, rest);
    for (const line of parts) onLine(line.replace(/\r$/, '').slice(0, maxLineChars));
  }

  return {
    push(chunk) {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      if (multiplexed === undefined) {
        if (pending.length < 8) return;
        multiplexed = isMultiplexed(pending);
      }
      if (!multiplexed) {
        text('tty', pending);
        pending = Buffer.alloc(0);
        return;
      }
      let offset = 0;
      while (offset + 8 <= pending.length) {
        const size = pending.readUInt32BE(offset + 4);
        if (offset + 8 + size > pending.length) break;
        const stream = STREAMS[pending[offset] ?? 1] ?? 'stdout';
        text(stream, pending.subarray(offset + 8, offset + 8 + size));
        offset += 8 + size;
      }
      pending = pending.subarray(offset);
    },
    end() {
      if (!multiplexed && pending.length > 0) text('tty', pending);
      for (const rest of partial.values()) if (rest) onLine(rest.slice(0, maxLineChars));
      partial.clear();
      pending = Buffer.alloc(0);
    },
  };
}
