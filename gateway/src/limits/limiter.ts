// The Limiter: where a key's counters live (createApp's `limiter` dependency). Every
// implementation runs the same arithmetic (arithmetic.ts); they differ in where the state
// is kept and how one admission is made atomic: one JS turn in-process, one call into the
// key's Durable Object on Workers, one Lua script in Redis.
import type { UsageEvent } from '../types.ts';
import type { AdmitResult, KeyLimits, Snapshot } from './arithmetic.ts';

export interface LimitedKey {
  id: string;
  limits: KeyLimits;
}

export interface AdmitRequest {
  // The request id: names the reservation until finish().
  id: string;
  now: number;
  // Reserved tokens (estimated prompt + completion cap) and their price.
  tokens: number;
  spendUsd: number;
}

export interface Limiter {
  // Checks every limit of the key and reserves in one atomic step.
  admit(key: LimitedKey, req: AdmitRequest): Promise<AdmitResult>;
  // Every finished /v1 inference request of a key ends here, admitted or not: its
  // reservation is settled to what it used, its slot released, and its usage row recorded
  // (the limiter owns the way rows reach the database). Never throws.
  finish(key: LimitedKey, event: UsageEvent): Promise<void>;
  // The key's usage in its budget period and its per-minute figures (GET /v1/key).
  inspect(key: LimitedKey, now: number): Promise<Snapshot>;
}

// Totals of a key's usage rows in [start, end): what a limiter loads a budget period from.
export interface UsageTotals {
  requests: number;
  tokens: number;
  spendUsd: number;
}

export type LoadUsage = (keyId: string, start: number, end: number | null) => Promise<UsageTotals>;
