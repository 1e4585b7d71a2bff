// `fleetgate users ...`: console users. The password never travels as an argument (it would
// show in the process list and shell history): it comes from FLEETGATE_USER_PASSWORD or, with
// --password-stdin, from the first line of standard input.
import { text } from 'node:stream/consumers';
import {
  AdminUserListSchema,
  AdminUserSchema,
  DeletedAdminUserSchema,
  type AdminUser,
} from '../../schema/admin.ts';
import { CliError, type AdminApi } from './client.ts';
import { isoTime, table } from './format.ts';
import type { LimitCommandsDeps } from './limits.ts';

type Invocation = Parameters<LimitCommandsDeps['show']>[0];

export const usersUsage = `  users create --username NAME --role admin|viewer [--password-stdin]
               (password: FLEETGATE_USER_PASSWORD, or stdin with --password-stdin)
  users list | users rm ID (or users delete ID)`;

const userColumns = ['id', 'username', 'role', 'created'];
const userRow = (u: AdminUser) => ({ ...u, created: isoTime(u.created_at) });

async function password(fromStdin: boolean): Promise<string> {
  if (fromStdin) {
    const line = (await text(process.stdin)).split(/\r?\n/)[0] ?? '';
    if (!line) throw new CliError('--password-stdin: standard input held no password');
    return line;
  }
  const value = process.env.FLEETGATE_USER_PASSWORD;
  if (!value) {
    throw new CliError(
      'set FLEETGATE_USER_PASSWORD, or pipe the password in with --password-stdin',
    );
  }
  return value;
}

export function userCommands(d: LimitCommandsDeps) {
  const remove = {
    async run(api: AdminApi, inv: Invocation) {
      const id = d.flags(inv, {}).positionals[0];
      if (!id) throw new CliError('a user id is required');
      const res = await api.call(DeletedAdminUserSchema, `users/${encodeURIComponent(id)}`, {
        method: 'DELETE',
      });
      return d.show(inv, res.json, () => `deleted user ${res.data.id}`);
    },
  };
  return {
    'users create': {
      async run(api: AdminApi, inv: Invocation) {
        const { values } = d.flags(inv, {
          username: { type: 'string' },
          role: { type: 'string' },
          'password-stdin': { type: 'boolean' },
        });
        if (typeof values.username !== 'string') throw new CliError('--username is required');
        if (values.role !== 'admin' && values.role !== 'viewer') {
          throw new CliError('--role must be admin or viewer');
        }
        const res = await api.call(AdminUserSchema, 'users', {
          method: 'POST',
          body: {
            username: values.username,
            role: values.role,
            password: await password(values['password-stdin'] === true),
          },
        });
        return d.show(inv, res.json, () => table([userRow(res.data)], userColumns));
      },
    },
    'users list': {
      async run(api: AdminApi, inv: Invocation) {
        const res = await api.call(AdminUserListSchema, 'users');
        return d.show(inv, res.json, () => table(res.data.data.map(userRow), userColumns));
      },
    },
    'users rm': remove,
    'users delete': remove,
  };
}
