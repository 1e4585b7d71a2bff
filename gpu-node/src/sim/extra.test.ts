// The simulator's non-token answers' pure parts: PNG bytes, WAV durations, multipart bodies.
import { inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { audioSeconds, parseMultipart } from './extra.ts';
import { crc32, renderPng } from './png.ts';

describe('renderPng', () => {
  it('writes a valid 8-bit RGB PNG, the same for the same seed', () => {
    // The CRC-32 check value of the standard.
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
    const png = renderPng(5, 3, 42);
    expect(png.subarray(1, 4).toString('ascii')).toBe('PNG');
    expect(png.subarray(12, 16).toString('ascii')).toBe('IHDR');
    expect([png.readUInt32BE(16), png.readUInt32BE(20), png[24], png[25]]).toEqual([5, 3, 8, 2]);
    const idatLength = png.readUInt32BE(33);
    expect(png.subarray(37, 41).toString('ascii')).toBe('IDAT');
    const pixels = inflateSync(png.subarray(41, 41 + idatLength));
    expect(pixels.length).toBe(3 * (1 + 5 * 3));
    expect(png.subarray(-8, -4).toString('ascii')).toBe('IEND');
    expect(renderPng(5, 3, 42).equals(png)).toBe(true);
    expect(renderPng(5, 3, 43).equals(png)).toBe(false);
  });
});

describe('audio uploads', () => {
  it('times a PCM WAV exactly and anything else by its size', () => {
    const wav = Buffer.alloc(44 + 32_000);
    wav.write('RIFF', 0, 'ascii');
    wav.write('WAVEfmt ', 8, 'ascii');
    wav.writeUInt32LE(16, 16);
    wav.writeUInt32LE(16_000, 28);
    wav.write('data', 36, 'ascii');
    wav.writeUInt32LE(32_000, 40);
    expect(audioSeconds(wav)).toBe(2);
    expect(audioSeconds(Buffer.alloc(48_000))).toBe(3);
  });

  it('splits a multipart body into fields and files', () => {
    const body = Buffer.from(
      '--b1\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n' +
        'bytes --b1\r\n--b' +
        '\r\n--b1\r\nContent-Disposition: form-data; name="model"\r\n\r\nm\r\n--b1--\r\n',
    );
    const parts = parseMultipart(body, 'multipart/form-data; boundary=b1');
    expect(parts?.map((p) => [p.name, p.filename, p.data.toString()])).toEqual([
      ['file', 'a.wav', 'bytes --b1\r\n--b'],
      ['model', null, 'm'],
    ]);
    expect(parseMultipart(body, 'multipart/form-data')).toBeNull();
  });
});
