// The multipart head scanner on uploads cut at every possible place.
import { describe, expect, it } from 'vitest';
import { boundaryOf, FormError, FormHeadScanner, MAX_FIELD_BYTES } from './form-head.ts';

const encoder = new TextEncoder();
const BOUNDARY = 'openai-x7k2';

function form(parts: { name: string; filename?: string; data: string }[]): Uint8Array {
  let out = '';
  for (const p of parts) {
    const file = p.filename === undefined ? '' : `; filename="${p.filename}"`;
    const type = p.filename === undefined ? '' : 'Content-Type: audio/wav\r\n';
    out += `--${BOUNDARY}\r\nContent-Disposition: form-data; name="${p.name}"${file}\r\n${type}\r\n${p.data}\r\n`;
  }
  return encoder.encode(`${out}--${BOUNDARY}--\r\n`);
}

// The file's bytes include what looks like a boundary's start, and CRLFs.
const FILE = `RIFF\r\n--openai-x7\r\n\r\n${'\u0000'.repeat(40)}--${BOUNDARY.slice(0, 5)}`;

function scan(body: Uint8Array, cuts: number[]): FormHeadScanner {
  const scanner = new FormHeadScanner(BOUNDARY);
  let from = 0;
  for (const cut of [...cuts, body.length]) {
    scanner.push(body.slice(from, cut));
    from = cut;
  }
  return scanner;
}

describe('FormHeadScanner', () => {
  it('finds the fields before and after a file, wherever the upload is cut', () => {
    const body = form([
      { name: 'file', filename: 'a.wav', data: FILE },
      { name: 'model', data: 'whisper-large' },
      { name: 'stream', data: 'true' },
      { name: 'empty', data: '' },
    ]);
    for (let cut = 1; cut < body.length; cut += 1) {
      const scanner = scan(body, [cut]);
      expect(Object.fromEntries(scanner.fields)).toEqual({
        model: 'whisper-large',
        stream: 'true',
        empty: '',
      });
      expect(scanner.complete).toBe(true);
    }
    // One byte at a time.
    const scanner = scan(
      body,
      Array.from({ length: body.length - 1 }, (_, i) => i + 1),
    );
    expect(scanner.fields.get('model')).toBe('whisper-large');
  });

  it('knows the model as soon as its part has ended, before the file arrives', () => {
    const body = form([
      { name: 'model', data: 'm' },
      { name: 'file', filename: 'a.wav', data: FILE },
    ]);
    const scanner = new FormHeadScanner(BOUNDARY);
    const text = new TextDecoder().decode(body);
    scanner.push(body.slice(0, text.indexOf('filename') + 1));
    expect(scanner.fields.get('model')).toBe('m');
    expect(scanner.complete).toBe(false);
  });

  it('refuses long fields and nameless parts', () => {
    const long = form([{ name: 'prompt', data: 'x'.repeat(MAX_FIELD_BYTES + 1) }]);
    expect(() => scan(long, [])).toThrow(FormError);
    const nameless = encoder.encode(
      `--${BOUNDARY}\r\nContent-Type: text/plain\r\n\r\nx\r\n--${BOUNDARY}--`,
    );
    expect(() => scan(nameless, [])).toThrow(/no name/);
  });

  it('reads the boundary of a multipart content type only', () => {
    expect(boundaryOf(`multipart/form-data; boundary=${BOUNDARY}`)).toBe(BOUNDARY);
    expect(boundaryOf('multipart/form-data; boundary="a b"')).toBe('a b');
    expect(boundaryOf('application/json')).toBeUndefined();
    expect(boundaryOf('multipart/form-data')).toBeUndefined();
  });
});
