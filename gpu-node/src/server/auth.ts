// Verifies the gateway's data-plane JWTs: ES256, signed by a key in the gateway's JWKS,
// issued by the gateway, for this node (aud), unexpired and at most 60 s old. The key set
// comes from registration and is refreshed by every heartbeat answer (key rotation).
import { createLocalJWKSet, errors, jwtVerify } from 'jose';
import {
  DATA_PLANE_JWT_MAX_TTL_S,
  DataPlaneClaimsSchema,
  type DataPlaneClaims,
  type Jwks,
} from '../../../schema/contracts.ts';
import { HttpError } from './errors.ts';

// Clocks of gateway and node may disagree a little.
const CLOCK_TOLERANCE_S = 5;

export class DataPlaneVerifier {
  private keySet: ReturnType<typeof createLocalJWKSet>;
  private jwksText: string;

  constructor(
    private readonly nodeId: string,
    private readonly issuer: string,
    jwks: Jwks,
  ) {
    this.jwksText = JSON.stringify(jwks);
    this.keySet = createLocalJWKSet(jwks);
  }

  // Returns whether the key set changed.
  setJwks(jwks: Jwks): boolean {
    const text = JSON.stringify(jwks);
    if (text === this.jwksText) return false;
    this.keySet = createLocalJWKSet(jwks);
    this.jwksText = text;
    return true;
  }

  async verify(authorization: string | undefined): Promise<DataPlaneClaims> {
    const match = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
    if (!match?.[1]) {
      throw unauthorized('this node accepts only requests forwarded by its gateway (no token)');
    }
    let payload: unknown;
    try {
      ({ payload } = await jwtVerify(match[1], this.keySet, {
        issuer: this.issuer,
        audience: this.nodeId,
        algorithms: ['ES256'],
        maxTokenAge: DATA_PLANE_JWT_MAX_TTL_S,
        clockTolerance: CLOCK_TOLERANCE_S,
        requiredClaims: ['exp', 'iat', 'jti'],
      }));
    } catch (err) {
      throw unauthorized(`invalid gateway token: ${reasonOf(err)}`);
    }
    const claims = DataPlaneClaimsSchema.safeParse(payload);
    if (!claims.success) throw unauthorized('invalid gateway token: missing or malformed claims');
    return claims.data;
  }
}

function unauthorized(message: string): HttpError {
  return new HttpError(401, 'authentication_error', message, 'invalid_node_token');
}

function reasonOf(err: unknown): string {
  if (err instanceof errors.JWTExpired) return 'expired';
  if (err instanceof errors.JWTClaimValidationFailed) return `claim '${err.claim}' ${err.reason}`;
  if (
    err instanceof errors.JWKSNoMatchingKey ||
    err instanceof errors.JWSSignatureVerificationFailed
  ) {
    return 'not signed by the gateway';
  }
  if (err instanceof errors.JOSEAlgNotAllowed) return 'algorithm not allowed';
  return 'malformed';
}
