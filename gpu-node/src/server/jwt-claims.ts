// The registered claims of a data-plane JWT, checked as jose's jwtVerify checked them for
// the daemon before (iss, aud, exp, iat no older than maxAgeS, nbf, the required claims, with
// the same clock tolerance), and the failures a token can have. Pure: no keys, no I/O.

export type JwtFailure =
  | 'malformed'
  | 'algorithm not allowed'
  | 'not signed by the gateway'
  | 'expired'
  | { claim: string; reason: string };

export class JwtError extends Error {
  override readonly name = 'JwtError';
  constructor(readonly failure: JwtFailure) {
    super(typeof failure === 'string' ? failure : `claim '${failure.claim}' ${failure.reason}`);
  }
}

export interface ClaimRules {
  issuer: string;
  audience: string;
  maxAgeS: number;
  toleranceS: number;
  required: readonly string[];
  // Now, in seconds since the epoch; default the clock's.
  nowS?: number;
}

export function checkClaims(payload: Record<string, unknown>, rules: ClaimRules): void {
  const now = rules.nowS ?? Math.floor(Date.now() / 1000);
  const tolerance = rules.toleranceS;
  // In jose's order, so a token missing several claims names the same one.
  for (const claim of new Set([...rules.required, 'iat', 'aud', 'iss'].reverse())) {
    if (!Object.hasOwn(payload, claim)) throw new JwtError({ claim, reason: 'missing' });
  }
  if (payload.iss !== rules.issuer) throw new JwtError({ claim: 'iss', reason: 'check_failed' });
  const aud = payload.aud;
  const audiences = Array.isArray(aud) ? aud : [aud];
  if (!audiences.includes(rules.audience)) {
    throw new JwtError({ claim: 'aud', reason: 'check_failed' });
  }
  const { iat, exp, nbf } = payload;
  if (typeof iat !== 'number') throw new JwtError({ claim: 'iat', reason: 'invalid' });
  if (nbf !== undefined) {
    if (typeof nbf !== 'number') throw new JwtError({ claim: 'nbf', reason: 'invalid' });
    if (nbf > now + tolerance) throw new JwtError({ claim: 'nbf', reason: 'check_failed' });
  }
  if (exp !== undefined) {
    if (typeof exp !== 'number') throw new JwtError({ claim: 'exp', reason: 'invalid' });
    if (exp <= now - tolerance) throw new JwtError('expired');
  }
  const age = now - iat;
  if (age - tolerance > rules.maxAgeS) throw new JwtError('expired');
  if (age < -tolerance) throw new JwtError({ claim: 'iat', reason: 'check_failed' });
}
