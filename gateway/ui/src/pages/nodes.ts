// Nodes: each GPU machine, whether it is online, its GPUs (memory and utilisation as
// last reported) and the instances it runs.
import { html } from 'htm/preact';
import type { List, Node } from '../../../../schema/admin.ts';
import { api } from '../api.ts';
import { fmtAgo, fmtMib } from '../format.ts';
import { usePoll } from '../hooks.ts';

type Gpu = Node['gpus'][number];

function GpuRow({ gpu }: { gpu: Gpu }) {
  const used = gpu.memory_used_mib;
  const memPct =
    used === undefined || gpu.memory_total_mib === 0 ? null : (used / gpu.memory_total_mib) * 100;
  return html`<tr>
    <td>#${gpu.index} ${gpu.name}</td>
    <td>
      <div class="bar"><span style=${{ width: `${memPct ?? 0}%` }}></span></div>
      ${fmtMib(used)} / ${fmtMib(gpu.memory_total_mib)}
    </td>
    <td>
      <div class="bar util"><span style=${{ width: `${gpu.utilization_pct ?? 0}%` }}></span></div>
      ${gpu.utilization_pct === undefined ? '–' : `${Math.round(gpu.utilization_pct)}%`}
    </td>
    <td>${gpu.temperature_c === undefined ? '–' : `${Math.round(gpu.temperature_c)} °C`}</td>
  </tr>`;
}

function NodeCard({ node }: { node: Node }) {
  return html`<article class="card node" data-node=${node.name}>
    <header>
      <h3>${node.name}</h3>
      <span class=${`badge ${node.status}`}>${node.status}</span>
      <span class="muted"
        >${node.advertise_url} · daemon ${node.daemon_version} · heartbeat
        ${fmtAgo(node.last_heartbeat_at)}</span
      >
    </header>
    ${
      node.gpus.length === 0
        ? html`<p class="muted">No GPUs (CPU only).</p>`
        : html`<table>
            <thead>
              <tr>
                <th>GPU</th>
                <th>Memory</th>
                <th>Utilisation</th>
                <th>Temp.</th>
              </tr>
            </thead>
            <tbody>
              ${node.gpus.map((g) => html`<${GpuRow} gpu=${g} />`)}
            </tbody>
          </table>`
    }
    <h4>Instances</h4>
    ${
      node.instances.length === 0
        ? html`<p class="muted">None.</p>`
        : html`<table class="instances">
            <thead>
              <tr>
                <th>Model</th>
                <th>Replica</th>
                <th>State</th>
                <th>Detail</th>
                <th>GPUs</th>
              </tr>
            </thead>
            <tbody>
              ${node.instances.map(
                (i) =>
                  html`<tr data-instance=${i.id}>
                    <td>${i.model}</td>
                    <td>${i.replica}</td>
                    <td><span class=${`state ${i.state}`}>${i.state}</span></td>
                    <td class="detail">${i.detail ?? ''}</td>
                    <td>${i.gpu_indices.join(', ') || '–'}</td>
                  </tr>`,
              )}
            </tbody>
          </table>`
    }
  </article>`;
}

export function NodesPage() {
  const nodes = usePoll(() => api<List<Node>>('GET', '/nodes'), 5000);
  return html`<section>
    ${nodes.error && html`<p class="error">${nodes.error}</p>`}
    ${
      nodes.data?.data.length === 0 &&
      html`<p class="muted">
        No nodes yet. Create a registration token (<code>fleetgate tokens create</code>) and run
        <code>fleetgate-node register</code> on a GPU machine.
      </p>`
    }
    ${nodes.data?.data.map((n) => html`<${NodeCard} node=${n} />`)}
  </section>`;
}
