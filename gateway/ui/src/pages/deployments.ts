// Deployments: each model with its recipe, replicas and instances (state, and what the
// node last said: pull progress or an error); create, scale and delete.
import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import type { Deployment, List, Node } from '../../../../schema/admin.ts';
import { api } from '../api.ts';
import { fieldText } from '../format.ts';
import { usePoll } from '../hooks.ts';

const RECIPES = ['vllm', 'sglang', 'ollama', 'llamacpp', 'sim', 'external'];
const ROUTING = ['prefix', 'least_load', 'round_robin'];

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function CreateForm({ nodes, onDone }: { nodes: Node[]; onDone: () => void }) {
  const [error, setError] = useState<string | null>(null);
  const submit = (e: SubmitEvent) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const f = new FormData(form);
    let options: unknown = {};
    const text = fieldText(f, 'options').trim();
    try {
      if (text) options = JSON.parse(text);
    } catch {
      setError('options: not valid JSON');
      return;
    }
    const nodeId = fieldText(f, 'node_id');
    api('POST', '/deployments', {
      model: fieldText(f, 'model'),
      recipe: fieldText(f, 'recipe'),
      options,
      replicas: Number(f.get('replicas') ?? 1),
      routing: fieldText(f, 'routing') || 'prefix',
      ...(nodeId ? { placement: { node_id: nodeId } } : {}),
    }).then(
      () => {
        form.reset();
        setError(null);
        onDone();
      },
      (err: unknown) => setError(errorText(err)),
    );
  };
  return html`<form class="card form" id="create-deployment" onSubmit=${submit}>
    <h3>New deployment</h3>
    <label
      >Model <input name="model" required placeholder="meta-llama/Llama-3.1-8B-Instruct"
    /></label>
    <label
      >Recipe
      <select name="recipe">
        ${RECIPES.map((r) => html`<option>${r}</option>`)}
      </select></label
    >
    <label>Replicas <input name="replicas" type="number" min="0" max="64" value="1" /></label>
    <label
      >Routing
      <select name="routing">
        ${ROUTING.map((r) => html`<option>${r}</option>`)}
      </select></label
    >
    <label
      >Node
      <select name="node_id">
        <option value="">any node with room</option>
        ${nodes.map((n) => html`<option value=${n.id}>${n.name}</option>`)}
      </select></label
    >
    <label class="wide"
      >Options (JSON) <textarea name="options" rows="2" placeholder='{"gpus": 1}'></textarea>
    </label>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    <button type="submit">Create</button>
  </form>`;
}

function DeploymentRow(props: { d: Deployment; canWrite: boolean; onChange: () => void }) {
  const { d } = props;
  const [replicas, setReplicas] = useState(String(d.replicas));
  const [error, setError] = useState<string | null>(null);
  const act = (p: Promise<unknown>) =>
    p.then(props.onChange, (err: unknown) => setError(errorText(err)));
  const scale = () => act(api('PATCH', `/deployments/${d.id}`, { replicas: Number(replicas) }));
  const remove = () => {
    if (confirm(`Delete deployment ${d.model}? Its engines are stopped.`)) {
      void act(api('DELETE', `/deployments/${d.id}`));
    }
  };
  return html`<article class="card deployment" data-deployment=${d.id}>
    <header>
      <h3>${d.model}</h3>
      <span class="muted">${d.recipe} · ${d.routing} · ${d.id}</span>
      <a href=${`#/logs?deployment=${d.id}`}>logs</a>
    </header>
    ${d.unplaced && html`<p class="warn">Unplaced replicas ${d.unplaced.replicas.join(', ')}: ${d.unplaced.reason}</p>`}
    <table class="instances">
      <thead>
        <tr>
          <th>Replica</th>
          <th>Node</th>
          <th>State</th>
          <th>Detail</th>
          <th>In flight</th>
          <th>Circuit</th>
        </tr>
      </thead>
      <tbody>
        ${d.instances.map(
          (i) =>
            html`<tr data-instance=${i.id}>
              <td>${i.replica}</td>
              <td>${i.node_id}</td>
              <td><span class=${`state ${i.state}`}>${i.state}</span></td>
              <td class="detail">${i.detail ?? ''}</td>
              <td>${i.gateway.in_flight}</td>
              <td>${i.gateway.circuit}</td>
            </tr>`,
        )}
      </tbody>
    </table>
    ${
      props.canWrite &&
      html`<div class="actions">
        <label
          >Replicas
          <input
            class="replicas"
            type="number"
            min="0"
            max="64"
            value=${replicas}
            onInput=${(e: Event) => setReplicas((e.currentTarget as HTMLInputElement).value)}
        /></label>
        <button class="scale" onClick=${scale}>Scale</button>
        <button class="danger delete" onClick=${remove}>Delete</button>
      </div>`
    }
    ${error && html`<p class="error" role="alert">${error}</p>`}
  </article>`;
}

export function DeploymentsPage({ canWrite }: { canWrite: boolean }) {
  const list = usePoll(
    () =>
      Promise.all([api<List<Deployment>>('GET', '/deployments'), api<List<Node>>('GET', '/nodes')]),
    3000,
  );
  const [deployments, nodes] = list.data ?? [undefined, undefined];
  return html`<section>
    ${list.error && html`<p class="error">${list.error}</p>`}
    ${canWrite && html`<${CreateForm} nodes=${nodes?.data ?? []} onDone=${list.reload} />`}
    ${deployments?.data.length === 0 && html`<p class="muted">No deployments yet.</p>`}
    ${deployments?.data.map(
      (d) =>
        html`<${DeploymentRow} key=${d.id} d=${d} canWrite=${canWrite} onChange=${list.reload} />`,
    )}
  </section>`;
}
