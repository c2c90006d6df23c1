import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Webhook } from 'standardwebhooks';
import { MissingSecretError, signRequest } from '../../../src/delivery/signing.js';
import { SIGNATURE_SCHEMES, toStandardWebhooksSecret } from '../../../src/common/verify.js';

const body = '{"event":"person.created","data":{"name":"Zoë 👩‍💻 </script>\u2028"},"timestamp":"2025-02-10T15:30:45Z"}';
const deliveryId = 'evt_0/15453A0:3:wh-1';
const secret = 'a3f1c0d9e8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1';
const oldSecret = 'old-secret-ünïcode';
const now = new Date('2025-02-10T15:30:50.789Z');

const hmac = (key: string | Buffer, content: string, encoding: 'hex' | 'base64'): string =>
  createHmac('sha256', key).update(content).digest(encoding);

describe('signRequest', () => {
  it('signs twenty-legacy as Twenty’s server: hex over "{ms}:{body}", with a random nonce', () => {
    const headers = signRequest({ body, deliveryId, secrets: [secret], schemes: ['twenty-legacy'], now });
    expect(headers['x-twenty-webhook-timestamp']).toBe('1739201450789');
    expect(headers['x-twenty-webhook-signature']).toBe(hmac(secret, `1739201450789:${body}`, 'hex'));
    expect(headers['x-twenty-webhook-nonce']).toMatch(/^[0-9a-f]{32}$/);
    const again = signRequest({ body, deliveryId, secrets: [secret], schemes: ['twenty-legacy'], now });
    expect(again['x-twenty-webhook-nonce']).not.toBe(headers['x-twenty-webhook-nonce']);
  });

  it('signs twenty as the docs: "sha256=<hex>" over "{seconds}.{body}"', () => {
    const headers = signRequest({ body, deliveryId, secrets: [secret], schemes: ['twenty'], now });
    expect(headers['x-twenty-timestamp']).toBe('1739201450');
    expect(headers['x-twenty-signature']).toBe(`sha256=${hmac(secret, `1739201450.${body}`, 'hex')}`);
  });

  it('signs standard as Standard Webhooks: "v1,<base64>" over "{id}.{seconds}.{body}" keyed by the secret’s UTF-8 bytes', () => {
    const headers = signRequest({ body, deliveryId, secrets: [oldSecret], schemes: ['standard'], now });
    expect(headers['webhook-id']).toBe(deliveryId);
    expect(headers['webhook-timestamp']).toBe('1739201450');
    expect(headers['webhook-signature']).toBe(
      `v1,${hmac(Buffer.from(oldSecret, 'utf8'), `${deliveryId}.1739201450.${body}`, 'base64')}`,
    );
  });

  it('uses the decoded bytes of a whsec_ secret as the standard key, and the whole string for the Twenty schemes', () => {
    const key = Buffer.from('0123456789abcdef0123456789abcdef');
    const whsec = `whsec_${key.toString('base64')}`;
    const headers = signRequest({ body, deliveryId, secrets: [whsec], schemes: ['standard', 'twenty'], now });
    expect(headers['webhook-signature']).toBe(`v1,${hmac(key, `${deliveryId}.1739201450.${body}`, 'base64')}`);
    expect(headers['x-twenty-signature']).toBe(`sha256=${hmac(whsec, `1739201450.${body}`, 'hex')}`);
  });

  it('during a rotation signs X-Twenty headers with the newest secret and lists every secret in webhook-signature', () => {
    const headers = signRequest({ body, deliveryId, secrets: [secret, oldSecret], schemes: SIGNATURE_SCHEMES, now });
    expect(headers['x-twenty-signature']).toBe(`sha256=${hmac(secret, `1739201450.${body}`, 'hex')}`);
    expect(headers['x-twenty-webhook-signature']).toBe(hmac(secret, `1739201450789:${body}`, 'hex'));
    expect(headers['webhook-signature']?.split(' ')).toEqual(
      [secret, oldSecret].map((key) => `v1,${hmac(Buffer.from(key), `${deliveryId}.1739201450.${body}`, 'base64')}`),
    );
  });

  it('signs each attempt with that attempt’s time', () => {
    const first = signRequest({ body, deliveryId, secrets: [secret], schemes: SIGNATURE_SCHEMES, now });
    const retry = signRequest({
      body,
      deliveryId,
      secrets: [secret],
      schemes: SIGNATURE_SCHEMES,
      now: new Date(now.getTime() + 60_000),
    });
    expect(retry['x-twenty-timestamp']).toBe('1739201510');
    expect(retry['x-twenty-webhook-timestamp']).toBe('1739201510789');
    expect(retry['webhook-timestamp']).toBe('1739201510');
    for (const header of ['x-twenty-signature', 'x-twenty-webhook-signature', 'webhook-signature']) {
      expect(retry[header]).not.toBe(first[header]);
    }
    expect(retry['webhook-id']).toBe(first['webhook-id']);
  });

  it('sends only the enabled schemes’ headers, and an unsigned request when none is enabled', () => {
    expect(Object.keys(signRequest({ body, deliveryId, secrets: [secret], schemes: ['twenty'], now })).sort()).toEqual([
      'content-type',
      'webhook-id',
      'x-twenty-signature',
      'x-twenty-timestamp',
    ]);
    expect(signRequest({ body, deliveryId, secrets: [], schemes: [], now })).toEqual({
      'content-type': 'application/json',
      'webhook-id': deliveryId,
    });
  });

  it('refuses to sign without a secret', () => {
    expect(() => signRequest({ body, deliveryId, secrets: [], schemes: ['standard'], now })).toThrow(MissingSecretError);
  });
});

describe('the standardwebhooks package verifies our standard signature', () => {
  const signedNow = (secrets: string[]) =>
    signRequest({ body, deliveryId, secrets, schemes: ['standard'], now: new Date() });

  it('with the secret as a raw key', () => {
    expect(new Webhook(secret, { format: 'raw' }).verify(body, signedNow([secret]))).toEqual(JSON.parse(body));
    expect(new Webhook(Buffer.from(oldSecret), { format: 'raw' }).verify(body, signedNow([oldSecret]))).toEqual(
      JSON.parse(body),
    );
  });

  it('with the whsec_ form of the secret, also for a secret that already is one', () => {
    expect(new Webhook(toStandardWebhooksSecret(oldSecret)).verify(body, signedNow([oldSecret]))).toEqual(
      JSON.parse(body),
    );
    const whsec = toStandardWebhooksSecret(secret);
    expect(toStandardWebhooksSecret(whsec)).toBe(whsec);
    expect(new Webhook(whsec).verify(body, signedNow([whsec]))).toEqual(JSON.parse(body));
  });

  it('with an older secret during a rotation, and not with a secret that is not listed', () => {
    const headers = signedNow([secret, oldSecret]);
    expect(new Webhook(Buffer.from(oldSecret), { format: 'raw' }).verify(body, headers)).toEqual(JSON.parse(body));
    expect(() => new Webhook('another-secret', { format: 'raw' }).verify(body, headers)).toThrow(/signature/);
  });
});
