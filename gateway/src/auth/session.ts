// Console sessions: a JWT (HS256, jose) in the fleetgate_session cookie, signed with a
// secret the host keeps (Node: generated on first start into the settings table; Worker:
// FLEETGATE_SESSION_SECRET, else generated into the settings table as well). The CSRF token
// is an HMAC of the session id under the same secret, so it needs no storage and is only
// valid with the session it was derived from.
import { SignJWT, jwtVerify } from 'jose';
import { digestsEqual, sha256Bytes } from './secrets.ts';

export const SESSION_COOKIE = 'fleetgate_session';
export const SESSION_ISSUER = 'fleetgate-console';
// How long a login lasts; the cookie's Max-Age and the JWT's exp agree.
export const SESSION_TTL_S = 12 * 60 * 60;
const ALG = 'HS256';

export interface SessionClaims {
  // The user's id.
  sub: string;
  // This session's id (random): what logout revokes, what the CSRF token is bound to.
  sid: string;
  // Unix seconds.
  exp: number;
}

export interface SessionCodec {
  issue(userId: string, nowMs: number): Promise<{ token: string; claims: SessionClaims }>;
  // The claims of a valid, unexpired token; undefined for anything else.
  verify(token: string, nowMs: number): Promise<SessionClaims | undefined>;
  csrfToken(sid: string): Promise<string>;
  csrfValid(sid: string, presented: string): Promise<boolean>;
}

function base64url(bytes: Uint8Array): string {
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
}

export function generateSessionSecret(): string {
  return base64url(crypto.getRandomValues(new Uint8Array(32)));
}

export async function createSessionCodec(secret: string): Promise<SessionCodec> {
  if (secret.length < 32) throw new Error('the session secret must be at least 32 characters');
  // Two keys from one secret, so a CSRF token can never pass as a JWT signature or back.
  const jwtKey = await sha256Bytes(`jwt\0${secret}`);
  const csrfKey = await crypto.subtle.importKey(
    'raw',
    new Uint8Array(await sha256Bytes(`csrf\0${secret}`)),
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['sign'],
  );

  async function csrfToken(sid: string): Promise<string> {
    const mac = await crypto.subtle.sign('HMAC', csrfKey, new TextEncoder().encode(sid));
    return base64url(new Uint8Array(mac));
  }

  return {
    async issue(userId, nowMs) {
      const iat = Math.floor(nowMs / 1000);
      const claims: SessionClaims = {
        sub: userId,
        sid: generateSessionSecret(),
        exp: iat + SESSION_TTL_S,
      };
      const token = await new SignJWT({ sid: claims.sid })
        .setProtectedHeader({ alg: ALG, typ: 'JWT' })
        .setIssuer(SESSION_ISSUER)
        .setSubject(userId)
        .setIssuedAt(iat)
        .setExpirationTime(claims.exp)
        .sign(jwtKey);
      return { token, claims };
    },
    async verify(token, nowMs) {
      // A cookie is never longer than this; anything longer is not ours.
      if (token.length > 1024) return undefined;
      try {
        const { payload } = await jwtVerify(token, jwtKey, {
          algorithms: [ALG],
          issuer: SESSION_ISSUER,
          currentDate: new Date(nowMs),
        });
        const { sub, sid, exp } = payload;
        if (typeof sub !== 'string' || typeof sid !== 'string' || typeof exp !== 'number') {
          return undefined;
        }
        return { sub, sid, exp };
      } catch {
        return undefined;
      }
    },
    csrfToken,
    async csrfValid(sid, presented) {
      // Compared as digests, so neither position nor length of a mismatch shows in timing.
      const expected = await csrfToken(sid);
      return digestsEqual(await sha256Bytes(presented), await sha256Bytes(expected));
    },
  };
}
