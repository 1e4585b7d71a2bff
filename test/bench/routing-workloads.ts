// The request streams of the routing benchmark, as pure functions of a seed, so a run can
// be repeated and each policy meets prompts no simulator has cached yet (a new salt).
//   A  shared prefixes: clients in groups; each group shares a long system prompt, and each
//      client holds multi-turn conversations (every turn extends the previous one)
//   B  unique prompts: nothing shared between requests
//   C  one sick instance: short unique prompts (the sickness is in the simulators)
import { createRng, type Rng } from '../../gpu-node/src/sim/prng.ts';

export type WorkloadName = 'A' | 'B' | 'C';

export interface WorkloadShape {
  // Words (the simulator counts about one token per word) of a group's system prompt (A)
  // or of each prompt (B, C).
  promptWords: number;
  groups: number;
  turnsPerConversation: number;
  userWords: number;
}

export const WORKLOADS: Record<WorkloadName, WorkloadShape> = {
  A: { promptWords: 3000, groups: 8, turnsPerConversation: 4, userWords: 40 },
  B: { promptWords: 1000, groups: 0, turnsPerConversation: 1, userWords: 0 },
  C: { promptWords: 200, groups: 0, turnsPerConversation: 1, userWords: 0 },
};

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

const LETTERS = 'abcdefghijklmnopqrstuvwxyz';

// Lower-case words of 3 to 8 letters: one simulator token each.
export function words(rng: Rng, n: number): string {
  const out: string[] = [];
  for (let i = 0; i < n; i += 1) {
    const len = 3 + Math.floor(rng() * 6);
    let w = '';
    for (let k = 0; k < len; k += 1) w += LETTERS[Math.floor(rng() * 26)] ?? 'a';
    out.push(w);
  }
  return out.join(' ');
}

function seedOf(...parts: (string | number)[]): number {
  let h = 0x811c9dc5;
  for (const ch of parts.join('/')) {
    h ^= ch.charCodeAt(0);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

// The system prompt of group `g` in a run salted with `salt`.
export function systemPrompt(salt: string, g: number, shape: WorkloadShape): string {
  return `Group ${g} (${salt}). ${words(createRng(seedOf(salt, 'group', g)), shape.promptWords)}`;
}

// One client's stream of requests: next() gives the messages of its next request, and
// answered() hands back the assistant's answer, which the next turn includes.
export class Conversation {
  readonly #rng: Rng;
  readonly #shape: WorkloadShape;
  readonly #system: string | undefined;
  #messages: ChatMessage[] = [];
  #turn = 0;
  #count = 0;

  constructor(
    readonly workload: WorkloadName,
    readonly client: number,
    readonly salt: string,
  ) {
    this.#shape = WORKLOADS[workload];
    this.#rng = createRng(seedOf(salt, workload, 'client', client));
    this.#system =
      this.#shape.groups > 0
        ? systemPrompt(salt, client % this.#shape.groups, this.#shape)
        : undefined;
  }

  next(): ChatMessage[] {
    this.#count += 1;
    if (this.#system === undefined) {
      // Unique: the request's own number first, so no two prompts share even a first block.
      const text = `Request ${this.client}-${this.#count} (${this.salt}). ${words(this.#rng, this.#shape.promptWords)}`;
      return [{ role: 'user', content: text }];
    }
    if (this.#turn === 0) this.#messages = [{ role: 'system', content: this.#system }];
    this.#turn += 1;
    this.#messages.push({ role: 'user', content: words(this.#rng, this.#shape.userWords) });
    return [...this.#messages];
  }

  answered(text: string): void {
    if (this.#system === undefined) return;
    if (this.#turn >= this.#shape.turnsPerConversation) {
      this.#turn = 0;
      return;
    }
    this.#messages.push({ role: 'assistant', content: text });
  }
}
