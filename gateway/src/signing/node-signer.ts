// The Node host's signer: the same tokens as signer.ts (same headers, claims, kid, key set
// and node keys), made with node:crypto in the calling thread. Web Crypto goes through a job,
// a promise and the thread pool for each operation, and jose builds the token through several
// objects; this costs a fraction of that per forwarded request. Node only: the Worker host
// keeps createSigner.
import { createHmac, createPrivateKey, createSecretKey, hkdfSync, sign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import type { JWK } from 'jose';
import { DATA_PLANE_JWT_ISSUER } from '../../../schema/contracts.ts';
import {
  BoundedMap,
  NODE_KEY_BITS,
  NodeKeyHolders,
  nodeKeyInfo,
  nodeKeySalt,
  type DataPlaneSigner,
} from './node-keys.ts';
import { DEFAULT_JWT_TTL_S, signingKeyInfo } from './signer.ts';

const b64url = (data: string | Buffer) => Buffer.from(data).toString('base64url');

interface NodeHmacKey {
  text: string;
  key: KeyObject;
}

export async function createNodeSigner(
  privateJwk: JWK,
  ttlS = DEFAULT_JWT_TTL_S,
): Promise<DataPlaneSigner> {
  const { kid, publicJwks } = await signingKeyInfo(privateJwk, ttlS);
  const { kty, crv, x, y, d = '' } = privateJwk;
  const key = createPrivateKey({ key: { kty, crv, x, y, d }, format: 'jwk' });
  const secret = Buffer.from(d, 'base64url');
  const holders = new NodeKeyHolders(kid);
  const nodeKeys = new BoundedMap<NodeHmacKey>();
  const nodeKeyOf = (nodeId: string): NodeHmacKey => {
    const known = nodeKeys.get(nodeId);
    if (known) return known;
    const bits = Buffer.from(
      hkdfSync('sha256', secret, nodeKeySalt(), nodeKeyInfo(nodeId), NODE_KEY_BITS / 8),
    );
    const made = { text: bits.toString('base64url'), key: createSecretKey(bits) };
    nodeKeys.set(nodeId, made);
    return made;
  };
  // The headers never change: encoded once.
  const es256Header = b64url(JSON.stringify({ alg: 'ES256', kid, typ: 'JWT' }));
  const hs256Header = b64url(JSON.stringify({ alg: 'HS256', kid, typ: 'JWT' }));
  return {
    sign({ aud, jti, instance, model, scope }) {
      const iat = Math.floor(Date.now() / 1000);
      const claims = { instance, model, scope, iss: DATA_PLANE_JWT_ISSUER, aud, jti, iat };
      const payload = b64url(JSON.stringify({ ...claims, exp: iat + ttlS }));
      if (holders.holdsCurrent(aud)) {
        const input = `${hs256Header}.${payload}`;
        const mac = createHmac('sha256', nodeKeyOf(aud).key).update(input).digest('base64url');
        return Promise.resolve(`${input}.${mac}`);
      }
      const input = `${es256Header}.${payload}`;
      // JWS wants the raw r||s form of the ECDSA signature, not DER.
      const signature = sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
      return Promise.resolve(`${input}.${b64url(signature)}`);
    },
    jwks: () => structuredClone(publicJwks),
    nodeKey: (nodeId) => Promise.resolve({ kid, key: nodeKeyOf(nodeId).text }),
    noteNodeKey: (nodeId, heldKid) => holders.note(nodeId, heldKid),
  };
}
