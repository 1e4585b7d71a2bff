// Seeded randomness for the simulator. Everything it "decides" (output words, jitter,
// injected failures) comes from here, so a seed and a request reproduce the same answer.

// FNV-1a over UTF-16 code units: a fast, stable 32-bit string hash.
export function hashString(text: string, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

// A 32-bit finaliser (from MurmurHash3): spreads nearby inputs over the whole range, so
// mix32(seed + i) serves as a counter-based generator with no state to carry around.
export function mix32(x: number): number {
  let h = x >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

// Combines two 32-bit values into one seed (order matters).
export function combineSeeds(a: number, b: number): number {
  return mix32((Math.imul(a >>> 0, 0x9e3779b1) ^ (b >>> 0)) >>> 0);
}

export type Rng = () => number;

// mulberry32: tiny, fast and good enough for simulation; returns floats in [0, 1).
export function createRng(seed: number): Rng {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// An integer in [min, max], both included.
export function randomInt(rng: Rng, min: number, max: number): number {
  return min + Math.floor(rng() * (max - min + 1));
}
