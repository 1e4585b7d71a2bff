// The words the simulator "generates". Each is one token for tokenizer.ts (letters only,
// at most 8 of them, or one punctuation mark), so counting the streamed text gives back
// usage.completion_tokens. Token strings are built once, JSON-escaped, for the hot path.
import { mix32 } from './prng.ts';

const WORDS = (
  'the of and to in is that it for as with was on be by this are from at or an have not ' +
  'they which one you had all were their there can more when will would each about how ' +
  'many then them these some her make like him into time has two look more write go see ' +
  'number way could people than first water been call who oil its now find long down day ' +
  'did get come made may part over new sound take only little work know place year live ' +
  'back give most very after thing our just name good sentence man think say great where ' +
  'help through much before line right too mean old any same tell boy follow came want ' +
  'show also around form three small set put end does another well large must big even ' +
  'such because turn here why ask went men read need land other home us move try ' +
  'kind hand picture again change off play spell air away animal house point page letter ' +
  'mother answer found study still learn should world high every near add food between ' +
  'own below country plant last school father keep tree never start city earth eye light ' +
  'thought head under story saw left few while along might close anything seem next hard ' +
  'open example begin life always those both paper together got group often run special ' +
  'until children side feet car mile night walk white sea began grow took river four carry ' +
  'state once book hear stop without second later miss idea enough eat face watch far real'
).split(' ');

const PUNCTUATION = [',', '.', ',', '.', ';', ':', '!', '?'];

// Words dominate, as in text; punctuation attaches to the previous word without a space.
const TOKENS: readonly string[] = [...WORDS, ...WORDS, ...PUNCTUATION];

function escapeJson(s: string): string {
  return JSON.stringify(s).slice(1, -1);
}

// A token after the first: words get their leading space, punctuation does not.
const FOLLOWING: readonly string[] = TOKENS.map((t) => (/^\p{L}/u.test(t) ? ` ${t}` : t));
// The first token of an answer: a capitalised word, never punctuation.
const FIRST: readonly string[] = WORDS.map((w) => w.charAt(0).toUpperCase() + w.slice(1));

const FOLLOWING_JSON: readonly string[] = FOLLOWING.map(escapeJson);
const FIRST_JSON: readonly string[] = FIRST.map(escapeJson);

function pick<T>(list: readonly T[], seed: number, index: number): T {
  const value = list[mix32((seed + Math.imul(index, 0x9e3779b9)) >>> 0) % list.length];
  // The modulo keeps the index in range; the check only satisfies noUncheckedIndexedAccess.
  if (value === undefined) throw new Error('vocabulary index out of range');
  return value;
}

// Token `index` of the answer seeded by `seed`: a pure function, so a non-streaming answer
// and a stream of the same request agree without keeping the text around.
export function tokenText(seed: number, index: number): string {
  return index === 0 ? pick(FIRST, seed, 0) : pick(FOLLOWING, seed, index);
}

// The same token, already escaped for a JSON string literal.
export function tokenJson(seed: number, index: number): string {
  return index === 0 ? pick(FIRST_JSON, seed, 0) : pick(FOLLOWING_JSON, seed, index);
}

export function generateText(seed: number, tokens: number): string {
  let text = '';
  for (let i = 0; i < tokens; i++) text += tokenText(seed, i);
  return text;
}
