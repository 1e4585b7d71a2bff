import { describe, expect, it } from 'vitest';
import { TUNNEL_ADVERTISE_URL } from '../../../schema/tunnel.ts';
import type { NodeAnswer, NodeTransport } from '../types.ts';
import { withTunnels } from './transport.ts';

const init = { method: 'POST', signal: new AbortController().signal };
const tunnelNode = { id: 'node_t', advertiseUrl: TUNNEL_ADVERTISE_URL };
const directNode = { id: 'node_d', advertiseUrl: 'http://127.0.0.1:9' };

describe('withTunnels', () => {
  const calls: string[] = [];
  const answer = { status: 200 } as NodeAnswer;
  const direct: NodeTransport = {
    fetch: (node) => {
      calls.push(`direct fetch ${node.id}`);
      return Promise.resolve(new Response('direct'));
    },
    open: (node) => {
      calls.push(`direct open ${node.id}`);
      return Promise.resolve(answer);
    },
  };
  const tunnels = {
    fetch: (nodeId: string) => {
      calls.push(`tunnel fetch ${nodeId}`);
      return Promise.resolve(new Response('tunnel'));
    },
  };

  it('sends tunnel nodes through their tunnel and opens only direct nodes', async () => {
    const transport = withTunnels(direct, tunnels);
    expect(await (await transport.fetch(tunnelNode, '/v1/x', init)).text()).toBe('tunnel');
    expect(await (await transport.fetch(directNode, '/v1/x', init)).text()).toBe('direct');
    expect(transport.open?.(tunnelNode, '/v1/x', init)).toBeUndefined();
    expect(await transport.open?.(directNode, '/v1/x', init)).toBe(answer);
    expect(calls).toEqual(['tunnel fetch node_t', 'direct fetch node_d', 'direct open node_d']);
  });

  it('has no open where the host transport has none (the Worker host)', () => {
    expect(
      withTunnels({ fetch: (...args) => direct.fetch(...args) }, tunnels).open,
    ).toBeUndefined();
  });
});
