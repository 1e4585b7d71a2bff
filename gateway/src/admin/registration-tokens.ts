// /admin/v1/registration-tokens: what a GPU machine presents once to join the fleet
// (POST /node/v1/register). Short-lived and counted; the secret is shown only on creation.
import { Hono } from 'hono';
import { z } from 'zod';
import { displayPrefix, generateSecret, hashSecret } from '../auth/secrets.ts';
import { notFound } from '../errors.ts';
import { newId } from '../lib/ids.ts';
import { readJson } from '../lib/json-body.ts';
import { toUnixSeconds } from '../lib/time.ts';
import {
  deleteToken,
  insertToken,
  listTokens,
  type TokenRow,
} from '../store/registration-tokens.ts';
import type { RegistrationToken } from '../../../schema/admin.ts';
import type { AppDeps, AppEnv } from '../types.ts';

export const DEFAULT_TOKEN_TTL_S = 3600;
export const MAX_TOKEN_TTL_S = 30 * 24 * 3600;

export const CreateTokenSchema = z
  .object({
    name: z.string().trim().min(1).max(128).nullish(),
    ttl_s: z.number().int().min(1).max(MAX_TOKEN_TTL_S).nullish(),
    uses: z.number().int().min(1).max(10_000).nullish(),
  })
  .strict();

function tokenView(row: TokenRow): RegistrationToken {
  return {
    id: row.id,
    object: 'registration_token' as const,
    name: row.name,
    prefix: row.prefix,
    uses: row.uses,
    max_uses: row.maxUses,
    expires_at: toUnixSeconds(row.expiresAt),
    created_at: toUnixSeconds(row.createdAt),
  };
}

export function registrationTokensApp(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const now = deps.now ?? Date.now;

  app.post('/', async (c) => {
    const body = await readJson(c, CreateTokenSchema);
    const secret = generateSecret('registrationToken');
    const at = now();
    const row = await insertToken(deps.db, {
      id: newId('rt'),
      name: body.name ?? null,
      tokenHash: await hashSecret(secret),
      prefix: displayPrefix(secret),
      expiresAt: at + (body.ttl_s ?? DEFAULT_TOKEN_TTL_S) * 1000,
      maxUses: body.uses ?? 1,
      createdAt: at,
    });
    return c.json({ ...tokenView(row), token: secret }, 201);
  });

  app.get('/', async (c) => {
    const rows = await listTokens(deps.db);
    return c.json({ object: 'list', data: rows.map(tokenView) });
  });

  app.delete('/:id', async (c) => {
    const id = c.req.param('id');
    if (!(await deleteToken(deps.db, id)))
      throw notFound(`no registration token with id '${id}'`, 'token_not_found', 'id');
    return c.json({ id, object: 'registration_token' as const, deleted: true });
  });

  return app;
}
