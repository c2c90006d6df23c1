/**
 * The headers that sign one delivery attempt. They are computed afresh for
 * every attempt, with that attempt's time; a retry stores the body, never a
 * signature. The schemes and how a secret string becomes an HMAC key are
 * defined in `../common/verify.ts`, the receiver's side, so both ends share one
 * definition.
 */
import { randomFillSync } from 'node:crypto';
import {
  computeSignature,
  schemeTimestamp,
  SIGNATURE_HEADERS,
  WEBHOOK_ID_HEADER,
  type SignatureScheme,
} from '../common/verify.js';

/** Sent with `twenty-legacy`, as Twenty's server does; not part of the signed content. */
const NONCE_HEADER = 'x-twenty-webhook-nonce';
const NONCE_BYTES = 16;
/** Nonces drawn from the CSPRNG at once: one call per this many requests instead of one per request. */
const NONCES_PER_DRAW = 256;
const noncePool = Buffer.alloc(NONCE_BYTES * NONCES_PER_DRAW);
let noncesLeft = 0;

/** 16 random bytes in hex, as Twenty's call-webhook.job.ts makes it (crypto.randomBytes(16)); each pool byte is used once. */
function nextNonce(): string {
  if (noncesLeft === 0) {
    randomFillSync(noncePool);
    noncesLeft = NONCES_PER_DRAW;
  }
  noncesLeft--;
  return noncePool.toString('hex', noncesLeft * NONCE_BYTES, (noncesLeft + 1) * NONCE_BYTES);
}

export interface SignRequestInput {
  /** The exact body that will be POSTed (as bytes when the caller encoded it once for signing and sending). */
  body: string | Buffer;
  /** Delivery id (per event × webhook), the same on every attempt. */
  deliveryId: string;
  /** The webhook's active secrets, newest first (more than one during a rotation). */
  secrets: readonly string[];
  /** The schemes enabled for the webhook; none means an unsigned request. */
  schemes: readonly SignatureScheme[];
  /** When this attempt is sent. */
  now: Date;
}

export class MissingSecretError extends Error {
  override readonly name = 'MissingSecretError';

  constructor(readonly deliveryId: string, readonly schemes: readonly SignatureScheme[]) {
    super(`delivery ${deliveryId}: signing with ${schemes.join(', ')} needs at least one secret`);
  }
}

/**
 * Request headers for one attempt: `content-type`, `webhook-id` (always, so
 * receivers can deduplicate retries) and each enabled scheme's timestamp and
 * signature. `user-agent` is the caller's.
 *
 * During a rotation the X-Twenty signature headers, which hold one value,
 * carry the newest secret's signature; `webhook-signature` lists one per
 * secret, as Standard Webhooks intends, so receivers still holding an older
 * secret keep verifying.
 */
export function signRequest({ body, deliveryId, secrets, schemes, now }: SignRequestInput): Record<string, string> {
  if (schemes.length > 0 && secrets.length === 0) throw new MissingSecretError(deliveryId, schemes);
  const headers: Record<string, string> = { 'content-type': 'application/json', [WEBHOOK_ID_HEADER]: deliveryId };
  for (const scheme of schemes) {
    const timestamp = schemeTimestamp(scheme, now);
    const signingSecrets = scheme === 'standard' ? secrets : secrets.slice(0, 1);
    headers[SIGNATURE_HEADERS[scheme].timestamp] = timestamp;
    headers[SIGNATURE_HEADERS[scheme].signature] = signingSecrets
      .map((secret) => computeSignature(scheme, secret, { id: deliveryId, timestamp, body }))
      .join(' ');
  }
  if (schemes.includes('twenty-legacy')) headers[NONCE_HEADER] = nextNonce();
  return headers;
}
