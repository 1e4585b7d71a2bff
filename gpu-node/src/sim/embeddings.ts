// Deterministic embeddings: each token maps to a fixed pseudo-random direction and a
// text's vector is the normalised sum of its tokens' directions. Not semantic, but texts
// that share words point the same way, which is enough for demos of retrieval plumbing.
import { hashString, mix32 } from './prng.ts';
import { tokenize } from './tokenizer.ts';

export const DEFAULT_EMBEDDING_DIMENSIONS = 64;

function addDirection(vector: Float64Array, tokenSeed: number): void {
  for (let j = 0; j < vector.length; j++) {
    vector[j] =
      (vector[j] ?? 0) + mix32((tokenSeed + Math.imul(j, 0x9e3779b9)) >>> 0) / 2147483648 - 1;
  }
}

export function embed(input: string | readonly number[], dimensions: number): Float32Array {
  const sum = new Float64Array(dimensions);
  if (typeof input === 'string') {
    for (const token of tokenize(input.toLowerCase())) addDirection(sum, hashString(token));
  } else {
    for (const id of input) addDirection(sum, mix32(id ^ 0x1d));
  }
  let norm = 0;
  for (const v of sum) norm += v * v;
  norm = Math.sqrt(norm);
  const out = new Float32Array(dimensions);
  // An empty input has no direction: it gets the zero vector rather than NaNs.
  if (norm > 0) for (let j = 0; j < dimensions; j++) out[j] = (sum[j] ?? 0) / norm;
  return out;
}

// OpenAI's base64 encoding: the float32 values' little-endian bytes.
export function toBase64(vector: Float32Array): string {
  const bytes = Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength);
  return bytes.toString('base64');
}
