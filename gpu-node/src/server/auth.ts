// Verifies the gateway's data-plane JWTs: ES256, signed by a key in the gateway's JWKS,
// issued by the gateway, for this node (aud), unexpired and at most 60 s old, with the scope
// the request needs (schema/contracts.ts: inference for POST /v1/..., logs for GET of the
// logs path), and not seen before (replay.ts). The key set comes from registration and is
// refreshed by every heartbeat answer (key rotation).
import { createLocalJWKSet, errors, jwtVerify } from 'jose';
import {
  DATA_PLANE_JWT_MAX_TTL_S,
  DataPlaneClaimsSchema,
  dataPlaneScopeOf,
  type DataPlaneClaims,
  type Jwks,
} from '../../../schema/contracts.ts';
import { HttpError } from './errors.ts';
import { ReplayCache } from './replay.ts';

// Clocks of gateway and node may disagree a little.
const CLOCK_TOLERANCE_S = 5;

export class DataPlaneVerifier {
  private keySet: ReturnType<typeof createLocalJWKSet>;
  private jwksText: string;

  constructor(
    private readonly nodeId: string,
    private readonly issuer: string,
    jwks: Jwks,
    private readonly replays = new ReplayCache(),
  ) {
    this.jwksText = JSON.stringify(jwks);
    this.keySet = createLocalJWKSet(jwks);
  }

  // Accepted tokens forgotten before they expired because the replay cache was full.
  get tokensEvicted(): number {
    return this.replays.evicted;
  }

  // Returns whether the key set changed.
  setJwks(jwks: Jwks): boolean {
    const text = JSON.stringify(jwks);
    if (text === this.jwksText) return false;
    this.keySet = createLocalJWKSet(jwks);
    this.jwksText = text;
    return true;
  }

  // The claims of a token that allows this request; throws a 401 HttpError otherwise.
  async verify(
    authorization: string | undefined,
    request: { method: string; path: string },
  ): Promise<DataPlaneClaims> {
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
    const { data } = claims;
    const needed = dataPlaneScopeOf(request.method, request.path);
    if (data.scope !== needed) {
      throw unauthorized(
        `invalid gateway token: scope '${data.scope}' does not allow ${request.method} ${request.path}`,
      );
    }
    // Checked last, so that only tokens the gateway signed take room in the cache. Valid
    // until jose would stop accepting it: expiry or maximum age, plus the clock tolerance.
    const validUntilS = Math.min(data.exp, data.iat + DATA_PLANE_JWT_MAX_TTL_S) + CLOCK_TOLERANCE_S;
    if (!this.replays.accept(`${data.scope} ${data.instance} ${data.jti}`, validUntilS * 1000)) {
      throw unauthorized('invalid gateway token: already used (a token is good for one request)');
    }
    return data;
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
