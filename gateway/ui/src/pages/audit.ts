// Audit log: every admin change (and every failed login), newest first: who, what, when,
// from where, with its answer's status; older pages on demand.
import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import type { AuditEntry, AuditLogPageSchema } from '../../../../schema/admin.ts';
import type { z } from 'zod';

type AuditLogPage = z.infer<typeof AuditLogPageSchema>;
import { api } from '../api.ts';
import { usePoll } from '../hooks.ts';

const PAGE = 100;

const who = (e: AuditEntry) =>
  e.actor === 'admin-token'
    ? 'admin token'
    : e.actor === 'anonymous'
      ? `anonymous (${e.actor_name ?? '?'})`
      : (e.actor_name ?? e.actor_id ?? 'user');

export function AuditPage() {
  const latest = usePoll(() => api<AuditLogPage>('GET', `/audit-log?limit=${PAGE}`), 15_000);
  const [older, setOlder] = useState<AuditEntry[]>([]);
  const [more, setMore] = useState<boolean | null>(null);
  const [error, setError] = useState<string | null>(null);
  const entries = [...(latest.data?.data ?? []), ...older];
  const hasMore = more ?? latest.data?.has_more ?? false;

  const loadOlder = () => {
    const last = entries[entries.length - 1];
    if (!last) return;
    api<AuditLogPage>('GET', `/audit-log?limit=${PAGE}&before=${last.id}`).then(
      (page) => {
        setOlder((o) => [...o, ...page.data]);
        setMore(page.has_more);
      },
      (err: unknown) => setError(err instanceof Error ? err.message : String(err)),
    );
  };

  return html`<section>
    ${(latest.error ?? error) && html`<p class="error">${latest.error ?? error}</p>`}
    <table class="list" id="audit">
      <thead>
        <tr>
          <th>When (UTC)</th>
          <th>Who</th>
          <th>What</th>
          <th>Object</th>
          <th>Status</th>
          <th>From</th>
        </tr>
      </thead>
      <tbody>
        ${entries.map(
          (e) =>
            html`<tr>
              <td>${new Date(e.created_at).toISOString().replace('T', ' ').slice(0, 19)}</td>
              <td>${who(e)}</td>
              <td><code>${e.method} ${e.route}</code></td>
              <td>${e.resource_id ?? ''}</td>
              <td>${e.status}</td>
              <td>${e.client_address ?? '–'}</td>
            </tr>`,
        )}
      </tbody>
    </table>
    ${hasMore && html`<p><button onClick=${loadOlder}>Older entries</button></p>`}
  </section>`;
}
