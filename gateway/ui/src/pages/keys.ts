// Keys: create (with limits; the secret is shown once, in the answer to the create),
// list, revoke.
import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import type { ApiKey, CreatedApiKey, KeyLimits, List } from '../../../../schema/admin.ts';
import { api } from '../api.ts';
import { fieldText, fmtAgo, fmtNumber, fmtTime, listOrNull, numberOrNull } from '../format.ts';
import { usePoll } from '../hooks.ts';

const LIMIT_FIELDS = [
  ['requests_per_minute', 'Requests / min'],
  ['tokens_per_minute', 'Tokens / min'],
  ['max_concurrent_requests', 'Concurrent'],
  ['token_budget', 'Token budget'],
  ['spend_budget_usd', 'Spend budget (USD)'],
] as const;

function limitsText(limits: KeyLimits): string {
  const parts = LIMIT_FIELDS.flatMap(([field, label]) =>
    limits[field] === null ? [] : [`${label}: ${fmtNumber(limits[field], 2)}`],
  );
  if (limits.budget_period) parts.push(`per ${limits.budget_period}`);
  return parts.join(' · ') || 'none';
}

function CreateKey({ onCreated }: { onCreated: (k: CreatedApiKey) => void }) {
  const [error, setError] = useState<string | null>(null);
  const submit = (e: SubmitEvent) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const f = new FormData(form);
    const field = (name: string) => fieldText(f, name);
    let limits: Record<string, number | string | null>;
    try {
      limits = Object.fromEntries(LIMIT_FIELDS.map(([name]) => [name, numberOrNull(field(name))]));
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
      return;
    }
    if (field('budget_period')) limits.budget_period = field('budget_period');
    const expires = field('expires_at');
    api<CreatedApiKey>('POST', '/keys', {
      name: field('name'),
      models: listOrNull(field('models')),
      ...(expires ? { expires_at: new Date(expires).toISOString() } : {}),
      limits,
    }).then(
      (key) => {
        form.reset();
        setError(null);
        onCreated(key);
      },
      (err: unknown) => setError(err instanceof Error ? err.message : String(err)),
    );
  };
  return html`<form class="card form" id="create-key" onSubmit=${submit}>
    <h3>New key</h3>
    <label>Name <input name="name" required maxlength="128" /></label>
    <label>Models <input name="models" placeholder="every model; or a, b" /></label>
    <label>Expires <input name="expires_at" type="datetime-local" /></label>
    ${LIMIT_FIELDS.map(
      ([name, label]) =>
        html`<label
          >${label} <input name=${name} inputmode="decimal" placeholder="unlimited"
        /></label>`,
    )}
    <label
      >Budget period
      <select name="budget_period">
        <option value="">month (default)</option>
        ${['day', 'week', 'month', 'total'].map((p) => html`<option>${p}</option>`)}
      </select></label
    >
    ${error && html`<p class="error" role="alert">${error}</p>`}
    <button type="submit">Create key</button>
  </form>`;
}

export function KeysPage({ canWrite }: { canWrite: boolean }) {
  const keys = usePoll(() => api<List<ApiKey>>('GET', '/keys'), 10_000);
  // The secret of the key just created: on screen until dismissed, never fetched again.
  const [created, setCreated] = useState<CreatedApiKey | null>(null);
  const [error, setError] = useState<string | null>(null);

  const revoke = (key: ApiKey) => {
    if (!confirm(`Revoke key ${key.name} (${key.prefix}…)? Requests with it are refused.`)) return;
    api('DELETE', `/keys/${key.id}`).then(keys.reload, (err: unknown) =>
      setError(err instanceof Error ? err.message : String(err)),
    );
  };

  return html`<section>
    ${
      created &&
      html`<div class="card secret" id="new-key-secret">
        <p>The secret of <b>${created.name}</b>. It is shown this once: copy it now.</p>
        <code class="key">${created.key}</code>
        <button onClick=${() => void navigator.clipboard?.writeText(created.key)}>Copy</button>
        <button class="link" id="dismiss-secret" onClick=${() => setCreated(null)}>Done</button>
      </div>`
    }
    ${
      canWrite &&
      html`<${CreateKey}
        onCreated=${(k: CreatedApiKey) => {
          setCreated(k);
          keys.reload();
        }}
      />`
    }
    ${(keys.error ?? error) && html`<p class="error">${keys.error ?? error}</p>`}
    <table class="list" id="keys">
      <thead>
        <tr>
          <th>Name</th>
          <th>Prefix</th>
          <th>Models</th>
          <th>Limits</th>
          <th>Expires</th>
          <th>Created</th>
          <th>Last used</th>
          <th></th>
        </tr>
      </thead>
      <tbody>
        ${keys.data?.data.map(
          (k) =>
            html`<tr data-key=${k.id} data-name=${k.name}>
              <td>
                ${k.name}${k.disabled ? html` <span class="badge offline">disabled</span>` : ''}
              </td>
              <td><code>${k.prefix}…</code></td>
              <td>${k.models?.join(', ') ?? 'all'}</td>
              <td>${limitsText(k.limits)}</td>
              <td>${k.expires_at === null ? 'never' : fmtTime(k.expires_at)}</td>
              <td>${fmtTime(k.created_at)}</td>
              <td>${fmtAgo(k.last_used_at)}</td>
              <td>
                ${canWrite && html`<button class="danger revoke" onClick=${() => revoke(k)}>Revoke</button>`}
              </td>
            </tr>`,
        )}
      </tbody>
    </table>
  </section>`;
}
