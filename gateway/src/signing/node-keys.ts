// Per-node data-plane keys: what both signers (signer.ts on either host, node-signer.ts on
// the Node host) share about them. Each node gets its own 256-bit key, derived from the
// gateway's private signing key and never stored: HKDF-SHA256 with the signing key's `d` as
// input key material, NODE_KEY_SALT as salt (the extract step: one secret for all data-plane
// keys, apart from any other use of `d`) and "fleetgate data-plane v1", a NUL and the node id
// as info (the expand step: a key that is good for that node only). Rotating the signing key
// rotates every node key with it, and the key carries the signing key's kid.
//
// A node learns its key from the registration and heartbeat answers and says in each
// heartbeat which kid it holds; the signers sign HS256 for a node only while that kid is the
// current one (NodeKeyHolders), and ES256, which every daemon accepts, otherwise. So gateway
// and daemons can be upgraded in either order.
import type { DataPlaneKey } from '../../../schema/contracts.ts';
import type { Signer } from '../types.ts';

export const NODE_KEY_SALT = 'fleetgate data-plane keys';
export const NODE_KEY_INFO = 'fleetgate data-plane v1';
export const NODE_KEY_BITS = 256;

// How many nodes' keys (and heartbeat reports) a gateway process keeps: more nodes than this
// still work, the least recently seen pay for a derivation (keys) or get ES256 tokens until
// their next heartbeat (reports).
export const NODE_KEY_CACHE_MAX = 10_000;

const utf8 = new TextEncoder();

// Fresh arrays over plain ArrayBuffers, as Web Crypto's BufferSource wants them.
export function nodeKeySalt(): Uint8Array<ArrayBuffer> {
  return new Uint8Array(utf8.encode(NODE_KEY_SALT));
}

// The HKDF info for one node: the label, a NUL (no node id can make another's info), the id.
export function nodeKeyInfo(nodeId: string): Uint8Array<ArrayBuffer> {
  return new Uint8Array(utf8.encode(`${NODE_KEY_INFO}\0${nodeId}`));
}

// A signer that also hands out node keys: both of gateway/src/signing's are. The control
// plane asks through isDataPlaneSigner, so that other Signer implementations (tests' fakes)
// keep working with ES256 only.
export interface DataPlaneSigner extends Signer {
  // The key a node verifies its HS256 tokens with, for the control plane's answers to it.
  nodeKey(nodeId: string): Promise<DataPlaneKey>;
  // What the node's latest heartbeat said it holds (undefined: no key).
  noteNodeKey(nodeId: string, kid: string | undefined): void;
}

export function isDataPlaneSigner(signer: Signer): signer is DataPlaneSigner {
  return (
    'nodeKey' in signer &&
    typeof signer.nodeKey === 'function' &&
    'noteNodeKey' in signer &&
    typeof signer.noteNodeKey === 'function'
  );
}

// A map that keeps at most `max` entries, forgetting the least recently set first.
export class BoundedMap<V> {
  private readonly entries = new Map<string, V>();

  constructor(private readonly max = NODE_KEY_CACHE_MAX) {}

  get size(): number {
    return this.entries.size;
  }

  get(key: string): V | undefined {
    return this.entries.get(key);
  }

  set(key: string, value: V): void {
    this.entries.delete(key);
    while (this.entries.size >= this.max) {
      const oldest = this.entries.keys().next();
      if (oldest.done) break;
      this.entries.delete(oldest.value);
    }
    this.entries.set(key, value);
  }

  delete(key: string): void {
    this.entries.delete(key);
  }
}

// Which nodes hold the current data-plane key, as their heartbeats to this process said. In
// memory: another replica or Worker isolate learns it from the heartbeats it handles, and
// signs ES256 for the node until then.
export class NodeKeyHolders {
  private readonly held: BoundedMap<string>;

  constructor(
    private readonly kid: string,
    max = NODE_KEY_CACHE_MAX,
  ) {
    this.held = new BoundedMap(max);
  }

  note(nodeId: string, kid: string | undefined): void {
    if (kid === undefined) this.held.delete(nodeId);
    else this.held.set(nodeId, kid);
  }

  holdsCurrent(nodeId: string): boolean {
    return this.held.get(nodeId) === this.kid;
  }
}
