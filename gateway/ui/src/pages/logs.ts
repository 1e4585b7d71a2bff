// Logs: an instance's engine log, followed live (GET /deployments/{id}/logs?follow=true,
// server-sent events): the last lines first, then each new line as the engine prints it.
import { html } from 'htm/preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { Deployment, List } from '../../../../schema/admin.ts';
import { openStream } from '../api.ts';
import { api } from '../api.ts';
import { usePoll } from '../hooks.ts';
import type { Route } from '../main.ts';
import { SseDecoder, parseLogEvent } from '../sse-lines.ts';

// Lines kept on screen; older ones scroll away.
const MAX_LINES = 2000;

function useFollow(deploymentId: string, replica: string) {
  const [lines, setLines] = useState<string[]>([]);
  const [status, setStatus] = useState('');
  useEffect(() => {
    setLines([]);
    if (!deploymentId) return undefined;
    const stop = new AbortController();
    const query = new URLSearchParams({ follow: 'true', tail: '100' });
    if (replica) query.set('replica', replica);
    setStatus('connecting…');
    (async () => {
      const res = await openStream(
        `/deployments/${encodeURIComponent(deploymentId)}/logs?${query}`,
        stop.signal,
      );
      if (!res.body) throw new Error('no stream in the answer');
      setStatus('following');
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      const sse = new SseDecoder();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        const fresh = sse.push(value).flatMap((d) => {
          const e = parseLogEvent(d);
          return e ? [e.line] : [];
        });
        if (fresh.length > 0) setLines((old) => [...old, ...fresh].slice(-MAX_LINES));
      }
      setStatus('the log stream ended');
    })().catch((err: unknown) => {
      if (!stop.signal.aborted)
        setStatus(`stopped: ${err instanceof Error ? err.message : String(err)}`);
    });
    return () => stop.abort();
  }, [deploymentId, replica]);
  return { lines, status };
}

export function LogsPage({ route }: { route: Route }) {
  const deployments = usePoll(() => api<List<Deployment>>('GET', '/deployments'), 15_000);
  const deploymentId = route.params.get('deployment') ?? deployments.data?.data[0]?.id ?? '';
  const replica = route.params.get('replica') ?? '';
  const { lines, status } = useFollow(deploymentId, replica);
  const pre = useRef<HTMLPreElement>(null);
  const current = deployments.data?.data.find((d) => d.id === deploymentId);

  useEffect(() => {
    const el = pre.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [lines]);

  const go = (id: string, r: string) => {
    location.hash = `#/logs?deployment=${encodeURIComponent(id)}${r ? `&replica=${r}` : ''}`;
  };

  return html`<section>
    <div class="toolbar">
      <label
        >Deployment
        <select
          id="logs-deployment"
          value=${deploymentId}
          onChange=${(e: Event) => go((e.currentTarget as HTMLSelectElement).value, '')}
        >
          ${deployments.data?.data.map((d) => html`<option value=${d.id}>${d.model} (${d.id})</option>`)}
        </select></label
      >
      <label
        >Replica
        <select
          value=${replica}
          onChange=${(e: Event) => go(deploymentId, (e.currentTarget as HTMLSelectElement).value)}
        >
          <option value="">first</option>
          ${current?.instances.map((i) => html`<option value=${String(i.replica)}>${i.replica} on ${i.node_id}</option>`)}
        </select></label
      >
      <span class="muted" id="logs-status">${status}</span>
    </div>
    ${deployments.error && html`<p class="error">${deployments.error}</p>`}
    <pre class="log" id="log" ref=${pre}>${lines.join('\n')}</pre>
  </section>`;
}
