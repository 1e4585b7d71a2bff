// model_prices: US dollars per million input and output tokens, per model.
import { asc, eq } from 'drizzle-orm';
import { modelPrices } from '../../../schema/db.ts';
import type { Db } from './db.ts';

export type PriceRow = typeof modelPrices.$inferSelect;

export const listPrices = (db: Db): Promise<PriceRow[]> =>
  db.select().from(modelPrices).orderBy(asc(modelPrices.model));

export async function putPrice(
  db: Db,
  price: {
    model: string;
    inputUsdPerMtok: number;
    outputUsdPerMtok: number;
    usdPerImage: number | null;
    updatedAt: number;
  },
): Promise<PriceRow> {
  const [row] = await db
    .insert(modelPrices)
    .values(price)
    .onConflictDoUpdate({
      target: modelPrices.model,
      set: {
        inputUsdPerMtok: price.inputUsdPerMtok,
        outputUsdPerMtok: price.outputUsdPerMtok,
        usdPerImage: price.usdPerImage,
        updatedAt: price.updatedAt,
      },
    })
    .returning();
  if (!row) throw new Error('price upsert returned no row');
  return row;
}

export async function deletePrice(db: Db, model: string): Promise<boolean> {
  const rows = await db
    .delete(modelPrices)
    .where(eq(modelPrices.model, model))
    .returning({ model: modelPrices.model });
  return rows.length > 0;
}
