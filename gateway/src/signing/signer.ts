// Signs the short-lived JWT the gateway attaches to every request it forwards to a node:
// HS256 with the node's own data-plane key (node-keys.ts) once the node's heartbeat says it
// holds it, ES256 with the gateway's signing key otherwise. Either way a node cannot mint
// tokens for another: it holds only its own HMAC key and the public JWKS. Web Crypto only
// (through jose), so it runs on Node 20 and in workerd.
import {
  SignJWT,
  base64url,
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  importJWK,
} from 'jose';
import type { JWK } from 'jose';
import { DATA_PLANE_JWT_ISSUER, DATA_PLANE_JWT_MAX_TTL_S } from '../../../schema/contracts.ts';
import type { Jwks } from '../../../schema/contracts.ts';
import {
  BoundedMap,
  NODE_KEY_BITS,
  NodeKeyHolders,
  nodeKeyInfo,
  nodeKeySalt,
  type DataPlaneSigner,
} from './node-keys.ts';

const ALG = 'ES256';
const HMAC_ALG = 'HS256';
export const DEFAULT_JWT_TTL_S = 30;

// A fresh private signing key as a JWK (with kid and alg), for the host to keep: the Node
// host stores it in the settings table, the Worker takes it from a secret.
export async function generateSigningJwk(): Promise<JWK> {
  const { privateKey } = await generateKeyPair(ALG, { extractable: true });
  const jwk = await exportJWK(privateKey);
  return { ...jwk, kid: await calculateJwkThumbprint(jwk), alg: ALG };
}

// The checked key's kid and public key set, shared by this signer and the Node host's
// (node-signer.ts).
export async function signingKeyInfo(
  privateJwk: JWK,
  ttlS: number,
): Promise<{ kid: string; publicJwks: Jwks }> {
  if (privateJwk.kty !== 'EC' || privateJwk.crv !== 'P-256' || !privateJwk.d) {
    throw new Error('signing key must be a private EC P-256 JWK (ES256)');
  }
  if (!Number.isInteger(ttlS) || ttlS <= 0 || ttlS > DATA_PLANE_JWT_MAX_TTL_S) {
    throw new Error(`JWT lifetime must be 1..${DATA_PLANE_JWT_MAX_TTL_S} seconds, got ${ttlS}`);
  }
  const { kty, crv, x, y } = privateJwk;
  // The thumbprint covers only the public members, so a kid-less key gets a stable kid.
  const kid = privateJwk.kid ?? (await calculateJwkThumbprint({ kty, crv, x, y }));
  // Only the public members are published, whatever else the stored JWK carries.
  return { kid, publicJwks: { keys: [{ kty, crv, x, y, kid, alg: ALG, use: 'sig' }] } };
}

interface WebNodeKey {
  // base64url, for the control plane's answers.
  text: string;
  hmac: CryptoKey;
}

export async function createSigner(
  privateJwk: JWK,
  ttlS = DEFAULT_JWT_TTL_S,
): Promise<DataPlaneSigner> {
  const { kid, publicJwks } = await signingKeyInfo(privateJwk, ttlS);
  const key = await importJWK({ ...privateJwk, alg: ALG }, ALG);
  const secret = await crypto.subtle.importKey(
    'raw',
    new Uint8Array(base64url.decode(privateJwk.d ?? '')),
    'HKDF',
    false,
    ['deriveBits'],
  );
  const holders = new NodeKeyHolders(kid);
  // Keys, not promises of keys: on workerd a promise made in one request may never settle
  // in another, so two requests that miss at once both derive (it is cheap) and the last wins.
  const nodeKeys = new BoundedMap<WebNodeKey>();
  const nodeKeyOf = async (nodeId: string): Promise<WebNodeKey> => {
    const known = nodeKeys.get(nodeId);
    if (known) return known;
    const bits = new Uint8Array(
      await crypto.subtle.deriveBits(
        { name: 'HKDF', hash: 'SHA-256', salt: nodeKeySalt(), info: nodeKeyInfo(nodeId) },
        secret,
        NODE_KEY_BITS,
      ),
    );
    const hmac = await crypto.subtle.importKey(
      'raw',
      bits,
      { name: 'HMAC', hash: 'SHA-256' },
      false,
      ['sign'],
    );
    const made = { text: base64url.encode(bits), hmac };
    nodeKeys.set(nodeId, made);
    return made;
  };

  return {
    async sign({ aud, jti, instance, model, scope }) {
      const iat = Math.floor(Date.now() / 1000);
      const hmac = holders.holdsCurrent(aud) ? (await nodeKeyOf(aud)).hmac : undefined;
      return new SignJWT({ instance, model, scope })
        .setProtectedHeader({ alg: hmac ? HMAC_ALG : ALG, kid, typ: 'JWT' })
        .setIssuer(DATA_PLANE_JWT_ISSUER)
        .setAudience(aud)
        .setJti(jti)
        .setIssuedAt(iat)
        .setExpirationTime(iat + ttlS)
        .sign(hmac ?? key);
    },
    jwks: () => structuredClone(publicJwks),
    async nodeKey(nodeId) {
      return { kid, key: (await nodeKeyOf(nodeId)).text };
    },
    noteNodeKey: (nodeId, heldKid) => holders.note(nodeId, heldKid),
  };
}
