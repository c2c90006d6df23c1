import { describe, expect, it } from 'vitest';
import { signRequest } from '../../../src/delivery/signing.js';
import {
  SIGNATURE_HEADERS,
  SIGNATURE_SCHEMES,
  verifyWebhook,
  WebhookVerificationError,
  type SignatureScheme,
  type VerificationFailure,
  type VerifyWebhookOptions,
} from '../../../src/common/verify.js';

const body = '{"id":"d-1","operation":"person.updated","record":{"name":"Zoë 🚀 </script>\u2028","big":"9007199254740993"}}';
const deliveryId = 'd-1';
const secret = 'c0ffee'.repeat(10);
const sentAt = new Date('2025-02-10T15:30:50.789Z');

function signed(schemes: readonly SignatureScheme[], secrets: string[] = [secret], requestBody = body) {
  return signRequest({ body: requestBody, deliveryId, secrets, schemes, now: sentAt });
}

function failure(options: VerifyWebhookOptions): { reason: VerificationFailure; scheme: SignatureScheme | null } {
  try {
    verifyWebhook(options);
  } catch (error) {
    if (error instanceof WebhookVerificationError) return { reason: error.reason, scheme: error.scheme };
    throw error;
  }
  throw new Error('verifyWebhook accepted the request');
}

const secondsLater = (seconds: number): Date => new Date(sentAt.getTime() + seconds * 1000);

describe('verifyWebhook accepts', () => {
  for (const scheme of SIGNATURE_SCHEMES) {
    it(`a ${scheme} signature and returns the parsed body`, () => {
      const verified = verifyWebhook({ body, headers: signed([scheme]), secret, now: secondsLater(2) });
      expect(verified.scheme).toBe(scheme);
      expect(verified.id).toBe(deliveryId);
      expect(verified.event).toEqual(JSON.parse(body));
      const precision = scheme === 'twenty-legacy' ? 1 : 1000;
      expect(verified.timestamp.getTime()).toBe(Math.floor(sentAt.getTime() / precision) * precision);
    });
  }

  it('the standard scheme first when every scheme is present', () => {
    expect(verifyWebhook({ body, headers: signed(SIGNATURE_SCHEMES), secret, now: sentAt }).scheme).toBe('standard');
    expect(verifyWebhook({ body, headers: signed(['twenty', 'twenty-legacy']), secret, now: sentAt }).scheme).toBe(
      'twenty',
    );
  });

  it('another present scheme when the preferred one does not verify', () => {
    const headers = { ...signed(SIGNATURE_SCHEMES), 'webhook-signature': 'v1,AAAA' };
    expect(verifyWebhook({ body, headers, secret, now: sentAt }).scheme).toBe('twenty');
  });

  it('headers in any case, given once as arrays, and a Buffer body', () => {
    const headers = Object.fromEntries(Object.entries(signed(SIGNATURE_SCHEMES)).map(([k, v]) => [k.toUpperCase(), [v]]));
    const verified = verifyWebhook({ body: Buffer.from(body), headers, secret, now: sentAt });
    expect(verified.event).toEqual(JSON.parse(body));
  });

  it('any of several secrets, and any of several listed signatures', () => {
    const rotated = signed(SIGNATURE_SCHEMES, ['newest', secret]);
    expect(verifyWebhook({ body, headers: rotated, secret: ['unrelated', secret], now: sentAt }).scheme).toBe('standard');
    expect(verifyWebhook({ body, headers: signed(['twenty']), secret: ['unrelated', secret], now: sentAt }).scheme).toBe(
      'twenty',
    );
  });

  it('a timestamp exactly at the tolerance, in both directions', () => {
    for (const scheme of SIGNATURE_SCHEMES) {
      const headers = signed([scheme]);
      const signedAt = verifyWebhook({ body, headers, secret, now: sentAt }).timestamp.getTime();
      for (const now of [new Date(signedAt + 60_000), new Date(signedAt - 60_000)]) {
        expect(verifyWebhook({ body, headers, secret, now, toleranceSeconds: 60 }).scheme).toBe(scheme);
      }
    }
  });
});

