/**
 * Receiver-side check of walhook's webhook signatures, published as
 * `walhook/verify`.
 *
 * This module is also the one definition of the three signature schemes: the
 * sender (`delivery/signing.ts`) signs with the functions below, so what is
 * sent and what is checked cannot drift apart. It imports nothing but
 * node:crypto, so a receiver pulls in nothing else of walhook.
 *
 * Schemes (README.md "Headers" and "Verifying signatures"):
 * - `standard` (https://www.standardwebhooks.com): `webhook-signature:
 *   v1,<base64>` over `{id}.{timestamp}.{body}`, `webhook-timestamp` in Unix
 *   seconds; one signature per active secret, space-separated.
 * - `twenty` (Twenty's docs): `X-Twenty-Signature: sha256=<hex>` over
 *   `{timestamp}.{body}`, `X-Twenty-Timestamp` in Unix seconds.
 * - `twenty-legacy` (what Twenty's server sends): `X-Twenty-Webhook-Signature:
 *   <hex>` over `{timestamp}:{body}`, `X-Twenty-Webhook-Timestamp` in epoch
 *   milliseconds.
 *
 * The HMAC-SHA256 key is the UTF-8 bytes of the webhook's secret string for
 * every scheme, which is what `crypto.createHmac('sha256', secret)` in Twenty's
 * recipes uses. The `standardwebhooks` package takes the same key with
 * `new Webhook(Buffer.from(secret), { format: 'raw' })` (a string in raw format
 * is read one byte per character, so it works as is only for ASCII secrets
 * such as walhook's generated hex ones), or
 * `new Webhook(toStandardWebhooksSecret(secret))`. The one exception follows
 * that spec: a secret written `whsec_<base64>` has the decoded bytes as its
 * `standard` key, so such a secret can be handed to those libraries as it is.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** In the order `verifyWebhook` prefers them when a request carries several. */
export const SIGNATURE_SCHEMES = ['standard', 'twenty', 'twenty-legacy'] as const;
export type SignatureScheme = (typeof SIGNATURE_SCHEMES)[number];

/** Lowercase, as Node presents incoming headers (header names are case-insensitive). */
export const SIGNATURE_HEADERS = {
  standard: { signature: 'webhook-signature', timestamp: 'webhook-timestamp' },
  twenty: { signature: 'x-twenty-signature', timestamp: 'x-twenty-timestamp' },
  'twenty-legacy': { signature: 'x-twenty-webhook-signature', timestamp: 'x-twenty-webhook-timestamp' },
} as const satisfies Record<SignatureScheme, { signature: string; timestamp: string }>;

/** The delivery id: signed by the `standard` scheme, sent alongside the others for deduplication. */
export const WEBHOOK_ID_HEADER = 'webhook-id';

/** Milliseconds per unit of each scheme's timestamp header: Twenty's server sends `Date.now()`. */
const TIMESTAMP_UNIT_MS: Record<SignatureScheme, number> = { standard: 1000, twenty: 1000, 'twenty-legacy': 1 };

const STANDARD_SECRET_PREFIX = 'whsec_';
const DEFAULT_TOLERANCE_SECONDS = 300;

/** The timestamp header value of `scheme` for a request sent at `at`. */
export function schemeTimestamp(scheme: SignatureScheme, at: Date): string {
  return String(Math.floor(at.getTime() / TIMESTAMP_UNIT_MS[scheme]));
}

export interface SignedParts {
  /** Delivery id; only the `standard` scheme signs it. */
  id: string;
  /** The timestamp header value, as sent. */
  timestamp: string;
  /** The raw request body. */
  body: string | Buffer;
}

