/**
 * Webhooks and deliveries as the API and the CLI show them: plain JSON
 * values, timestamps in ISO 8601, never a sealed secret. The clear secret is
 * only ever present right after it was made (create, rotate).
 */
import type { AttemptRow, DeliveryKey, DeliveryRow } from '../state/delivery-admin.js';
import { webhookFieldsOf, type WebhookSource } from '../common/webhook.js';
import { overlappingPreviousSecret, type WebhookRow } from '../state/webhooks.js';
import { badUserInput } from './errors.js';
import type { PartitionMetrics } from './metrics.js';

export interface WebhookView {
  id: string;
  targetUrl: string;
  operations: string[];
  description: string;
  format: string;
  signatures: string[];
  /** Only events of this workspace are sent; null: every workspace. */
  workspaceId: string | null;
  changedFields: string[];
  filter: string | null;
  ordering: string;
  /** Requests per second at most; null: no limit. */
  maxPerSecond: number | null;
  /** Several events per request; null: one event per request. */
  batch: BatchView | null;
  /** Only in the answer to the operation that made it. */
  secret: string | null;
  /** Until when the secret before the last rotation still signs; null outside an overlap. */
  previousSecretExpiresAt: string | null;
  /** Why deliveries to targetUrl will be refused (the SSRF guard), when that is known before connecting; else null. */
  targetRefusal: string | null;
  status: 'active' | 'disabled';
  disabledReason: string | null;
  source: WebhookSource;
  readOnly: boolean;
  createdAt: string;
  updatedAt: string;
}

export interface BatchView {
  maxEvents: number;
  maxBytes: number;
  /** A duration in milliseconds, such as `200ms`: the form the API and the CLI take it in. */
  linger: string;
}

export interface WebhookViewExtras {
  /** The clear secret, right after it was made. */
  secret?: string | null;
  targetRefusal?: string | null;
  now?: Date;
}

export function webhookView(row: WebhookRow, { secret = null, targetRefusal = null, now = new Date() }: WebhookViewExtras = {}): WebhookView {
  return {
    id: row.id,
    ...webhookFieldsOf(row),
    batch: row.batch == null ? null : { maxEvents: row.batch.maxEvents, maxBytes: row.batch.maxBytes, linger: `${row.batch.linger}ms` },
    workspaceId: row.workspaceId ?? null,
    secret,
    previousSecretExpiresAt: overlappingPreviousSecret(row, now)?.endsAt.toISOString() ?? null,
    targetRefusal,
    status: row.disabledReason === null ? 'active' : 'disabled',
    disabledReason: row.disabledReason,
    source: row.source,
    // Config-file webhooks are edited in the file, Twenty's in Twenty's settings.
    readOnly: row.source !== 'api',
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

export interface AttemptView {
  attempt: number;
  attemptedAt: string;
  status: number | null;
  error: string | null;
  durationMs: number | null;
}

export interface DeliveryView {
  id: string;
  eventId: string;
  webhookId: string;
  operation: string;
  state: string;
  attempts: number;
  lastStatus: number | null;
  lastError: string | null;
  lastDurationMs: number | null;
  deadReason: string | null;
  nextAttemptAt: string | null;
  createdAt: string;
  updatedAt: string;
  attemptHistory: AttemptView[];
}

export function deliveryView(row: DeliveryRow, attempts: readonly AttemptRow[]): DeliveryView {
  return {
    id: row.id,
    eventId: row.eventId,
    webhookId: row.webhookId,
    operation: row.operation,
    state: row.state,
    attempts: row.attempts,
    lastStatus: row.lastStatus,
    lastError: row.lastError,
    lastDurationMs: row.lastDurationMs,
    deadReason: row.deadReason,
    nextAttemptAt: row.nextAttemptAt?.toISOString() ?? null,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
    attemptHistory: attempts.map(({ attempt, attemptedAt, status, error, durationMs }) => ({
      attempt,
      attemptedAt: attemptedAt.toISOString(),
      status,
      error,
      durationMs,
    })),
  };
}

/** A streaming partition as the API shows it: its slot and which replica streams it, as this instance last read them. */
export interface PartitionView {
  index: number;
  slot: string;
  /** The replica holding its lease, or null while nobody does (expired, released, never taken). */
  streamedBy: string | null;
  /** The instance answering streams it. */
  streamedHere: boolean;
  /** Seconds since its lease was last renewed, by anyone. */
  secondsSinceRenewal: number;
  lagBytes: number | null;
  retainedWalBytes: number | null;
}

export function partitionView({ partition, slot, leading, lease, lagBytes, retainedWalBytes }: PartitionMetrics): PartitionView {
  return {
    index: partition,
    slot,
    streamedBy: lease.expired ? null : lease.holder,
    streamedHere: leading,
    secondsSinceRenewal: lease.secondsSinceRenewal,
    lagBytes,
    retainedWalBytes,
  };
}

export interface DeliveryPage {
  edges: { cursor: string; node: DeliveryView }[];
  nodes: DeliveryView[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}

/** Opaque to clients: base64url of the keyset position. */
export function encodeCursor(key: DeliveryKey): string {
  return Buffer.from(`${key.createdAtExact}|${key.id}`, 'utf8').toString('base64url');
}

const CURSOR = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6})\|([0-9a-f-]{36})$/;

export function decodeCursor(cursor: string): DeliveryKey {
  const match = CURSOR.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!match?.[1] || !match[2]) {
    throw badUserInput('after', 'not a cursor returned by deliveries (pageInfo.endCursor)');
  }
  return { createdAtExact: match[1], id: match[2] };
}
