import { describe, expect, it } from 'vitest';
import { bearerAuth } from '../../../src/api/auth.js';

const token = 'a-management-token-of-some-length';

describe('bearer auth', () => {
  const check = bearerAuth(token);

  it('accepts the token after Bearer, in any letter case', () => {
    expect(check(`Bearer ${token}`)).toEqual({ ok: true });
    expect(check(`bearer ${token}`)).toEqual({ ok: true });
    expect(check(`BEARER  ${token} `)).toEqual({ ok: true });
  });

  it.each([
    ['no header', undefined, /missing bearer token/],
    ['an empty header', '', /missing bearer token/],
    ['another scheme', `Basic ${token}`, /missing bearer token/],
    ['Bearer without a token', 'Bearer ', /missing bearer token/],
    ['a wrong token', 'Bearer not-the-token', /invalid bearer token/],
    ['a prefix of the token', `Bearer ${token.slice(0, -1)}`, /invalid bearer token/],
    ['the token with more after it', `Bearer ${token}x`, /invalid bearer token/],
    ['two tokens', `Bearer ${token} ${token}`, /missing bearer token/],
  ])('refuses %s', (_case, header, reason) => {
    const result = check(header);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.reason).toMatch(reason);
  });

  it('refuses everything when no token is configured, naming the setting', () => {
    const result = bearerAuth(undefined)(`Bearer ${token}`);
    expect(result).toEqual({ ok: false, reason: expect.stringMatching(/api\.token.*WALHOOK_API_TOKEN/) });
  });
});
