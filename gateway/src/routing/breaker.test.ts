import { describe, expect, it } from 'vitest';
import {
  CLOSED,
  DEFAULT_BREAKER_OPTIONS,
  admits,
  retryAt,
  transition,
  type Circuit,
  type CircuitEvent,
} from './breaker.ts';
import { LiveStats } from './live.ts';

const opts = DEFAULT_BREAKER_OPTIONS;

function run(events: [CircuitEvent, number][], from: Circuit = CLOSED): Circuit {
  return events.reduce((c, [event, at]) => transition(c, event, at, opts), from);
}

describe('circuit breaker transitions', () => {
  it('opens after the threshold of failures in a row, and a success in between resets the count', () => {
    const twice = run([
      ['failure', 1],
      ['failure', 2],
    ]);
    expect(twice).toMatchObject({ state: 'closed', failures: 2 });
    expect(transition(twice, 'success', 3, opts)).toEqual(CLOSED);
    const opened = transition(twice, 'failure', 3, opts);
    expect(opened).toMatchObject({ state: 'open', openedAt: 3, trips: 1 });
    expect(admits(opened, 3 + opts.cooldownMs - 1, opts)).toBe('no');
    expect(admits(opened, 3 + opts.cooldownMs, opts)).toBe('trial');
    expect(retryAt(opened, opts)).toBe(3 + opts.cooldownMs);
  });

  it('lets exactly one trial through after the cool-down; its success closes the circuit', () => {
    const opened = run([
      ['failure', 0],
      ['failure', 0],
      ['failure', 0],
    ]);
    const t = opts.cooldownMs;
    const trial = transition(opened, 'trial', t, opts);
    expect(trial).toMatchObject({ state: 'half_open', trialAt: t });
    expect(admits(trial, t + 1, opts)).toBe('no');
    expect(transition(trial, 'success', t + 5, opts)).toEqual(CLOSED);
  });

  it('reopens on a failed trial with a doubled cool-down, capped', () => {
    let c = run([
      ['failure', 0],
      ['failure', 0],
      ['failure', 0],
    ]);
    let at = 0;
    const cooldowns: number[] = [];
    for (let i = 0; i < 5; i += 1) {
      const next = retryAt(c, opts);
      if (next === null) throw new Error('not open');
      cooldowns.push(next - at);
      at = next;
      c = transition(transition(c, 'trial', at, opts), 'failure', at, opts);
    }
    expect(cooldowns).toEqual([10_000, 20_000, 40_000, 60_000, 60_000]);
  });

  it('a trial that went away undecided lets the next request be the trial', () => {
    const opened = run([
      ['failure', 0],
      ['failure', 0],
      ['failure', 0],
    ]);
    const released = transition(transition(opened, 'trial', 10_000, opts), 'release', 10_001, opts);
    expect(released.state).toBe('open');
    expect(admits(released, 10_002, opts)).toBe('trial');
  });

  it('gives a lost trial up after a cool-down', () => {
    const trial = transition(
      run([
        ['failure', 0],
        ['failure', 0],
        ['failure', 0],
      ]),
      'trial',
      10_000,
      opts,
    );
    expect(admits(trial, 19_999, opts)).toBe('no');
    expect(admits(trial, 20_000, opts)).toBe('trial');
  });
});

describe('LiveStats', () => {
  it('counts requests in flight and averages recent TTFT', () => {
    const live = new LiveStats({ now: () => 0 });
    const a = live.start('i1');
    const b = live.start('i1');
    expect(live.get('i1').inFlight).toBe(2);
    a.end('ok', 100);
    a.end('ok', 100);
    expect(live.get('i1').inFlight).toBe(1);
    b.end('ok', 200);
    expect(live.get('i1')).toMatchObject({ inFlight: 0, ttftMs: 120, recentFailures: 0 });
  });

  it('opens on failed attempts, ignores requests already on their way, and lets the trial decide', () => {
    let now = 0;
    const live = new LiveStats({ now: () => now, breaker: { failureThreshold: 2 } });
    const straggler = live.start('i1');
    live.start('i1').end('failed');
    live.start('i1').end('failed');
    expect(live.admits('i1')).toBe('no');
    expect(live.get('i1').circuit.state).toBe('open');
    // Started before the circuit opened: says nothing now.
    straggler.end('ok');
    expect(live.get('i1').circuit.state).toBe('open');
    now = 10_000;
    expect(live.admits('i1')).toBe('trial');
    const trial = live.start('i1');
    expect(live.get('i1').circuit.state).toBe('half_open');
    expect(live.admits('i1')).toBe('no');
    // A client leaving does not decide; the next request is the trial.
    trial.end('aborted');
    expect(live.admits('i1')).toBe('trial');
    live.start('i1').end('ok');
    expect(live.get('i1').circuit.state).toBe('closed');
    expect(live.admits('i1')).toBe('yes');
  });
});
