// /admin/v1/keys: create (the secret is in this one answer), list, read, change, revoke.
// Revoking deletes the row; the key cache of this host is cleared at once and other hosts
// drop the key within their cache TTL.
import { Hono } from 'hono';
import { z } from 'zod';
import { displayPrefix, generateSecret, hashSecret } from '../auth/secrets.ts';
import { badRequest, notFound } from '../errors.ts';
import { newId } from '../lib/ids.ts';
import { readJson } from '../lib/json-body.ts';
import { TimeInputSchema, toUnixSeconds, toUnixSecondsOrNull } from '../lib/time.ts';
import {
  deleteKey,
  findKey,
  insertKey,
  listKeys,
  updateKey,
  type KeyRow,
} from '../store/api-keys.ts';
import {
  LimitsSchema,
  limitColumns,
  limitsOfRow,
  limitsView,
  standingView,
} from '../limits/wire.ts';
import type { ApiKey } from '../../../schema/admin.ts';
import type { AppDeps, AppEnv } from '../types.ts';
import type { AdminContext } from './context.ts';

export const MAX_KEY_MODELS = 256;

const ModelsSchema = z
  .array(z.string().min(1).max(256))
  .min(1, 'list at least one model, or send null (or leave it out) to allow every model')
  .max(MAX_KEY_MODELS)
  .nullable();

export const CreateKeySchema = z
  .object({
    name: z.string().trim().min(1).max(128),
    models: ModelsSchema.optional(),
    expires_at: TimeInputSchema.nullable().optional(),
    limits: LimitsSchema.nullable().optional(),
  })
  .strict();

export const PatchKeySchema = z
  .object({
    name: z.string().trim().min(1).max(128).optional(),
    models: ModelsSchema.optional(),
    expires_at: TimeInputSchema.nullable().optional(),
    disabled: z.boolean().optional(),
    limits: LimitsSchema.nullable().optional(),
  })
  .strict();

function keyView(row: KeyRow): ApiKey {
  return {
    id: row.id,
    object: 'api_key' as const,
    name: row.name,
    prefix: row.prefix,
    models: row.models ?? null,
    expires_at: toUnixSecondsOrNull(row.expiresAt),
    disabled: row.disabled,
    limits: limitsView(limitsOfRow(row)),
    created_at: toUnixSeconds(row.createdAt),
    last_used_at: toUnixSecondsOrNull(row.lastUsedAt),
  };
}

const unique = (models: string[] | null | undefined) =>
  models ? [...new Set(models)] : (models ?? null);

export function keysApp(deps: AppDeps, ctx: AdminContext): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const now = deps.now ?? Date.now;

  async function find(id: string): Promise<KeyRow> {
    const row = await findKey(deps.db, id);
    if (!row) throw notFound(`no API key with id '${id}'`, 'api_key_not_found', 'id');
    return row;
  }

  function checkExpiry(expiresAt: number | null | undefined) {
    if (typeof expiresAt === 'number' && expiresAt <= now()) {
      throw badRequest('expires_at must be in the future', 'expires_at', 'invalid_value');
    }
  }

  app.post('/', async (c) => {
    const body = await readJson(c, CreateKeySchema);
    checkExpiry(body.expires_at);
    const secret = generateSecret('apiKey');
    const row = await insertKey(deps.db, {
      id: newId('key'),
      name: body.name,
      keyHash: await hashSecret(secret),
      prefix: displayPrefix(secret),
      models: unique(body.models),
      expiresAt: body.expires_at ?? null,
      ...limitColumns(body.limits ?? null),
      createdAt: now(),
    });
    return c.json({ ...keyView(row), key: secret }, 201);
  });

  app.get('/', async (c) => {
    const rows = await listKeys(deps.db);
    return c.json({ object: 'list', data: rows.map(keyView) });
  });

  // One key with its standing in its budget period, as GET /v1/key shows it to its holder.
  app.get('/:id', async (c) => {
    const row = await find(c.req.param('id'));
    const at = now();
    const standing = await ctx.limiter.inspect({ id: row.id, limits: limitsOfRow(row) }, at);
    return c.json({ ...keyView(row), ...standingView(standing, at) });
  });

  app.patch('/:id', async (c) => {
    const id = c.req.param('id');
    const body = await readJson(c, PatchKeySchema);
    checkExpiry(body.expires_at);
    const changes: Partial<KeyRow> = {};
    if (body.name !== undefined) changes.name = body.name;
    if (body.models !== undefined) changes.models = unique(body.models);
    if (body.expires_at !== undefined) changes.expiresAt = body.expires_at;
    if (body.disabled !== undefined) changes.disabled = body.disabled;
    if (body.limits !== undefined) Object.assign(changes, limitColumns(body.limits));
    if (Object.keys(changes).length === 0) return c.json(keyView(await find(id)));
    const row = await updateKey(deps.db, id, changes);
    if (!row) throw notFound(`no API key with id '${id}'`, 'api_key_not_found', 'id');
    ctx.keyCache.clear();
    return c.json(keyView(row));
  });

  app.delete('/:id', async (c) => {
    const id = c.req.param('id');
    if (!(await deleteKey(deps.db, id)))
      throw notFound(`no API key with id '${id}'`, 'api_key_not_found', 'id');
    ctx.keyCache.clear();
    return c.json({ id, object: 'api_key' as const, deleted: true });
  });

  return app;
}