/** One signature as it appears in the scheme's signature header. */
export function computeSignature(scheme: SignatureScheme, secret: string, { id, timestamp, body }: SignedParts): string {
  switch (scheme) {
    case 'standard':
      return `v1,${hmacSha256(standardWebhooksKey(secret), `${id}.${timestamp}.`, body).toString('base64')}`;
    case 'twenty':
      return `sha256=${hmacSha256(Buffer.from(secret, 'utf8'), `${timestamp}.`, body).toString('hex')}`;
    case 'twenty-legacy':
      return hmacSha256(Buffer.from(secret, 'utf8'), `${timestamp}:`, body).toString('hex');
  }
}

/** The `whsec_<base64>` form of a secret, for Standard Webhooks libraries that expect it. */
export function toStandardWebhooksSecret(secret: string): string {
  if (secret.startsWith(STANDARD_SECRET_PREFIX)) return secret;
  return STANDARD_SECRET_PREFIX + Buffer.from(secret, 'utf8').toString('base64');
}

/** Fewer key bytes make a guessable HMAC key; Standard Webhooks libraries generate 24 to 64. */
export const MIN_STANDARD_KEY_BYTES = 16;
const STRICT_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Why a secret cannot sign, or undefined when it can. Only the `whsec_` form
 * needs a check beyond its length: its key is what the base64 after the
 * prefix decodes to, and Node decodes leniently (skipping what is not base64),
 * so `whsec_` followed by anything else would give an empty or short key.
 */
export function secretProblem(secret: string): string | undefined {
  if (!secret.startsWith(STANDARD_SECRET_PREFIX)) return undefined;
  const encoded = secret.slice(STANDARD_SECRET_PREFIX.length);
  if (!STRICT_BASE64.test(encoded)) return `a whsec_ secret must be followed by standard base64 (A-Z a-z 0-9 + / =)`;
  const bytes = Buffer.from(encoded, 'base64').length;
  if (bytes < MIN_STANDARD_KEY_BYTES) {
    return `a whsec_ secret must decode to at least ${MIN_STANDARD_KEY_BYTES} key bytes, this one gives ${bytes}`;
  }
  return undefined;
}

function standardWebhooksKey(secret: string): Buffer {
  if (secret.startsWith(STANDARD_SECRET_PREFIX)) {
    return Buffer.from(secret.slice(STANDARD_SECRET_PREFIX.length), 'base64');
  }
  return Buffer.from(secret, 'utf8');
}

// The body is fed as given (never re-encoded) so that a Buffer is checked byte for byte.
function hmacSha256(key: Buffer, prefix: string, body: string | Buffer): Buffer {
  return createHmac('sha256', key).update(prefix, 'utf8').update(body).digest();
}

export type VerificationFailure = 'missing_signature' | 'bad_signature' | 'timestamp_out_of_tolerance' | 'malformed';

export class WebhookVerificationError extends Error {
  override readonly name = 'WebhookVerificationError';

  constructor(
    readonly reason: VerificationFailure,
    /** The scheme whose check failed; null when no signature header was found. */
    readonly scheme: SignatureScheme | null,
    message: string,
  ) {
    super(message);
  }
}

export interface VerifyWebhookOptions {
  /** The raw request body, exactly as received (not a re-serialised parse). */
  body: string | Buffer;
  /** Request headers in any letter case, e.g. Node's `req.headers`. */
  headers: Record<string, string | string[] | undefined>;
  /** The webhook's secret, or several during a rotation: any one may match. */
  secret: string | readonly string[];
  /** How far the request's timestamp may be from `now`, in either direction (default 300; a finite number ≥ 0). */
  toleranceSeconds?: number;
  now?: Date;
  /**
   * Schemes to accept (default: all). `['standard']` requires the Standard
   * Webhooks signature, so a request stripped down to a weaker scheme is
   * refused as `missing_signature`.
   */
  schemes?: readonly SignatureScheme[];
}

export interface VerifiedWebhook<Event = unknown> {
  scheme: SignatureScheme;
  /**
   * The delivery id (the same on every retry), always covered by the verified
   * signature: the signed `webhook-id` header for `standard`; for the
   * `twenty` schemes, which do not sign that header, the body's top-level
   * `id` (the `record` format has it), else null. Deduplicate on this, never
   * on the raw header.
   */
  id: string | null;
  /** When this attempt was signed. */
  timestamp: Date;
  /** The parsed JSON body. */
  event: Event;
}

