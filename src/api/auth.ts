/**
 * Bearer-token check of the management API. Both sides are hashed before the
 * comparison so that timingSafeEqual compares equal lengths and the time
 * taken says nothing about the token, not even its length.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

export type AuthResult = { ok: true } | { ok: false; reason: string };

export const TOKEN_NOT_CONFIGURED =
  'the management API is disabled until api.token is set (environment WALHOOK_API_TOKEN, at least 16 characters)';

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** Checks `Authorization` headers against `token`; without a token every request is refused. */
export function bearerAuth(token: string | undefined): (authorization: string | undefined) => AuthResult {
  const expected = token === undefined ? null : sha256(token);
  return (authorization) => {
    if (expected === null) return { ok: false, reason: TOKEN_NOT_CONFIGURED };
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization ?? '');
    if (!match?.[1]) return { ok: false, reason: 'missing bearer token: send the header Authorization: Bearer <api.token>' };
    if (!timingSafeEqual(sha256(match[1]), expected)) return { ok: false, reason: 'invalid bearer token' };
    return { ok: true };
  };
}
