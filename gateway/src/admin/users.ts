// /admin/v1/users: console users. Created by the admin token or an admin user; a password is
// hashed (auth/password.ts) and never answered.
import { Hono } from 'hono';
import { z } from 'zod';
import { ADMIN_ROLES, type AdminUser } from '../../../schema/admin.ts';
import { MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, hashPassword } from '../auth/password.ts';
import { conflict, notFound } from '../errors.ts';
import { newId } from '../lib/ids.ts';
import { readJson } from '../lib/json-body.ts';
import { toUnixSeconds } from '../lib/time.ts';
import {
  deleteAdminUser,
  insertAdminUser,
  listAdminUsers,
  type AdminUserRow,
} from '../store/admin-users.ts';
import type { AppDeps, AppEnv } from '../types.ts';
import { USERNAME_PATTERN } from './session.ts';

export const CreateUserSchema = z
  .object({
    username: z
      .string()
      .regex(
        USERNAME_PATTERN,
        'use 1 to 64 letters, digits and . _ @ -, starting with a letter or digit',
      ),
    password: z
      .string()
      .min(MIN_PASSWORD_LENGTH, `use at least ${MIN_PASSWORD_LENGTH} characters`)
      .max(MAX_PASSWORD_LENGTH),
    role: z.enum(ADMIN_ROLES),
  })
  .strict();

function userView(row: AdminUserRow): AdminUser {
  return {
    id: row.id,
    object: 'admin_user',
    username: row.username,
    role: row.role,
    created_at: toUnixSeconds(row.createdAt),
  };
}

export function usersApp(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const now = deps.now ?? Date.now;

  app.post('/', async (c) => {
    const body = await readJson(c, CreateUserSchema);
    const row = await insertAdminUser(deps.db, {
      id: newId('user'),
      username: body.username,
      passwordHash: await hashPassword(body.password),
      role: body.role,
      createdAt: now(),
    });
    if (!row) throw conflict(`the username '${body.username}' is taken`, 'username_taken');
    return c.json(userView(row), 201);
  });

  app.get('/', async (c) => {
    const rows = await listAdminUsers(deps.db);
    return c.json({ object: 'list' as const, data: rows.map(userView) });
  });

  // The user's sessions end with it: each request looks its user up.
  app.delete('/:id', async (c) => {
    const id = c.req.param('id');
    if (!(await deleteAdminUser(deps.db, id))) {
      throw notFound(`no user with id '${id}'`, 'user_not_found', 'id');
    }
    return c.json({ id, object: 'admin_user' as const, deleted: true });
  });

  return app;
}
