// Incremental Server-Sent Events parser for relaying engine streams. It splits the stream
// into blocks (events ended by a blank line) and keeps each block's exact text, so a relay
// can pass every block through byte for byte and rebuild only the ones it must change.
// Follows the WHATWG event-stream rules: CRLF, LF or CR line ends; `:` comment lines;
// `field: value` with one optional space; multi-line `data` joined with LF.
//
// Work is linear in the input: each pushed character is scanned once (an unfinished line is
// kept as it grows and never rescanned), and a line or a block longer than its cap throws
// SseLimitError, so a node cannot make the gateway hold or rescan an endless line.
//
// Why not the `eventsource-parser` package: it hands out parsed fields only, never a
// block's exact text, which the relay needs to pass unaltered blocks on without
// re-encoding them; and it has no cap on a line (v3 joins the unfinished line with each new
// chunk and rescans it, the very pattern this parser replaces). Keeping the exact text and
// the caps would mean wrapping it in most of what is below.

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

export interface SseLimits {
  // Longest line, in UTF-16 code units (bytes, for the ASCII of JSON). Default 4 MiB.
  maxLineLength?: number;
  // Longest block, all its lines together, in the same units. Default 4 MiB.
  maxEventLength?: number;
}

export const MAX_SSE_LINE_LENGTH = 4 * 1024 * 1024;
export const MAX_SSE_EVENT_LENGTH = 4 * 1024 * 1024;

export class SseLimitError extends Error {
  override readonly name = 'SseLimitError';
  readonly code = 'sse_too_large';
}

const LF = 10;
const CR = 13;
const COLON = 58;
const SPACE = 32;

export class SseParser {
  // Streaming mode keeps a multi-byte UTF-8 sequence split across chunks intact.
  readonly #decoder = new TextDecoder('utf-8');
  readonly #maxLine: number;
  readonly #maxEvent: number;
  // The unfinished line (a rope: appending does not copy), without a trailing CR.
  #line = '';
  // The unfinished line ended in a CR, which may be the first half of a CRLF.
  #cr = false;
  #raw = '';
  #rest = '';
  #event: string | undefined;
  #data: string[] | undefined;
  // Whether the last chunk ended on an ASCII byte, so the decoder holds no partial character.
  #decoderEmpty = true;

  constructor(limits: SseLimits = {}) {
    this.#maxLine = limits.maxLineLength ?? MAX_SSE_LINE_LENGTH;
    this.#maxEvent = limits.maxEventLength ?? MAX_SSE_EVENT_LENGTH;
  }

  // Feeds a chunk; returns the blocks it completed, in order. Throws SseLimitError when a
  // line or a block passes its cap.
  push(chunk: Uint8Array | string): SseEvent[] {
    let text: string;
    if (typeof chunk === 'string') text = chunk;
    else {
      text = this.#decoder.decode(chunk, { stream: true });
      if (chunk.length > 0) this.#decoderEmpty = (chunk[chunk.length - 1] ?? 0) < 0x80;
    }
    const out: SseEvent[] = [];
    this.#scan(text, out);
    return out;
  }

  // True when nothing is held back: no unfinished line, block or character. A chunk pushed
  // between two such moments produced blocks whose raw texts add up to exactly that chunk.
  get atBoundary(): boolean {
    return this.#decoderEmpty && this.#line === '' && !this.#cr && this.#raw === '';
  }

  // Ends the stream: returns what is left, the last block marked incomplete when it had
  // no closing blank line.
  end(): SseEvent[] {
    const out: SseEvent[] = [];
    this.#scan(this.#decoder.decode(), out);
    if (this.#cr) {
      this.#cr = false;
      this.#endLine('\r', out);
    } else if (this.#line) {
      this.#endLine('', out);
    }
    if (this.#raw) out.push(this.#dispatch(false));
    return out;
  }

  #scan(text: string, out: SseEvent[]): void {
    const len = text.length;
    let start = 0;
    if (this.#cr && len > 0) {
      this.#cr = false;
      start = text.charCodeAt(0) === LF ? 1 : 0;
      this.#endLine(start === 1 ? '\r\n' : '\r', out);
    }
    for (let i = start; i < len; i += 1) {
      const c = text.charCodeAt(i);
      if (c !== LF && c !== CR) continue;
      this.#append(text.slice(start, i));
      if (c === CR && i + 1 === len) {
        // Maybe the first half of a CRLF split across chunks: decided by the next chunk.
        this.#cr = true;
        return;
      }
      const crlf = c === CR && text.charCodeAt(i + 1) === LF;
      this.#endLine(crlf ? '\r\n' : c === CR ? '\r' : '\n', out);
      if (crlf) i += 1;
      start = i + 1;
    }
    if (start < len) this.#append(text.slice(start));
  }

  #append(part: string): void {
    if (part === '') return;
    if (this.#line.length + part.length > this.#maxLine) {
      throw new SseLimitError(`an event-stream line is longer than ${this.#maxLine} characters`);
    }
    this.#line += part;
  }

  #endLine(ending: string, out: SseEvent[]): void {
    const line = this.#line;
    const raw = line + ending;
    this.#line = '';
    if (this.#raw.length + raw.length > this.#maxEvent) {
      throw new SseLimitError(`an event-stream block is longer than ${this.#maxEvent} characters`);
    }
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
