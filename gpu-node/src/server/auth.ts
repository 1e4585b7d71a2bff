// Verifies the gateway's data-plane JWTs: HS256 with this node's own data-plane key, or
// ES256 with a key of the gateway's JWKS (jwt.ts: the algorithm decides which), issued by the
// gateway, for this node (aud), unexpired and at most 60 s old, with the scope the request
// needs (schema/contracts.ts: inference for POST /v1/..., logs for GET of the logs path), and
// not seen before (replay.ts). The key set and the node key come from registration and are
// refreshed by every heartbeat answer (key rotation).
import {
  DATA_PLANE_JWT_MAX_TTL_S,
  DataPlaneClaimsSchema,
  dataPlaneScopeOf,
  type DataPlaneClaims,
  type DataPlaneKey,
  type Jwks,
} from '../../../schema/contracts.ts';
import { HttpError } from './errors.ts';
import { verifyDataPlaneJwt, type DataPlaneKeys } from './jwt.ts';
import { JwtError } from './jwt-claims.ts';
import { importEs256Keys } from './jwt-es256.ts';
import { importHs256Key } from './jwt-hs256.ts';
import { ReplayCache } from './replay.ts';

// Clocks of gateway and node may disagree a little.
const CLOCK_TOLERANCE_S = 5;

const REQUIRED_CLAIMS = ['exp', 'iat', 'jti'] as const;

export class DataPlaneVerifier {
  private keys: DataPlaneKeys;
  private jwksText: string;
  private nodeKeyText: string | undefined;

  constructor(
    private readonly nodeId: string,
    private readonly issuer: string,
    jwks: Jwks,
    private readonly replays = new ReplayCache(),
  ) {
    this.jwksText = JSON.stringify(jwks);
    this.keys = { es256: importEs256Keys(jwks) };
  }

  // Accepted tokens forgotten before they expired because the replay cache was full.
  get tokensEvicted(): number {
    return this.replays.evicted;
  }

  // Returns whether the key set changed.
  setJwks(jwks: Jwks): boolean {
    const text = JSON.stringify(jwks);
    if (text === this.jwksText) return false;
    this.keys = { ...this.keys, es256: importEs256Keys(jwks) };
    this.jwksText = text;
    return true;
  }

  // This node's data-plane key (HS256); returns whether it changed.
  setNodeKey(key: DataPlaneKey): boolean {
    const text = `${key.kid} ${key.key}`;
    if (text === this.nodeKeyText) return false;
    this.keys = { ...this.keys, hs256: importHs256Key(key) };
    this.nodeKeyText = text;
    return true;
  }

  // The kid of the node key held, for the heartbeat (the gateway signs HS256 only for it).
  get nodeKeyId(): string | undefined {
    return this.keys.hs256?.kid;
  }

  // The claims of a token that allows this request; throws a 401 HttpError otherwise.
  // Synchronous work (jwt-es256.ts); async for the callers' sake.
  // eslint-disable-next-line @typescript-eslint/require-await
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
      payload = verifyDataPlaneJwt(match[1], this.keys, {
        issuer: this.issuer,
        audience: this.nodeId,
        maxAgeS: DATA_PLANE_JWT_MAX_TTL_S,
        toleranceS: CLOCK_TOLERANCE_S,
        required: REQUIRED_CLAIMS,
      });
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
  if (!(err instanceof JwtError)) return 'malformed';
  const { failure } = err;
  return typeof failure === 'string' ? failure : `claim '${failure.claim}' ${failure.reason}`;
}
