// Meters the blocks of a chat or completions stream without parsing them, when they only
// repeat an earlier block with other text. Engines send one block per token, and within a
// stream those blocks are byte for byte the same but for the token's text:
//   data: {"id":"chatcmpl-1",…,"choices":[{"index":0,"delta":{"content":"<text>"},…}]}\n\n
// A block parsed the slow way (JSON.parse, inspectChunk) that carries nothing but that text
// (no usage, error or finish_reason) becomes the template: the bytes before the text, the
// bytes after it, and what inspectChunk said of it with the text present and with it empty.
// A later block made of the same two parts around a valid JSON string body parses to the
// same object with another string in that one place, so inspectChunk would say the same of
// it: its ChunkInfo is taken from the template and its bytes are never decoded.
import { inspectChunk, isObject, type ChunkInfo, type JsonObject } from './inspect.ts';

const LF = 10;
const CR = 13;
const QUOTE = 34;
const BACKSLASH = 92;
// After a backslash in a JSON string: " \ / b f n r t, or u and four hex digits.
const ESCAPES = new Set([QUOTE, BACKSLASH, 47, 98, 102, 110, 114, 116]);
const U = 117;
// A stream whose blocks keep changing elsewhere (a counter, a time stamp per block) stops
// being learned from after this many tries.
const MAX_LEARNED = 4;

const isHex = (b: number) => (b >= 48 && b <= 57) || (b >= 65 && b <= 70) || (b >= 97 && b <= 102);

// Whether bytes [from, to) are the body of a JSON string: no quote or control character
// unescaped, every escape well formed.
export function isJsonStringBody(bytes: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i += 1) {
    const b = bytes[i] ?? 0;
    if (b < 0x20 || b === QUOTE) return false;
    if (b !== BACKSLASH) continue;
    if (i + 1 >= to) return false;
    const next = bytes[i + 1] ?? 0;
    if (next === U) {
      if (i + 5 >= to) return false;
      for (let k = 2; k <= 5; k += 1) if (!isHex(bytes[i + k] ?? 0)) return false;
      i += 5;
    } else if (ESCAPES.has(next)) {
      i += 1;
    } else {
      return false;
    }
  }
  return true;
}

// Node's Buffer, where there is one: its compare is native, a byte loop in JavaScript is
// what a matching block otherwise costs most.
const NodeBuffer = (globalThis as { Buffer?: typeof Buffer }).Buffer;

function startsWith(bytes: Uint8Array, at: number, part: Uint8Array): boolean {
  const end = at + part.length;
  if (end > bytes.length) return false;
  if (NodeBuffer !== undefined && NodeBuffer.isBuffer(bytes)) {
    return bytes.compare(part, 0, part.length, at, end) === 0;
  }
  for (let i = 0; i < part.length; i += 1) if (bytes[at + i] !== part[i]) return false;
  return true;
}

// The one piece of generated text a chat or completions chunk carries, if that is all it
// carries: choices[0]'s delta content, reasoning, or text.
function textOf(json: JsonObject): string | undefined {
  const choices = json.choices;
  if (!Array.isArray(choices) || choices.length !== 1) return undefined;
  const choice: unknown = choices[0];
  if (!isObject(choice)) return undefined;
  if (typeof choice.text === 'string') return choice.text;
  const delta = choice.delta;
  if (!isObject(delta)) return undefined;
  for (const key of ['content', 'reasoning_content', 'reasoning']) {
    const value = delta[key];
    if (typeof value === 'string' && value.length > 0) return value;
  }
  return undefined;
}

interface Template {
  head: Uint8Array;
  tail: Uint8Array;
  withText: ChunkInfo;
  withoutText: ChunkInfo;
}

const encoder = new TextEncoder();

export class BlockTemplates {
  #template: Template | undefined;
  #learned = 0;

