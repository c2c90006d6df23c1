/**
 * What a webhook is, written once: the fields an operator gives it (in the
 * config file, through the API, the CLI or the console), as the webhooks
 * table stores them and the delivery registry routes by them, and the payload
 * formats it can choose. Signature schemes are listed in `verify.ts`, which a
 * receiver imports alone.
 */
import type { SignatureScheme } from './verify.js';

/** In this order wherever they are listed; the first is the default. */
export const PAYLOAD_FORMATS = ['record', 'event', 'twenty'] as const;
export type PayloadFormat = (typeof PAYLOAD_FORMATS)[number];

/**
 * How a webhook's deliveries are ordered; the first is the default. `record`:
 * those of one record (table + primary key) leave one at a time, in commit
 * order (src/delivery/record-order.ts).
 */
export const ORDERINGS = ['none', 'record'] as const;
export type Ordering = (typeof ORDERINGS)[number];

/** The shortest signing secret accepted, from the config file as from the API. */
export const MIN_SECRET_LENGTH = 16;

/** Where a webhook is defined; `twenty`: made in Twenty's UI (core.webhook), read-only in walhook. */
export type WebhookSource = 'config' | 'api' | 'twenty';

/**
 * How a webhook batches its deliveries (`delivery/batcher.ts`): one POST
 * carries up to `maxEvents` events, its body at most `maxBytes` (which may not
 * exceed delivery.maxPayloadBytes: `batchMaxBytesProblem`), sent `linger` ms
 * after its first event at the latest.
 */
export interface BatchPolicy {
  maxEvents: number;
  maxBytes: number;
  /** Milliseconds. */
  linger: number;
}

/** The bounds of each batch field, checked alike in the config file and the API. */
export const BATCH_LIMITS = {
  maxEvents: { min: 1, max: 10_000 },
  maxBytes: { min: 1024, max: 1024 ** 3 },
  linger: { min: 1, max: 60_000 },
} as const;

/** What a field of `batch` left out is. */
export const BATCH_DEFAULTS: BatchPolicy = { maxEvents: 100, maxBytes: 1024 ** 2, linger: 200 };

/**
 * What `batch.maxBytes` is expected to be when it exceeds delivery.maxPayloadBytes, or null when it fits. The
 * payload limit applies to a batch's body as to any request body, so a larger maxBytes is refused, in the config
 * file as through the API, rather than quietly lowered: an operator who asked for it would not get it.
 */
export function batchMaxBytesProblem(maxBytes: number, maxPayloadBytes: number): string | null {
  if (maxBytes <= maxPayloadBytes) return null;
  // A lowered payload limit refuses the default too, where the operator may not have written maxBytes at all.
  const defaultNote = maxBytes === BATCH_DEFAULTS.maxBytes ? ` (${maxBytes} is also its value when left out)` : '';
  return `at most delivery.maxPayloadBytes, ${maxPayloadBytes} bytes: the payload limit applies to a batch${defaultNote}`;
}

/** The fields a webhook is edited by. */
export interface WebhookFields {
  targetUrl: string;
  /** `<object>.<action>` patterns (`common/operations.ts`). */
  operations: string[];
  description: string;
  format: PayloadFormat;
  signatures: SignatureScheme[];
  /** Only events of this workspace are sent; null or absent: every workspace. */
  workspaceId?: string | null;
  /** Updates are sent only when one of these fields changed (`common/webhook-filter.ts`); empty or absent: every update. */
  changedFields?: string[];
  /** A CEL condition an event must meet to be sent (`common/webhook-filter.ts`); null or absent: every event. */
  filter?: string | null;
  /** Absent: `none`. */
  ordering?: Ordering;
  /** Requests per second at most to its endpoint (a token bucket, `delivery/token-bucket.ts`); null or absent: no limit. */
  maxPerSecond?: number | null;
  /** Several events per request (`BatchPolicy`); null or absent: one event per request. */
  batch?: BatchPolicy | null;
}

/** Just the editable fields of a webhook-like value. */
export function webhookFieldsOf({
  targetUrl,
  operations,
  description,
  format,
  signatures,
  workspaceId,
  changedFields,
  filter,
  ordering,
  maxPerSecond,
  batch,
}: WebhookFields): Required<WebhookFields> {
  return {
    targetUrl,
    operations,
    description,
    format,
    signatures,
    workspaceId: workspaceId ?? null,
    changedFields: changedFields ?? [],
    filter: filter ?? null,
    ordering: ordering ?? 'none',
    maxPerSecond: maxPerSecond ?? null,
    batch: batch ?? null,
  };
}
