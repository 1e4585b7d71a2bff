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
  const isTunnel = (node: { advertiseUrl: string }) => nodeModeOf(node.advertiseUrl) === 'tunnel';
  const transport: NodeTransport = {
    fetch: (node, path, init) =>
      isTunnel(node) ? tunnels.fetch(node.id, path, init) : direct.fetch(node, path, init),
  };
  // A tunnel node's answer arrives as a Web Response: only direct nodes are opened.
  const { open } = direct;
  if (open)
    transport.open = (node, path, init) => (isTunnel(node) ? undefined : open(node, path, init));
  return transport;
}
