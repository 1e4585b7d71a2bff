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
