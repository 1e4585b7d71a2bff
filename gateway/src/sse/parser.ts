// Incremental Server-Sent Events parser for relaying engine streams. It splits the stream
// into blocks (events ended by a blank line) and keeps each block's exact text, so a relay
// can pass every block through byte for byte and rebuild only the ones it must change.
// Follows the WHATWG event-stream rules: CRLF, LF or CR line ends; `:` comment lines;
// `field: value` with one optional space; multi-line `data` joined with LF.

export interface SseEvent {
  // The block's text exactly as received, through the blank line that ended it.
  raw: string;
  // The block's lines other than `data` (comments, `event:`, `id:`), as received; a relay
  // that rewrites the data keeps these.
  rest: string;
  event: string | undefined;
  // The data lines joined with '\n'; undefined when the block had no data field.
  data: string | undefined;
  // False only for a last block that the end of the stream cut off before its blank line.
  complete: boolean;
}

const LF = 10;
const CR = 13;
const COLON = 58;
const SPACE = 32;

export class SseParser {
  // Streaming mode keeps a multi-byte UTF-8 sequence split across chunks intact.
  readonly #decoder = new TextDecoder('utf-8');
  #pending = '';
  #raw = '';
  #rest = '';
  #event: string | undefined;
  #data: string[] | undefined;
  // Whether the last chunk ended on an ASCII byte, so the decoder holds no partial character.
  #decoderEmpty = true;

  // Feeds a chunk; returns the blocks it completed, in order.
  push(chunk: Uint8Array | string): SseEvent[] {
    let text: string;
    if (typeof chunk === 'string') text = chunk;
    else {
      text = this.#decoder.decode(chunk, { stream: true });
      if (chunk.length > 0) this.#decoderEmpty = (chunk[chunk.length - 1] ?? 0) < 0x80;
    }
    const out: SseEvent[] = [];
    this.#pending = this.#pending ? this.#pending + text : text;
    this.#scan(out, false);
    return out;
  }

  // True when nothing is held back: no unfinished line, block or character. A chunk pushed
  // between two such moments produced blocks whose raw texts add up to exactly that chunk.
  get atBoundary(): boolean {
    return this.#decoderEmpty && this.#pending === '' && this.#raw === '';
  }

  // Ends the stream: returns what is left, the last block marked incomplete when it had
  // no closing blank line.
  end(): SseEvent[] {
    const out: SseEvent[] = [];
    this.#pending += this.#decoder.decode();
    this.#scan(out, true);
    if (this.#pending) {
      this.#line(this.#pending, this.#pending, out);
      this.#pending = '';
    }
    if (this.#raw) out.push(this.#dispatch(false));
    return out;
  }

  #scan(out: SseEvent[], final: boolean): void {
    const buf = this.#pending;
    const len = buf.length;
    let start = 0;
    let i = 0;
    while (i < len) {
      const c = buf.charCodeAt(i);
      if (c !== LF && c !== CR) {
        i += 1;
        continue;
      }
      let end = i + 1;
      if (c === CR) {
        // A CR at the very end may be the first half of a CRLF split across chunks.
        if (end === len && !final) break;
        if (buf.charCodeAt(end) === LF) end += 1;
      }
      this.#line(buf.slice(start, i), buf.slice(start, end), out);
      start = end;
      i = end;
    }
    this.#pending = start === 0 ? buf : buf.slice(start);
  }

  #line(line: string, raw: string, out: SseEvent[]): void {
    this.#raw += raw;
    if (line === '') {
      out.push(this.#dispatch(true));
      return;
    }
    if (line.charCodeAt(0) === COLON) {
      this.#rest += raw;
      return;
    }
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === SPACE) value = value.slice(1);
    if (field === 'data') {
      (this.#data ??= []).push(value);
      return;
    }
    this.#rest += raw;
    if (field === 'event') this.#event = value;
  }

  #dispatch(complete: boolean): SseEvent {
    const event: SseEvent = {
      raw: this.#raw,
      rest: this.#rest,
      event: this.#event,
      data: this.#data?.join('\n'),
      complete,
    };
    this.#raw = '';
    this.#rest = '';
    this.#event = undefined;
    this.#data = undefined;
    return event;
  }
}

// The block with its data replaced, other lines kept (re-serialized, so only for blocks
// the relay alters).
export function withData(event: SseEvent, data: string): string {
  return `${event.rest}data: ${data}\n\n`;
}

export const DONE = '[DONE]';
