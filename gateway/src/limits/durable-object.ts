// The Cloudflare host's limiter: one Durable Object per API key (SQLite-backed storage), so
// every isolate in every location admits against the same counters. Each call into the
// object runs the shared arithmetic without awaiting anything between a check and its
// reservation, so an admission is atomic there as in-process.
//
// The object keeps the key's state in its own SQLite storage (it survives eviction and
// restarts) and is also where the key's usage rows go: they wait in an outbox table and
// leave for D1/libSQL in batches from an alarm, instead of one database write per request.
// The budget period's usage is loaded once per period from the database plus the rows still
// in the outbox; outbox flushes and that load never overlap, so every row counts once.
import { DurableObject } from 'cloudflare:workers';
import { usageTotals, insertUsageEvents } from '../store/usage.ts';
import { openDb, type DbEnv } from '../store/worker-db.ts';
import type { UsageEvent } from '../types.ts';
import {
  admit,
  emptyState,
  finish,
  loadUsage,
  periodToLoad,
  snapshot,
  type AdmitResult,
  type KeyLimits,
  type KeyState,
  type Snapshot,
} from './arithmetic.ts';
import type { AdmitRequest, Limiter } from './limiter.ts';
import type { PeriodBounds } from './period.ts';

// Usage rows wait at most this long in the object before they are written.
export const FLUSH_DELAY_MS = 1000;
// Rows written per alarm; more wait for the next one, right after.
export const FLUSH_BATCH = 500;
// After a failed write the rows stay, and the next try comes this much later.
export const RETRY_DELAY_MS = 10_000;

export interface LimiterEnv extends DbEnv {
  KEY_LIMITER?: DurableObjectNamespace<KeyLimiter>;
}

export class KeyLimiter extends DurableObject<LimiterEnv> {
  #state: KeyState;
  // Serializes outbox flushes with period loads.
  #exclusive: Promise<unknown> = Promise.resolve();
  #loading: { period: string; done: Promise<void> } | undefined;
  #alarmSet = false;

  constructor(ctx: DurableObjectState, env: LimiterEnv) {
    super(ctx, env);
    const sql = ctx.storage.sql;
    sql.exec('CREATE TABLE IF NOT EXISTS state (k TEXT PRIMARY KEY, v TEXT NOT NULL)');
    sql.exec(
      'CREATE TABLE IF NOT EXISTS outbox (id TEXT PRIMARY KEY, created_at INTEGER NOT NULL, ' +
        'tokens INTEGER NOT NULL, spend REAL NOT NULL, event TEXT NOT NULL)',
    );
    const row = sql.exec<{ v: string }>("SELECT v FROM state WHERE k = 'key'").toArray()[0];
    this.#state = row ? (JSON.parse(row.v) as KeyState) : emptyState();
  }

  #save(): void {
    this.ctx.storage.sql.exec(
      "INSERT OR REPLACE INTO state (k, v) VALUES ('key', ?)",
      JSON.stringify(this.#state),
    );
  }

