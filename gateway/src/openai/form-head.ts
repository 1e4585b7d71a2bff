// Reads the head of a multipart/form-data upload as it streams in, only far enough to learn
// the fields the gateway routes by (`model`, and `stream`), keeping the bytes read so they
// can be forwarded unchanged ahead of the rest of the stream. Field values are small and
// bounded; a file's content is scanned for the next boundary and never kept apart from the
// held bytes. Pure: no I/O, fed chunk by chunk (unit-tested in form-head.test.ts).

// Longest part header block, and longest text field value, the scanner accepts.
export const MAX_PART_HEADERS_BYTES = 8 * 1024;
export const MAX_FIELD_BYTES = 4 * 1024;

export class FormError extends Error {
  override readonly name = 'FormError';
}

// The boundary of a multipart/form-data content type, or undefined.
export function boundaryOf(contentType: string | undefined): string | undefined {
  if (!contentType || !/^multipart\/form-data\s*;/i.test(contentType)) return undefined;
  const match = /;\s*boundary=(?:"([^"]{1,70})"|([^;\s"]{1,70}))/i.exec(contentType);
  return match?.[1] ?? match?.[2];
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const CRLFCRLF = encoder.encode('\r\n\r\n');

function indexOf(haystack: Uint8Array, needle: Uint8Array, from = 0): number {
  const first = needle[0];
  outer: for (
    let i = haystack.indexOf(first ?? 0, from);
    i !== -1;
    i = haystack.indexOf(first ?? 0, i + 1)
  ) {
    if (i + needle.length > haystack.length) return -1;
    for (let j = 1; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

type State = 'headers' | 'content' | 'end';

export class FormHeadScanner {
  // Text fields seen so far (files are not fields).
  readonly fields = new Map<string, string>();
  // The closing boundary was seen: the form is complete.
  complete = false;
  readonly #delimiter: Uint8Array;
  // Unscanned bytes: a partial header block, or the tail of a content that may hold the
  // start of the next delimiter.
  #pending: Uint8Array;
  #state: State = 'content';
  #part: { name: string; file: boolean; value: Uint8Array } | null = null;

  constructor(boundary: string) {
    this.#delimiter = encoder.encode(`\r\n--${boundary}`);
    // The first delimiter has no CRLF before it: scan as if there were one.
    this.#pending = encoder.encode('\r\n');
  }

  push(chunk: Uint8Array): void {
    if (this.complete) return;
    this.#pending = concat(this.#pending, chunk);
    while (this.#state !== 'end') {
      const progressed = this.#state === 'content' ? this.#scanContent() : this.#scanHeaders();
      if (!progressed) return;
    }
  }

  // Looks for the delimiter that ends the current part; true when it was found.
  #scanContent(): boolean {
    const at = indexOf(this.#pending, this.#delimiter);
    if (at === -1) {
      // Keep only what may begin a delimiter split across chunks.
      const keep = Math.min(this.#pending.length, this.#delimiter.length - 1);
      this.#take(this.#pending.length - keep);
      return false;
    }
    // After the delimiter: CRLF (another part follows) or `--` (the end); wait for them.
    const after = at + this.#delimiter.length;
    if (this.#pending.length < after + 2) {
      this.#take(at);
      return false;
    }
    this.#take(at);
    this.#finishPart();
    const tail = decoder.decode(
      this.#pending.subarray(this.#delimiter.length, this.#delimiter.length + 2),
    );
    this.#pending = this.#pending.subarray(this.#delimiter.length + 2);
    if (tail === '--') {
      this.complete = true;
      this.#state = 'end';
      return true;
    }
    if (tail !== '\r\n') throw new FormError('malformed multipart body: bad boundary line');
    this.#state = 'headers';
    return true;
  }

  #scanHeaders(): boolean {
    const end = indexOf(this.#pending, CRLFCRLF);
    if (end === -1) {
      if (this.#pending.length > MAX_PART_HEADERS_BYTES) {
        throw new FormError('malformed multipart body: part headers too long');
      }
      return false;
    }
    const headers = decoder.decode(this.#pending.subarray(0, end));
    const disposition = /^content-disposition:\s*form-data(.*)$/im.exec(headers)?.[1] ?? '';
    const name = /;\s*name="([^"]*)"/i.exec(disposition)?.[1];
    if (name === undefined) throw new FormError('malformed multipart body: a part has no name');
    this.#part = { name, file: /;\s*filename=/i.test(disposition), value: new Uint8Array(0) };
    // The content runs from here to the CRLF that begins the next delimiter.
    this.#pending = this.#pending.subarray(end + CRLFCRLF.length);
    this.#state = 'content';
    return true;
  }

  // The first n pending bytes are content of the current part.
  #take(n: number): void {
    const bytes = this.#pending.subarray(0, n);
    this.#pending = this.#pending.subarray(n);
    const part = this.#part;
    if (!part || part.file || bytes.length === 0) return;
    if (part.value.length + bytes.length > MAX_FIELD_BYTES) {
      throw new FormError(`the form field '${part.name}' is longer than ${MAX_FIELD_BYTES} bytes`);
    }
    part.value = concat(part.value, bytes.slice());
  }

  #finishPart(): void {
    const part = this.#part;
    this.#part = null;
    if (part && !part.file) this.fields.set(part.name, decoder.decode(part.value));
  }
}
