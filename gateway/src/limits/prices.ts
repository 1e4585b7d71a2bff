// Prices on the request path: all model prices read at once through a short-lived cache
// (the table is small), so pricing a request costs no database round trip on a hit. The
// host that changes a price clears its cache at once; others follow within the TTL.
import { listPrices } from '../store/prices.ts';
import type { Db } from '../store/db.ts';

export interface Price {
  inputUsdPerMtok: number;
  outputUsdPerMtok: number;
  // Per generated image; null: images cost nothing beyond their tokens.
  usdPerImage: number | null;
}

export interface PriceBook {
  // undefined: the model has no price and costs nothing.
  get(model: string): Promise<Price | undefined>;
  clear(): void;
}

export function spendUsd(
  price: Price | undefined,
  promptTokens: number,
  completionTokens: number,
  images = 0,
) {
  if (!price) return 0;
  const tokens =
    (promptTokens * price.inputUsdPerMtok + completionTokens * price.outputUsdPerMtok) / 1e6;
  return tokens + images * (price.usdPerImage ?? 0);
}

export function createPriceBook(db: Db, opts: { ttlMs: number; now: () => number }): PriceBook {
  let cached: { prices: Map<string, Price>; expires: number } | undefined;
  let loading: Promise<Map<string, Price>> | undefined;
  let generation = 0;

  async function load(): Promise<Map<string, Price>> {
    const started = generation;
    const rows = await listPrices(db);
    const prices = new Map(rows.map((r) => [r.model, r]));
    if (started === generation && opts.ttlMs > 0) {
      cached = { prices, expires: opts.now() + opts.ttlMs };
    }
    return prices;
  }

  return {
    async get(model) {
      if (cached && cached.expires > opts.now()) return cached.prices.get(model);
      loading ??= load().finally(() => {
        loading = undefined;
      });
      return (await loading).get(model);
    },
    clear() {
      generation += 1;
      cached = undefined;
      loading = undefined;
    },
  };
}
