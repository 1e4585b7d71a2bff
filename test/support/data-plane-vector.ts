// A fixed gateway signing key and the data-plane key of one node under it, worked out apart
// from fleetgate's code (HKDF-SHA256 by hand: PRK = HMAC-SHA256(salt, d), key =
// HMAC-SHA256(PRK, info || 0x01), with the salt and info of gateway/src/signing/node-keys.ts).
// Every host (Node, Web Crypto in Node, workerd) must derive exactly this, today and after
// any refactoring: a fleet may move between them, and its nodes hold keys already.
import type { JWK } from 'jose';

export const VECTOR_JWK: JWK = {
  kty: 'EC',
  crv: 'P-256',
  x: 'tbMC-U2skK79l5VP5z9Sso91wdNcXIFwRY2pufeaegU',
  y: '3LYhDZz5fssueJFkYRhiXph8h_iMcSqZS905gxKcIXw',
  d: 'hdyGB60xvgyI2c1bve7zk1fnTNZjw1GoTXIAGu1om2s',
  kid: 'x3s1TbfREUSEU3ESVHh8MDiwL0FyNsPHq66t4YvWh9g',
  alg: 'ES256',
};
export const VECTOR_NODE = 'node_vector';
export const VECTOR_KEY = 'LOI3TEkPgNkRVXQGXItOsy6ggzK-o5wgBuuHhdIAat0';
