// Users: who may log in to the console, and with which role (admin: everything; viewer:
// read only); an admin adds and removes them.
import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import type { AdminUser, List } from '../../../../schema/admin.ts';
import { api } from '../api.ts';
import { fieldText, fmtTime } from '../format.ts';
import { usePoll } from '../hooks.ts';

export function UsersPage({ canWrite }: { canWrite: boolean }) {
  const users = usePoll(() => api<List<AdminUser>>('GET', '/users'), 30_000);
  const [error, setError] = useState<string | null>(null);
  const fail = (err: unknown) => setError(err instanceof Error ? err.message : String(err));

  const submit = (e: SubmitEvent) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const f = new FormData(form);
    api('POST', '/users', {
      username: fieldText(f, 'username'),
      password: fieldText(f, 'password'),
      role: fieldText(f, 'role'),
    }).then(() => {
      form.reset();
      setError(null);
      users.reload();
    }, fail);
  };
  const remove = (u: AdminUser) => {
    if (confirm(`Remove user ${u.username}? Their sessions stop working.`)) {
      api('DELETE', `/users/${u.id}`).then(users.reload, fail);
    }
  };

  return html`<section>
    ${
      canWrite &&
      html`<form class="card form" id="create-user" onSubmit=${submit}>
        <h3>New user</h3>
        <label>Username <input name="username" required autocomplete="off" /></label>
        <label
          >Password <input name="password" type="password" required autocomplete="new-password"
        /></label>
        <label
          >Role
          <select name="role">
            <option value="viewer">viewer (read only)</option>
            <option value="admin">admin</option>
          </select></label
        >
        <button type="submit">Add user</button>
      </form>`
    }
    ${(users.error ?? error) && html`<p class="error" role="alert">${users.error ?? error}</p>`}
    <table class="list" id="users">
      <thead>
        <tr>
          <th>Username</th>
          <th>Role</th>
          <th>Created</th>
          <th></th>
        </tr>
      </thead>
      <tbody>
        ${users.data?.data.map(
          (u) =>
            html`<tr data-user=${u.username}>
              <td>${u.username}</td>
              <td>${u.role}</td>
              <td>${fmtTime(u.created_at)}</td>
              <td>
                ${canWrite && html`<button class="danger" onClick=${() => remove(u)}>Remove</button>`}
              </td>
            </tr>`,
        )}
      </tbody>
    </table>
  </section>`;
}
