// The login page: POST /admin/v1/session sets the session cookie and answers the CSRF
// token the other pages send with every change.
import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { ApiError, api, type Session } from '../api.ts';
import { fieldText } from '../format.ts';

export function LoginPage({ onSession }: { onSession: (s: Session) => void }) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = (e: SubmitEvent) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget as HTMLFormElement);
    setBusy(true);
    setError(null);
    api<Session>('POST', '/session', {
      username: fieldText(form, 'username'),
      password: fieldText(form, 'password'),
    }).then(onSession, (err: unknown) => {
      setBusy(false);
      if (err instanceof ApiError && err.status === 401) setError('Wrong username or password.');
      else setError(err instanceof Error ? err.message : String(err));
    });
  };

  return html`<form class="login" onSubmit=${submit}>
    <h1>fleetgate</h1>
    <label>Username <input name="username" autocomplete="username" required /></label>
    <label
      >Password <input name="password" type="password" autocomplete="current-password" required
    /></label>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    <button type="submit" disabled=${busy}>Log in</button>
  </form>`;
}