/**
 * Checks a walhook (or Twenty) webhook request and returns its parsed body.
 *
 * Of the schemes whose signature header is present, the first valid one in
 * the order `standard`, `twenty`, `twenty-legacy` is reported; when none is
 * valid, the error of the most preferred one is thrown.
 *
 * @throws {WebhookVerificationError} with `reason`: `missing_signature` (no
 *   signature header), `bad_signature`, `timestamp_out_of_tolerance` or
 *   `malformed` (a header or the body cannot be read).
 *
 * @example
 * ```ts
 * import { createServer } from 'node:http';
 * import { verifyWebhook, WebhookVerificationError } from 'walhook/verify';
 *
 * createServer(async (req, res) => {
 *   const chunks: Buffer[] = [];
 *   for await (const chunk of req) chunks.push(chunk);
 *   try {
 *     const { id, event } = verifyWebhook({
 *       body: Buffer.concat(chunks),
 *       headers: req.headers,
 *       secret: process.env.WEBHOOK_SECRET!,
 *     });
 *     console.log('delivery', id, event);
 *     res.writeHead(204).end();
 *   } catch (error) {
 *     if (!(error instanceof WebhookVerificationError)) throw error;
 *     res.writeHead(401).end(error.reason);
 *   }
 * }).listen(3000);
 * ```
 */
export function verifyWebhook<Event = unknown>(options: VerifyWebhookOptions): VerifiedWebhook<Event> {
  const { scheme, signedHeaderId, timestamp } = authenticate(options);
  const text = typeof options.body === 'string' ? options.body : options.body.toString('utf8');
  let event: unknown;
  try {
    event = JSON.parse(text);
  } catch (error) {
    throw new WebhookVerificationError('malformed', scheme, `the body is not JSON: ${(error as Error).message}`);
  }
  return { scheme, id: signedHeaderId ?? signedBodyId(event), timestamp, event: event as Event };
}

function signedBodyId(event: unknown): string | null {
  if (typeof event !== 'object' || event === null || Array.isArray(event)) return null;
  const { id } = event as { id?: unknown };
  return typeof id === 'string' ? id : null;
}

interface Authenticated {
  scheme: SignatureScheme;
  /** `webhook-id`, only when the verified signature covers it (`standard`). */
  signedHeaderId: string | null;
  timestamp: Date;
}

/** Options that would silently weaken the check are programming errors, not requests to accept. */
function checkedOptions(options: VerifyWebhookOptions): { secrets: readonly string[]; accepted: readonly SignatureScheme[]; toleranceSeconds: number; now: Date } {
  const secrets = typeof options.secret === 'string' ? [options.secret] : options.secret;
  if (secrets.length === 0) throw new TypeError('verifyWebhook needs at least one secret');
  for (const secret of secrets) {
    const problem = typeof secret === 'string' ? secretProblem(secret) : 'a secret must be a string';
    if (problem !== undefined) throw new TypeError(`verifyWebhook: ${problem}`);
  }
  const toleranceSeconds = options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  if (typeof toleranceSeconds !== 'number' || !Number.isFinite(toleranceSeconds) || toleranceSeconds < 0) {
    throw new TypeError(`verifyWebhook: toleranceSeconds must be a finite number of seconds ≥ 0, got ${String(toleranceSeconds)}`);
  }
  const now = options.now ?? new Date();
  if (!(now instanceof Date) || Number.isNaN(now.getTime())) throw new TypeError('verifyWebhook: now must be a valid Date');
  const accepted = options.schemes ?? SIGNATURE_SCHEMES;
  const unknown = accepted.filter((scheme) => !SIGNATURE_SCHEMES.includes(scheme));
  if (accepted.length === 0 || unknown.length > 0) {
    throw new TypeError(`verifyWebhook: schemes must list some of ${SIGNATURE_SCHEMES.join(', ')}, got ${JSON.stringify(accepted)}`);
  }
  return { secrets, accepted, toleranceSeconds, now };
}

