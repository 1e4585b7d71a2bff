// Direct HTTP(S) to the node's advertise URL. The planned dial-out tunnel is another
// NodeTransport; routing and accounting do not change. No retries here: the caller owns
// the retry policy (forward.ts), since only it knows whether a byte reached the client.
import type { NodeTransport } from '../types.ts';

export const directTransport: NodeTransport = {
  fetch(node, path, init) {
    const base = node.advertiseUrl.endsWith('/')
      ? node.advertiseUrl.slice(0, -1)
      : node.advertiseUrl;
    // A redirect is answered, never followed: following it would hand the node's JWT to
    // whatever host the redirect names.
    return fetch(`${base}${path}`, { ...init, redirect: 'manual' });
  },
};
