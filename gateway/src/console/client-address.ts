// Where a request came from, for login throttling and the audit log. Each host says how it
// knows: the Node host takes the socket's peer address, or, behind a reverse proxy that the
// operator names with FLEETGATE_CLIENT_ADDRESS_HEADER, the last entry of that header (the
// one the proxy itself appended; entries before it are the client's to invent). The Worker
// takes cf-connecting-ip, which Cloudflare sets and a client cannot.
import type { ClientAddress } from '../types.ts';

// Longer values are not addresses; cut so a row or throttle key stays small.
const MAX_ADDRESS = 64;

function clean(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed ? trimmed.slice(0, MAX_ADDRESS) : undefined;
}

export function headerClientAddress(header: string): ClientAddress {
  const name = header.toLowerCase();
  return (c) => clean(c.req.header(name)?.split(',').at(-1));
}

// The peer of the socket, where the host passes it (@hono/node-server's bindings).
export function socketClientAddress(): ClientAddress {
  return (c) => {
    const env: unknown = c.env;
    if (typeof env !== 'object' || env === null || !('incoming' in env)) return undefined;
    const incoming: unknown = env.incoming;
    if (typeof incoming !== 'object' || incoming === null || !('socket' in incoming)) {
      return undefined;
    }
    const socket: unknown = incoming.socket;
    if (typeof socket !== 'object' || socket === null || !('remoteAddress' in socket)) {
      return undefined;
    }
    const address: unknown = socket.remoteAddress;
    return typeof address === 'string' ? clean(address) : undefined;
  };
}
