import { describe, expect, it } from 'vitest';
import { RoundRobin, pickTarget } from './choose.ts';

const t = (id: string) => ({ instanceId: id });
const abc = [t('a'), t('b'), t('c')];

describe('pickTarget', () => {
  it('starts at the given position and wraps', () => {
    expect(pickTarget(abc, 0, new Set())?.instanceId).toBe('a');
    expect(pickTarget(abc, 2, new Set())?.instanceId).toBe('c');
    expect(pickTarget(abc, 2, new Set(['c']))?.instanceId).toBe('a');
  });

  it('returns nothing when every target was tried, or there are none', () => {
    expect(pickTarget(abc, 1, new Set(['a', 'b', 'c']))).toBeUndefined();
    expect(pickTarget([], 0, new Set())).toBeUndefined();
  });
});

describe('RoundRobin', () => {
  it('spreads successive requests evenly over a model’s targets', () => {
    const rr = new RoundRobin();
    const picks = Array.from({ length: 6 }, () => rr.next('m', abc, new Set())?.instanceId);
    expect(picks).toEqual(['a', 'b', 'c', 'a', 'b', 'c']);
  });

  it('keeps a cursor per model', () => {
    const rr = new RoundRobin();
    expect(rr.next('m', abc, new Set())?.instanceId).toBe('a');
    expect(rr.next('other', abc, new Set())?.instanceId).toBe('a');
    expect(rr.next('m', abc, new Set())?.instanceId).toBe('b');
  });

  it('lets a request retry on every other target once, then gives up', () => {
    const rr = new RoundRobin();
    const tried = new Set<string>();
    const order: string[] = [];
    for (let target = rr.next('m', abc, tried); target; target = rr.next('m', abc, tried)) {
      tried.add(target.instanceId);
      order.push(target.instanceId);
    }
    expect(order.sort()).toEqual(['a', 'b', 'c']);
  });

  it('copes with the target list shrinking between requests', () => {
    const rr = new RoundRobin();
    rr.next('m', abc, new Set());
    rr.next('m', abc, new Set());
    expect(rr.next('m', [t('x')], new Set())?.instanceId).toBe('x');
    expect(rr.next('m', [], new Set())).toBeUndefined();
  });
});
