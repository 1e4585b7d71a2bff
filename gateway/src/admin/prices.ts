// /admin/v1/prices: what each model costs per million input and output tokens. Usage rows
// carry spend_usd at the price in force when the request finished; a model without a
// price costs 0 (and stays usable by a key whose spend budget is spent).
import { Hono } from 'hono';
import { notFound } from '../errors.ts';
import { readJson } from '../lib/json-body.ts';
import { toUnixSeconds } from '../lib/time.ts';
import { PriceSchema } from '../limits/wire.ts';
import { deletePrice, listPrices, putPrice, type PriceRow } from '../store/prices.ts';
import type { AppDeps, AppEnv } from '../types.ts';
import type { AdminContext } from './context.ts';

const priceView = (row: PriceRow) => ({
  model: row.model,
  object: 'model_price' as const,
  input_usd_per_mtok: row.inputUsdPerMtok,
  output_usd_per_mtok: row.outputUsdPerMtok,
  usd_per_image: row.usdPerImage,
  updated_at: toUnixSeconds(row.updatedAt),
});

export function pricesApp(deps: AppDeps, ctx: AdminContext): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const now = deps.now ?? Date.now;

  app.get('/', async (c) => {
    const rows = await listPrices(deps.db);
    return c.json({ object: 'list', data: rows.map(priceView) });
  });

  // Model names may hold slashes (`meta-llama/Llama-3.1-8B-Instruct`).
  app.put('/:model{.+}', async (c) => {
    const model = c.req.param('model');
    const body = await readJson(c, PriceSchema);
    const row = await putPrice(deps.db, {
      model,
      inputUsdPerMtok: body.input_usd_per_mtok,
      outputUsdPerMtok: body.output_usd_per_mtok,
      usdPerImage: body.usd_per_image ?? null,
      updatedAt: now(),
    });
    ctx.prices.clear();
    return c.json(priceView(row));
  });

  app.delete('/:model{.+}', async (c) => {
    const model = c.req.param('model');
    if (!(await deletePrice(deps.db, model))) {
      throw notFound(`no price for model '${model}'`, 'price_not_found', 'model');
    }
    ctx.prices.clear();
    return c.json({ model, object: 'model_price' as const, deleted: true });
  });

  return app;
}