  // The ChunkInfo of each block of a chunk made only of blocks that match the template, or
  // null (the chunk is to be parsed the slow way). A busy gateway reads several blocks at
  // once.
  match(chunk: Uint8Array): ChunkInfo[] | null {
    const t = this.#template;
    if (t === undefined) return null;
    const infos: ChunkInfo[] = [];
    for (let at = 0; at < chunk.length;) {
      // A matching block has no line end but the blank line that closes it.
      const lf = chunk.indexOf(LF, at + t.head.length);
      if (lf < 0) return null;
      const end = lf + 2;
      const info = this.#matchBlock(chunk, at, end);
      if (info === null) return null;
      infos.push(info);
      at = end;
    }
    return infos;
  }

  #matchBlock(chunk: Uint8Array, from: number, to: number): ChunkInfo | null {
    const t = this.#template;
    if (t === undefined || to > chunk.length) return null;
    const textEnd = to - t.tail.length;
    if (textEnd < from + t.head.length) return null;
    if (!startsWith(chunk, textEnd, t.tail) || !startsWith(chunk, from, t.head)) return null;
    if (!isJsonStringBody(chunk, from + t.head.length, textEnd)) return null;
    return textEnd > from + t.head.length ? t.withText : t.withoutText;
  }

  // Whether a block parsed the slow way could teach a template: it carries output and
  // nothing that needs parsing. Cheap; learn() does the rest.
  wants(info: ChunkInfo): boolean {
    return (
      this.#learned < MAX_LEARNED &&
      info.outputs === 1 &&
      info.usage === null &&
      info.error === null &&
      info.finished === 0
    );
  }

  // A block parsed the slow way (its exact bytes, its data and what inspectChunk said):
  // kept as the template when it carries only its text.
  learn(block: Uint8Array, json: JsonObject, info: ChunkInfo): void {
    if (this.#learned >= MAX_LEARNED) return;
    if (info.usage !== null || info.error !== null || info.finished > 0 || info.outputs !== 1) {
      return;
    }
    this.#learned += 1;
    const text = textOf(json);
    if (text === undefined) return;
    // The text as the engine wrote it must sit in the block once, between quotes.
    const written = encoder.encode(JSON.stringify(text));
    const at = indexOf(block, written);
    if (at < 0 || indexOf(block, written, at + 1) >= 0) return;
    const head = block.slice(0, at + 1);
    const tail = block.slice(at + written.length - 1);
    // One data line: no line end but the blank line closing the block.
    if (head.includes(LF) || head.includes(CR) || tail.includes(CR)) return;
    if (tail.length < 2 || tail.indexOf(LF) !== tail.length - 2 || tail.at(-1) !== LF) return;
    // The place found is the text's: other text there reads back as the text, and no text
    // there leaves the chunk without output.
    const probe = 'fleetgate';
    const probed = parseBlock(head, probe, tail);
    const emptied = parseBlock(head, '', tail);
    if (!probed || !emptied || textOf(probed) !== probe) return;
    const withoutText = inspectChunk(emptied);
    if (withoutText.outputs !== 0) return;
    this.#template = { head, tail, withText: info, withoutText };
  }
}

const decoder = new TextDecoder();

function parseBlock(head: Uint8Array, text: string, tail: Uint8Array): JsonObject | null {
  const block = `${decoder.decode(head)}${text}${decoder.decode(tail)}`;
  const data = /^data: ?(.*)\n\n$/s.exec(block)?.[1];
  if (data === undefined) return null;
  try {
    const parsed: unknown = JSON.parse(data);
    return isObject(parsed) ? parsed : null;
  } catch {
    return null;
  }
}

function indexOf(bytes: Uint8Array, part: Uint8Array, from = 0): number {
  const first = part[0];
  for (let i = bytes.indexOf(first ?? 0, from); i >= 0; i = bytes.indexOf(first ?? 0, i + 1)) {
    if (startsWith(bytes, i, part)) return i;
  }
  return -1;
}
