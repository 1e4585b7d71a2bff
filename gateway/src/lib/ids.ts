// Object ids: a type prefix (as OpenAI's `chatcmpl-`, `file-`) and 24 random hex digits.
export type IdPrefix = 'key' | 'rt' | 'node' | 'dep' | 'inst' | 'user';

export function newId(prefix: IdPrefix): string {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  let hex = '';
  for (const b of bytes) hex += b.toString(16).padStart(2, '0');
  return `${prefix}_${hex}`;
}
