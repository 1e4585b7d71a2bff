import { describe, expect, it } from 'vitest';
import { analyzePrompt } from '../../gpu-node/src/sim/tokenizer.ts';
import {
  checkTargets,
  renderRoutingMarkdown,
  routingChart,
  type RoutingRun,
} from './routing-report.ts';
import { parseCounters } from './routing.ts';
import { Conversation, WORKLOADS } from './routing-workloads.ts';
import { summarize } from './stats.ts';

const text = (messages: { role: string; content: string }[]) =>
  messages.map((m) => `<|${m.role}|>\n${m.content}\n`).join('');

describe('routing workloads', () => {
  it('A: a group shares its system prompt, and each turn extends the conversation', () => {
    const a = new Conversation('A', 0, 's1');
    const sameGroup = new Conversation('A', WORKLOADS.A.groups, 's1');
    const otherGroup = new Conversation('A', 1, 's1');
    const first = a.next();
    expect(first[0]).toEqual(sameGroup.next()[0]);
    expect(first[0]).not.toEqual(otherGroup.next()[0]);
    // About one simulator token per word.
    const tokens = analyzePrompt(first[0]?.content ?? '').tokens;
    expect(tokens).toBeGreaterThan(WORKLOADS.A.promptWords);
    expect(tokens).toBeLessThan(WORKLOADS.A.promptWords * 1.1);
    a.answered('an answer');
    const second = a.next();
    expect(text(second).startsWith(text(first))).toBe(true);
    expect(second).toHaveLength(4);
    // After the last turn, a new conversation starts from the system prompt.
    for (let t = 2; t < WORKLOADS.A.turnsPerConversation; t += 1)
      a.answered(String(a.next().length));
    a.answered('last');
    expect(a.next()).toHaveLength(2);
    // Another salt, another prompt: nothing cached by an earlier run helps.
    expect(new Conversation('A', 0, 's2').next()[0]).not.toEqual(first[0]);
  });

  it('B and C: no two prompts share their first characters', () => {
    const b = new Conversation('B', 0, 's');
    const [x, y] = [b.next()[0]?.content ?? '', b.next()[0]?.content ?? ''];
    expect(x.slice(0, 12)).not.toBe(y.slice(0, 12));
    expect(new Conversation('C', 3, 's').next()).toHaveLength(1);
  });
});

const run = (
  workload: 'A' | 'B' | 'C',
  policy: RoutingRun['policy'],
  p50: number,
  p99: number,
  hitRate: number,
): RoutingRun => ({
  workload,
  policy,
  clients: 1,
  requests: 10,
  failed: 0,
  ttftMs: { ...summarize([p50]), p50, p99 },
  rps: 1,
  hitRate,
  perInstance: [5, 5],
  errors: [],
});

describe('routing report', () => {
  const runs = [
    run('A', 'round_robin', 400, 900, 0.4),
    run('A', 'prefix', 100, 300, 0.9),
    run('B', 'least_load', 100, 200, 0),
    run('B', 'prefix', 115, 220, 0),
    run('C', 'round_robin', 100, 1000, 0),
    run('C', 'least_load', 60, 400, 0),
    run('C', 'prefix', 60, 600, 0),
  ];

  it('checks the issue targets as ratios', () => {
    expect(checkTargets(runs).map((t) => [t.ratio, t.met])).toEqual([
      [4, true],
      [1.15, false],
      [2.5, true],
      [1000 / 600, false],
    ]);
    expect(checkTargets([])[0]?.met).toBeNull();
  });

  it('renders a table and a chart', () => {
    const results = {
      startedAt: 't',
      commit: null,
      machine: { cpus: 2, cpuModel: 'x', loadAvgAtStart: 1, node: 'v' },
      settings: { clients: 1 },
      runs,
    };
    const md = renderRoutingMarkdown(results);
    expect(md).toContain('| A shared prefixes | prefix | 10 | 0 | 100 | 300 | 1.0 | 90% | 5 / 5 |');
    expect(md).toContain('| B: TTFT p50 prefix / least_load | 1.15 | <= 1.10 | no |');
    const svg = routingChart(results);
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.match(/class="bar"/g)).toHaveLength(7 * 3);
  });

  it('reads the simulator counters', () => {
    const metrics = [
      'vllm:prefix_cache_queries_total{model_name="m"} 100.0',
      'vllm:prefix_cache_hits_total{model_name="m"} 40.0',
      'vllm:request_success_total{finished_reason="stop",model_name="m"} 3.0',
      'vllm:request_success_total{finished_reason="length",model_name="m"} 2.0',
    ].join('\n');
    expect(parseCounters(metrics)).toEqual({ queries: 100, hits: 40, requests: 5 });
  });
});
