// A small server-sent events reader for the live log (fetch, not EventSource: it stops
// for good when the page leaves, and never reconnects to replay the tail twice). It keeps
// the `data:` fields of each event; comments and other fields are skipped.
export class SseDecoder {
  private buffer = '';
  private data: string[] = [];

  // Feeds decoded text; answers the data of each event the text completed.
  push(text: string): string[] {
    this.buffer += text;
    const events: string[] = [];
    let newline: number;
    while ((newline = this.buffer.search(/\r\n|\r|\n/)) !== -1) {
      const line = this.buffer.slice(0, newline);
      const width = this.buffer.startsWith('\r\n', newline) ? 2 : 1;
      // A lone \r at the end may be the first half of \r\n: wait for more.
      if (width === 1 && this.buffer[newline] === '\r' && newline === this.buffer.length - 1) break;
      this.buffer = this.buffer.slice(newline + width);
      if (line === '') {
        if (this.data.length > 0) events.push(this.data.join('\n'));
        this.data = [];
      } else if (line.startsWith('data:')) {
        const value = line.slice(5);
        this.data.push(value.startsWith(' ') ? value.slice(1) : value);
      }
    }
    return events;
  }
}

export interface LogEvent {
  instance_id: string;
  node_id: string;
  line: string;
}

export function parseLogEvent(data: string): LogEvent | null {
  try {
    const value = JSON.parse(data) as Partial<LogEvent>;
    if (typeof value.line !== 'string') return null;
    return {
      instance_id: String(value.instance_id ?? ''),
      node_id: String(value.node_id ?? ''),
      line: value.line,
    };
  } catch {
    return null;
  }
}
