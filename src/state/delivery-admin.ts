/**
 * What operators do with stored deliveries: list them (newest first, keyset
 * pagination), read their attempts, send dead or delivered ones again. The
 * retry worker's own statements are in `deliveries.ts`.
 */
import type { StateDb } from './db.js';
import type { DeliveryState } from './deliveries.js';
import type { Sql } from './webhooks.js';

export interface DeliveryRow {
  id: string;
  eventId: string;
  webhookId: string;
  operation: string;
  state: DeliveryState;
  attempts: number;
  lastStatus: number | null;
  lastError: string | null;
  lastDurationMs: number | null;
  deadReason: string | null;
  nextAttemptAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
  /** created_at in UTC with every microsecond, for the keyset of the next page. */
  createdAtExact: string;
}

export interface AttemptRow {
  deliveryId: string;
  attempt: number;
  attemptedAt: Date;
  status: number | null;
  error: string | null;
  durationMs: number | null;
}

/** Where a page starts: after this delivery in newest-first order. */
export interface DeliveryKey {
  createdAtExact: string;
  id: string;
}

export interface DeliveryFilter {
  webhookId: string | null;
  state: DeliveryState | null;
  after: DeliveryKey | null;
  limit: number;
}

const DELIVERY_COLUMNS = `
  id, event_id AS "eventId", webhook_id AS "webhookId", operation, state, attempts, last_status AS "lastStatus",
  last_error AS "lastError", last_duration_ms AS "lastDurationMs", dead_reason AS "deadReason",
  next_attempt_at AS "nextAttemptAt", created_at AS "createdAt", updated_at AS "updatedAt",
  to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') AS "createdAtExact"`;

export async function listDeliveries(db: StateDb, filter: DeliveryFilter): Promise<DeliveryRow[]> {
  const { rows } = await db.pool.query<DeliveryRow>({
    name: 'walhook_list_deliveries',
    text: `
      SELECT ${DELIVERY_COLUMNS}
        FROM ${db.schema}.deliveries
       WHERE ($1::uuid IS NULL OR webhook_id = $1)
         AND ($2::text IS NULL OR state = $2)
         AND ($3::timestamp IS NULL OR (created_at, id) < ($3::timestamp AT TIME ZONE 'UTC', $4::uuid))
       ORDER BY created_at DESC, id DESC
       LIMIT $5`,
    values: [filter.webhookId, filter.state, filter.after?.createdAtExact ?? null, filter.after?.id ?? null, filter.limit],
  });
  return rows;
}

export async function listAttempts(db: StateDb, deliveryIds: string[]): Promise<AttemptRow[]> {
  if (deliveryIds.length === 0) return [];
  const { rows } = await db.pool.query<AttemptRow>({
    name: 'walhook_list_attempts',
    text: `
      SELECT delivery_id AS "deliveryId", attempt, attempted_at AS "attemptedAt", status, error, duration_ms AS "durationMs"
        FROM ${db.schema}.delivery_attempts
       WHERE delivery_id = ANY($1::uuid[])
       ORDER BY delivery_id, attempt, id`,
    values: [deliveryIds],
  });
  return rows;
}

/** Reads a delivery and locks it until the transaction ends. */
export async function lockDelivery(db: StateDb, sql: Sql, id: string): Promise<DeliveryRow | undefined> {
  const { rows } = await sql.query<DeliveryRow>({
    name: 'walhook_lock_delivery',
    text: `SELECT ${DELIVERY_COLUMNS} FROM ${db.schema}.deliveries WHERE id = $1 FOR UPDATE`,
    values: [id],
  });
  return rows[0];
}

const REQUEUE = `state = 'pending', next_attempt_at = now(), lease_until = NULL, dead_reason = NULL, updated_at = now()`;

/** Only a webhook that exists and is enabled takes deliveries: one requeued for another would wait forever. */
const TAKES_DELIVERIES = (schema: string) => `
  webhook_id IN (SELECT w.id FROM ${schema}.webhooks w
                  WHERE NOT EXISTS (SELECT 1 FROM ${schema}.webhook_status s WHERE s.webhook_id = w.id AND s.disabled_at IS NOT NULL))`;

/**
 * Makes a delivery due now; its attempts so far are kept. Returns undefined
 * when its webhook is disabled or no longer exists.
 */
export async function requeueDelivery(db: StateDb, sql: Sql, id: string): Promise<DeliveryRow | undefined> {
  const { rows } = await sql.query<DeliveryRow>({
    name: 'walhook_requeue_delivery',
    text: `UPDATE ${db.schema}.deliveries SET ${REQUEUE} WHERE id = $1 AND ${TAKES_DELIVERIES(db.schema)} RETURNING ${DELIVERY_COLUMNS}`,
    values: [id],
  });
  return rows[0];
}

/**
 * Makes the dead letters of one webhook (or of all when null) due now; returns
 * how many. Those of webhooks disabled or removed stay dead letters. With
 * `since`, only those dead-lettered (last changed) since then.
 */
export async function requeueDeadLetters(db: StateDb, webhookId: string | null, { sql = db.pool, since = null }: { sql?: Sql; since?: Date | null } = {}): Promise<number> {
  const { rowCount } = await sql.query({
    name: 'walhook_requeue_dead_letters',
    text: `UPDATE ${db.schema}.deliveries SET ${REQUEUE}
            WHERE state = 'dead' AND ($1::uuid IS NULL OR webhook_id = $1) AND ($2::timestamptz IS NULL OR updated_at >= $2)
              AND ${TAKES_DELIVERIES(db.schema)}`,
    values: [webhookId, since],
  });
  return rowCount ?? 0;
}

/** A deleted webhook's deliveries can never be sent; they go with it. */
export async function deleteDeliveriesOf(db: StateDb, sql: Sql, webhookId: string): Promise<void> {
  await sql.query({
    name: 'walhook_delete_deliveries_of',
    text: `DELETE FROM ${db.schema}.deliveries WHERE webhook_id = $1`,
    values: [webhookId],
  });
}