  #locked<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#exclusive.then(fn, fn);
    this.#exclusive = run.catch(() => undefined);
    return run;
  }

  async #ensurePeriod(keyId: string, limits: KeyLimits, now: number): Promise<void> {
    for (;;) {
      const period = periodToLoad(this.#state, limits, now);
      if (!period) return;
      if (this.#loading?.period !== period.key) {
        const done = this.#locked(() => this.#load(keyId, period));
        const loading = { period: period.key, done };
        this.#loading = loading;
        void done.finally(() => {
          if (this.#loading === loading) this.#loading = undefined;
        });
      }
      await this.#loading?.done;
    }
  }

  async #load(keyId: string, period: PeriodBounds): Promise<void> {
    const db = await openDb(this.env);
    const stored = await usageTotals(db, keyId, period.start, period.end);
    // Rows not yet written: read after the database, with no flush in between.
    const waiting = this.ctx.storage.sql
      .exec<{ requests: number; tokens: number; spend: number }>(
        'SELECT count(*) AS requests, coalesce(sum(tokens), 0) AS tokens, ' +
          'coalesce(sum(spend), 0) AS spend FROM outbox WHERE created_at >= ? AND created_at < ?',
        period.start,
        period.end ?? Number.MAX_SAFE_INTEGER,
      )
      .one();
    loadUsage(this.#state, {
      period: period.key,
      requests: stored.requests + waiting.requests,
      tokens: stored.tokens + waiting.tokens,
      spendUsd: stored.spendUsd + waiting.spend,
    });
    this.#save();
  }

  async admit(keyId: string, limits: KeyLimits, req: AdmitRequest): Promise<AdmitResult> {
    // One clock for the key's window: the object's own.
    const now = Date.now();
    if (limits.tokenBudget !== null || limits.spendBudgetUsd !== null) {
      await this.#ensurePeriod(keyId, limits, now);
    }
    const result = admit(this.#state, limits, { ...req, now });
    if (result.ok) this.#save();
    return result;
  }

  async finish(limits: KeyLimits, event: UsageEvent): Promise<void> {
    const spend = event.spendUsd ?? 0;
    finish(this.#state, limits, {
      id: event.id,
      at: event.createdAt,
      tokens: event.totalTokens,
      spendUsd: spend,
    });
    this.#save();
    this.ctx.storage.sql.exec(
      'INSERT OR IGNORE INTO outbox (id, created_at, tokens, spend, event) VALUES (?, ?, ?, ?, ?)',
      event.id,
      event.createdAt,
      event.totalTokens,
      spend,
      JSON.stringify(event),
    );
    if (!this.#alarmSet) {
      if ((await this.ctx.storage.getAlarm()) === null) {
        await this.ctx.storage.setAlarm(Date.now() + FLUSH_DELAY_MS);
      }
      this.#alarmSet = true;
    }
  }

  async inspect(keyId: string, limits: KeyLimits): Promise<Snapshot> {
    const now = Date.now();
    await this.#ensurePeriod(keyId, limits, now);
    return snapshot(this.#state, limits, now);
  }

  override async alarm(): Promise<void> {
    this.#alarmSet = false;
    await this.#locked(() => this.#flush());
  }

  // Writes one batch of waiting rows; schedules the next alarm while rows remain.
  async #flush(): Promise<void> {
    const sql = this.ctx.storage.sql;
    const rows = sql
      .exec<{ id: string; event: string }>(
        'SELECT id, event FROM outbox ORDER BY created_at LIMIT ?',
        FLUSH_BATCH,
      )
      .toArray();
    if (rows.length === 0) return;
    try {
      const db = await openDb(this.env);
      await insertUsageEvents(
        db,
        rows.map((r) => JSON.parse(r.event) as UsageEvent),
      );
    } catch (err) {
      console.error(
        `usage write from the key limiter failed (${rows.length} rows kept):`,
        err instanceof Error ? err.message : err,
      );
      await this.ctx.storage.setAlarm(Date.now() + RETRY_DELAY_MS);
      this.#alarmSet = true;
      return;
    }
    for (const r of rows) sql.exec('DELETE FROM outbox WHERE id = ?', r.id);
    const left = sql.exec<{ n: number }>('SELECT count(*) AS n FROM outbox').one().n;
    if (left > 0) {
      await this.ctx.storage.setAlarm(Date.now());
      this.#alarmSet = true;
    }
  }
}

// The Limiter the Worker's app uses: each call goes to the key's object.
export function createDurableObjectLimiter(
  ns: DurableObjectNamespace<KeyLimiter>,
  fallback: { record(event: UsageEvent): Promise<void> },
): Limiter {
  const stub = (keyId: string) => ns.get(ns.idFromName(keyId));
  return {
    admit: (key, req) => stub(key.id).admit(key.id, key.limits, req),
    async finish(key, event) {
      try {
        await stub(key.id).finish(key.limits, event);
      } catch (err) {
        // The row is not lost: it is written directly (the key's counters miss it until
        // its period is loaded again).
        console.error(
          `key limiter unreachable for request ${event.id}:`,
          err instanceof Error ? err.message : err,
        );
        await fallback.record(event);
      }
    },
    inspect: (key) => stub(key.id).inspect(key.id, key.limits),
  };
}
