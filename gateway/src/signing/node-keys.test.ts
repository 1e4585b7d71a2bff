import { describe, expect, it } from 'vitest';
import type { Signer } from '../types.ts';
import { BoundedMap, NodeKeyHolders, isDataPlaneSigner, nodeKeyInfo } from './node-keys.ts';

describe('BoundedMap', () => {
  it('keeps at most its size, forgetting the least recently set first', () => {
    const map = new BoundedMap<number>(2);
    map.set('a', 1);
    map.set('b', 2);
    map.set('a', 3);
    map.set('c', 4);
    expect(map.size).toBe(2);
    expect(map.get('b')).toBeUndefined();
    expect(map.get('a')).toBe(3);
    expect(map.get('c')).toBe(4);
  });
});

describe('NodeKeyHolders', () => {
  it("follows each node's latest report, and counts only the current kid", () => {
    const holders = new NodeKeyHolders('kid-now', 2);
    holders.note('n1', 'kid-now');
    holders.note('n2', 'kid-before');
    expect(holders.holdsCurrent('n1')).toBe(true);
    expect(holders.holdsCurrent('n2')).toBe(false);
    holders.note('n1', undefined);
    expect(holders.holdsCurrent('n1')).toBe(false);
    // Past its size the least recently reported node is forgotten (ES256 until it reports).
    holders.note('n1', 'kid-now');
    holders.note('n3', 'kid-now');
    holders.note('n4', 'kid-now');
    expect(holders.holdsCurrent('n1')).toBe(false);
    expect(holders.holdsCurrent('n4')).toBe(true);
  });
});

describe('node key info', () => {
  it("separates the label from the node id, so no id can make another id's info", () => {
    const text = (id: string) => new TextDecoder().decode(nodeKeyInfo(id));
    expect(text('node_1')).toBe('fleetgate data-plane v1\0node_1');
    expect(text('node_1')).not.toBe(text('node_10'));
  });
});

describe('isDataPlaneSigner', () => {
  it('is false for a signer that only signs', () => {
    const plain: Signer = { sign: () => Promise.resolve('t'), jwks: () => ({ keys: [{}] }) };
    expect(isDataPlaneSigner(plain)).toBe(false);
  });
});