describe('verifyWebhook cannot be downgraded', () => {
  const stripped = (headers: Record<string, string>) => {
    const { 'webhook-signature': _signature, 'webhook-timestamp': _timestamp, ...rest } = headers;
    return rest;
  };

  for (const scheme of ['twenty', 'twenty-legacy'] as const) {
    it(`a replay stripped to ${scheme} with a new webhook-id returns the signed body's id, not the header`, () => {
      const replay = { ...stripped(signed(SIGNATURE_SCHEMES)), 'webhook-id': 'forged-id' };
      const verified = verifyWebhook({ body, headers: replay, secret, now: sentAt });
      expect(verified.id).toBe(deliveryId);
      const only = verifyWebhook({ body, headers: { ...signed([scheme]), 'webhook-id': 'forged-id' }, secret, now: sentAt });
      expect(only.id).toBe(deliveryId);
    });
  }

  it('a twenty-signed body without a top-level id gives a null id, whatever webhook-id says', () => {
    const eventBody = '{"event":"person.created","data":{"id":"r-1"},"timestamp":"2025-02-10T15:30:50.000Z"}';
    const headers = { ...signed(['twenty'], [secret], eventBody), 'webhook-id': 'forged-id' };
    expect(verifyWebhook({ body: eventBody, headers, secret, now: sentAt }).id).toBeNull();
  });

  it('a receiver that requires standard refuses a request stripped of it', () => {
    const replay = stripped(signed(SIGNATURE_SCHEMES));
    expect(failure({ body, headers: replay, secret, now: sentAt, schemes: ['standard'] })).toEqual({
      reason: 'missing_signature',
      scheme: null,
    });
  });

  it('a tolerance that is NaN, infinite or negative, or an invalid now, is a programming error, not an open window', () => {
    const longAgo = { body, headers: signed(SIGNATURE_SCHEMES), secret, now: secondsLater(86_400 * 365) };
    for (const toleranceSeconds of [Number.NaN, Number.POSITIVE_INFINITY, -1, '300' as unknown as number]) {
      expect(() => verifyWebhook({ ...longAgo, toleranceSeconds })).toThrow(TypeError);
    }
    expect(() => verifyWebhook({ ...longAgo, now: new Date(Number.NaN) })).toThrow(TypeError);
  });

  it('a whsec_ secret that decodes to fewer than 16 key bytes is a programming error, not an empty HMAC key', () => {
    const weak = 'whsec_!!!!!!!!!!!!!!!!';
    const headers = signed(['standard'], [weak]);
    expect(() => verifyWebhook({ body, headers, secret: weak, now: sentAt })).toThrow(/at least 16 key bytes|base64/);
    expect(() => verifyWebhook({ body, headers, secret: [secret, `whsec_${Buffer.alloc(8).toString('base64')}`], now: sentAt })).toThrow(TypeError);
    const strong = `whsec_${Buffer.alloc(24, 1).toString('base64')}`;
    expect(verifyWebhook({ body, headers: signed(['standard'], [strong]), secret: strong, now: sentAt }).scheme).toBe('standard');
  });

  it('an empty or misspelt scheme list is a programming error', () => {
    const request = { body, headers: signed(SIGNATURE_SCHEMES), secret, now: sentAt };
    expect(() => verifyWebhook({ ...request, schemes: [] })).toThrow(TypeError);
    expect(() => verifyWebhook({ ...request, schemes: ['Standard' as SignatureScheme] })).toThrow(TypeError);
  });
});

describe('verifyWebhook rejects', () => {
  it('a request without any signature header as missing_signature', () => {
    expect(failure({ body, headers: { 'content-type': 'application/json' }, secret })).toEqual({
      reason: 'missing_signature',
      scheme: null,
    });
  });

  it('a scheme the receiver does not accept as missing_signature', () => {
    expect(failure({ body, headers: signed(['twenty-legacy']), secret, now: sentAt, schemes: ['standard'] }).reason).toBe(
      'missing_signature',
    );
  });

  for (const scheme of SIGNATURE_SCHEMES) {
    it(`a ${scheme} request with a wrong secret, a tampered body or a truncated signature as bad_signature`, () => {
      const headers = signed([scheme]);
      const signatureHeader = SIGNATURE_HEADERS[scheme].signature;
      const truncated = { ...headers, [signatureHeader]: headers[signatureHeader]?.slice(0, -4) };
      const tampered = body.replace('Zoë', 'Zoe');
      expect(failure({ body, headers, secret: 'wrong', now: sentAt })).toEqual({ reason: 'bad_signature', scheme });
      expect(failure({ body: tampered, headers, secret, now: sentAt })).toEqual({ reason: 'bad_signature', scheme });
      expect(failure({ body, headers: truncated, secret, now: sentAt })).toEqual({ reason: 'bad_signature', scheme });
    });

    it(`a ${scheme} timestamp beyond the tolerance, in the past and in the future`, () => {
      const headers = signed([scheme]);
      for (const now of [secondsLater(302), secondsLater(-301)]) {
        expect(failure({ body, headers, secret, now })).toEqual({ reason: 'timestamp_out_of_tolerance', scheme });
      }
    });

    it(`a ${scheme} request whose timestamp is not an integer as malformed`, () => {
      const headers = { ...signed([scheme]), [SIGNATURE_HEADERS[scheme].timestamp]: '2025-02-10T15:30:50Z' };
      expect(failure({ body, headers, secret, now: sentAt })).toEqual({ reason: 'malformed', scheme });
    });
  }

  it('a standard request without webhook-id as malformed', () => {
    const { 'webhook-id': _id, ...headers } = signed(['standard']);
    expect(failure({ body, headers, secret, now: sentAt })).toEqual({ reason: 'malformed', scheme: 'standard' });
  });

  it('a header sent twice as malformed', () => {
    const headers = signed(['twenty']);
    const twice = { ...headers, 'x-twenty-signature': [headers['x-twenty-signature'] ?? '', 'sha256=00'] };
    expect(failure({ body, headers: twice, secret, now: sentAt })).toEqual({ reason: 'malformed', scheme: 'twenty' });
  });

  it('a correctly signed body that is not JSON as malformed', () => {
    const notJson = '{"truncated":';
    expect(failure({ body: notJson, headers: signed(['standard'], [secret], notJson), secret, now: sentAt })).toEqual({
      reason: 'malformed',
      scheme: 'standard',
    });
  });

  it('with the most preferred scheme’s reason when none verifies', () => {
    const headers = signed(SIGNATURE_SCHEMES);
    expect(failure({ body, headers, secret: 'wrong', now: sentAt })).toEqual({ reason: 'bad_signature', scheme: 'standard' });
  });

  it('an older secret on the X-Twenty headers during a rotation: they carry only the newest signature', () => {
    const headers = signed(SIGNATURE_SCHEMES, ['newest', secret]);
    expect(failure({ body, headers, secret, now: sentAt, schemes: ['twenty', 'twenty-legacy'] })).toEqual({
      reason: 'bad_signature',
      scheme: 'twenty',
    });
  });

  it('a call without a secret as a programming error', () => {
    expect(() => verifyWebhook({ body, headers: signed(['standard']), secret: [] })).toThrow(TypeError);
  });
});
