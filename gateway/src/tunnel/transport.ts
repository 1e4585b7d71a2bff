// The NodeTransport of a host with tunnels: direct nodes over the host's own transport,
// tunnel nodes (advertise URL TUNNEL_ADVERTISE_URL) through whatever holds their tunnel (this
// process on the Node host, the node's Durable Object on the Worker). Routing and accounting
// see one transport either way.
import { nodeModeOf } from '../../../schema/tunnel.ts';
import type { NodeTransport } from '../types.ts';

export interface TunnelFetch {
  fetch(
    nodeId: string,
    path: string,
    init: RequestInit & { signal: AbortSignal },
  ): Promise<Response>;
}

export function withTunnels(direct: NodeTransport, tunnels: TunnelFetch): NodeTransport {
  return {
    fetch: (node, path, init) =>
      nodeModeOf(node.advertiseUrl) === 'tunnel'
        ? tunnels.fetch(node.id, path, init)
        : direct.fetch(node, path, init),
  };
}