interface SchemeCheck {
  headers: Record<string, string | string[] | undefined>;
  body: string | Buffer;
  secrets: readonly string[];
  now: Date;
  toleranceSeconds: number;
}

function authenticate(options: VerifyWebhookOptions): Authenticated {
  const { secrets, accepted, toleranceSeconds, now } = checkedOptions(options);
  const check: SchemeCheck = {
    headers: Object.fromEntries(Object.entries(options.headers).map(([name, value]) => [name.toLowerCase(), value])),
    body: options.body,
    secrets,
    now,
    toleranceSeconds,
  };

  let firstFailure: WebhookVerificationError | undefined;
  for (const scheme of SIGNATURE_SCHEMES) {
    if (!accepted.includes(scheme) || check.headers[SIGNATURE_HEADERS[scheme].signature] === undefined) continue;
    try {
      return checkScheme(scheme, check);
    } catch (error) {
      if (!(error instanceof WebhookVerificationError)) throw error;
      firstFailure ??= error;
    }
  }
  throw (
    firstFailure ??
    new WebhookVerificationError(
      'missing_signature',
      null,
      `none of the headers ${accepted.map((scheme) => SIGNATURE_HEADERS[scheme].signature).join(', ')} is present`,
    )
  );
}

function checkScheme(scheme: SignatureScheme, check: SchemeCheck): Authenticated {
  const names = SIGNATURE_HEADERS[scheme];
  const signatures = (readHeader(check.headers, names.signature, scheme) ?? '').split(' ');
  const timestampText = readHeader(check.headers, names.timestamp, scheme);
  // Only `standard` signs the id; for the other schemes the header is not evidence of anything.
  const id = scheme === 'standard' ? (readHeader(check.headers, WEBHOOK_ID_HEADER, scheme) ?? null) : null;
  if (timestampText === undefined || !/^\d{1,15}$/.test(timestampText)) {
    throw new WebhookVerificationError('malformed', scheme, `${names.timestamp} must be an integer, got ${JSON.stringify(timestampText)}`);
  }
  if (scheme === 'standard' && id === null) {
    throw new WebhookVerificationError('malformed', scheme, `${WEBHOOK_ID_HEADER} is missing`);
  }

  const timestamp = new Date(Number(timestampText) * TIMESTAMP_UNIT_MS[scheme]);
  const skewMs = check.now.getTime() - timestamp.getTime();
  if (Math.abs(skewMs) > check.toleranceSeconds * 1000) {
    throw new WebhookVerificationError(
      'timestamp_out_of_tolerance',
      scheme,
      `${names.timestamp} is ${Math.round(skewMs / 1000)} s from now, more than ${check.toleranceSeconds} s`,
    );
  }

  const parts: SignedParts = { id: id ?? '', timestamp: timestampText, body: check.body };
  const matches = check.secrets.some((secret) => {
    const expected = computeSignature(scheme, secret, parts);
    return signatures.some((signature) => constantTimeEqual(signature, expected));
  });
  if (!matches) {
    throw new WebhookVerificationError('bad_signature', scheme, `${names.signature} matches none of the secrets`);
  }
  return { scheme, signedHeaderId: id, timestamp };
}

/** A header sent twice is refused: walhook never does, and which copy is signed would be ambiguous. */
function readHeader(
  headers: Record<string, string | string[] | undefined>,
  name: string,
  scheme: SignatureScheme,
): string | undefined {
  const value = headers[name];
  if (!Array.isArray(value)) return value;
  if (value.length > 1) throw new WebhookVerificationError('malformed', scheme, `${name} is sent ${value.length} times`);
  return value[0];
}

function constantTimeEqual(received: string, expected: string): boolean {
  const a = Buffer.from(received, 'utf8');
  const b = Buffer.from(expected, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}
