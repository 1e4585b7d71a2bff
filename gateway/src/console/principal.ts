// Who is calling the admin API: the admin token (automation), or a console user signed in
// with a session cookie. Set by middleware/admin-auth.ts, read by the role and CSRF checks
// and by the audit log.
export type AdminRole = 'admin' | 'viewer';

export type AdminPrincipal =
  | { kind: 'admin-token' }
  | {
      kind: 'user';
      id: string;
      username: string;
      role: AdminRole;
      // The session's id and expiry (unix seconds), from its JWT.
      sid: string;
      exp: number;
    };

// Methods that change nothing: allowed to viewers and without a CSRF token.
export const isSafeMethod = (method: string) =>
  method === 'GET' || method === 'HEAD' || method === 'OPTIONS';
