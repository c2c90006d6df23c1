/**
 * The deliveries table: one typed function per SQL operation, each a named
 * prepared statement, batch variants taking arrays through unnest().
 * Only failures and overflow are written here; a 2xx on the fast path never
 * touches the database.
 */
import type { StateDb } from './db.js';

export type DeliveryState = 'pending' | 'retrying' | 'delivered' | 'dead';

export interface AttemptOutcome {
  attemptedAt: Date;
  status: number | null;
  error: string | null;
  durationMs: number;
}

export interface NewDelivery {
  id: string;
  webhookId: string;
  eventId: string;
  operation: string;
  body: string;
  state: DeliveryState;
  /** Attempts already made (0 when it overflowed before any attempt). */
  attempts: number;
  nextAttemptAt: Date | null;
  lastAttempt: AttemptOutcome | null;
  deadReason: string | null;
  commitLsn: string;
  commitTime: string;
  /** Set for a webhook with ordering `record`: the record's rows leave one at a time, in WAL order. */
  recordKey?: string | null;
  /** Start of the change's WAL record: orders the changes of one transaction. */
  changeLsn?: string | null;
}

/**
 * Which state a delivery that would wait takes, given its webhook as the
 * state table knows it (`webhook`: a row of WEBHOOK_STANDING, null when the
 * webhook is not in the table): a webhook that is disabled or gone will never
 * take it, so it becomes a dead letter with the reason instead of waiting
 * forever. `proposed` is the SQL of the state the caller asked for.
 */
function standing(proposed: { state: string; nextAttemptAt: string; deadReason: string }) {
  const setAside = `${proposed.state} IN ('pending', 'retrying') AND (webhook.id IS NULL OR webhook.disabled)`;
  return {
    state: `CASE WHEN ${setAside} THEN 'dead' ELSE ${proposed.state} END`,
    nextAttemptAt: `CASE WHEN ${setAside} THEN NULL ELSE ${proposed.nextAttemptAt} END`,
    deadReason: `CASE WHEN NOT (${setAside}) THEN ${proposed.deadReason}
                      WHEN webhook.id IS NULL THEN 'webhook_removed' ELSE 'webhook_disabled' END`,
  };
}

/**
 * The webhooks of `ids`, key-share locked: a webhook being deleted (whose
 * transaction holds its row) makes the statement wait, then count it as
 * gone, so no delivery row is left behind for a deleted webhook.
 */
const WEBHOOK_STANDING = (schema: string, ids: string) => `
  SELECT w.id, s.webhook_id IS NOT NULL AS disabled
    FROM ${schema}.webhooks w
    LEFT JOIN ${schema}.webhook_status s ON s.webhook_id = w.id AND s.disabled_at IS NOT NULL
   WHERE w.id IN (SELECT ${ids})
     FOR KEY SHARE OF w`;

/**
 * Stores deliveries for later attempts. A delivery already stored (the same
 * change streamed again after a crash) is left as it is. One for a webhook
 * disabled or removed meanwhile is stored as a dead letter (see `standing`).
 */
export async function insertDeliveries(db: StateDb, deliveries: NewDelivery[]): Promise<void> {
  if (deliveries.length === 0) return;
  const column = <T>(pick: (d: NewDelivery) => T) => deliveries.map(pick);
  const row = standing({ state: 'r.state', nextAttemptAt: 'r.next_attempt_at', deadReason: 'r.dead_reason' });
  await db.pool.query({
    name: 'walhook_insert_deliveries',
    text: `
      WITH incoming AS (
        SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::int[],
                             $8::timestamptz[], $9::int[], $10::text[], $11::int[], $12::text[], $13::pg_lsn[], $14::timestamptz[],
                             $15::timestamptz[], $16::text[], $17::pg_lsn[])
          AS r (id, webhook_id, event_id, operation, body, state, attempts, next_attempt_at, last_status, last_error,
                last_duration_ms, dead_reason, commit_lsn, commit_time, attempted_at, record_key, change_lsn)
      ), webhook AS (${WEBHOOK_STANDING(db.schema, 'webhook_id FROM incoming')}
      ), inserted AS (
        INSERT INTO ${db.schema}.deliveries
          (id, webhook_id, event_id, operation, body, state, attempts, next_attempt_at,
           last_status, last_error, last_duration_ms, dead_reason, commit_lsn, commit_time, record_key, change_lsn)
        SELECT r.id, r.webhook_id, r.event_id, r.operation, r.body, ${row.state}, r.attempts, ${row.nextAttemptAt},
               r.last_status, r.last_error, r.last_duration_ms, ${row.deadReason}, r.commit_lsn, r.commit_time,
               r.record_key, r.change_lsn
          FROM incoming r LEFT JOIN webhook ON webhook.id = r.webhook_id
        ON CONFLICT (id) DO NOTHING
        RETURNING id, attempts, last_status, last_error, last_duration_ms
      )
      INSERT INTO ${db.schema}.delivery_attempts (delivery_id, attempt, attempted_at, status, error, duration_ms)
      SELECT i.id, i.attempts, r.attempted_at, i.last_status, i.last_error, i.last_duration_ms
        FROM inserted i JOIN incoming r ON r.id = i.id
       WHERE i.attempts > 0`,
    values: [
      column((d) => d.id),
      column((d) => d.webhookId),
      column((d) => d.eventId),
      column((d) => d.operation),
      column((d) => d.body),
      column((d) => d.state),
      column((d) => d.attempts),
      column((d) => d.nextAttemptAt),
      column((d) => d.lastAttempt?.status ?? null),
      column((d) => d.lastAttempt?.error ?? null),
      column((d) => (d.lastAttempt ? Math.round(d.lastAttempt.durationMs) : null)),
      column((d) => d.deadReason),
      column((d) => d.commitLsn),
      column((d) => d.commitTime),
      column((d) => d.lastAttempt?.attemptedAt ?? null),
      column((d) => d.recordKey ?? null),
      column((d) => d.changeLsn ?? null),
    ],
  });
}

export interface ClaimedDelivery {
  id: string;
  webhookId: string;
  eventId: string;
  operation: string;
  body: string;
  attempts: number;
  commitTime: Date;
  commitLsn: string;
  /** Size of the body in bytes (UTF-8), as the memory budget counts it. */
  bytes: number;
  /** Set when its webhook orders by record (see `claimDueDeliveries`). */
  recordKey: string | null;
}

/** How many more deliveries one webhook's in-memory queue may take. */
export interface EndpointRoom {
  webhookId: string;
  room: number;
}

/**
 * Leases due deliveries, at most `room` per webhook (so a slow endpoint's
 * queue never holds more than its bound, nor rows whose lease runs out while
 * they wait in memory), `limit` in all and `maxBytes` of bodies in all (they
 * are held in memory until attempted), oldest due first. With `atLeastOne`
 * the oldest due row is taken even when it alone exceeds `maxBytes`, so a
 * large body is never stuck.
 *
 * A row with a record key (ordering `record`) is taken only as its record's
 * head: no earlier row of the record (by commit_lsn, change_lsn) still
 * waits, or is leased, so a record's rows leave one at a time, in order; a
 * dead letter no longer waits, so it releases the next. And only once the
 * stream has settled every change before it (commit_lsn below
 * `orderedThrough`, the slot's confirmed position): an earlier change of the
 * record still in memory, or streamed again after a crash, is then in the
 * table or delivered. Without `orderedThrough` (not streaming) none is taken.
 * SKIP LOCKED lets several instances share the
 * table; the lease brings a row back when the instance holding it dies.
 */
export async function claimDueDeliveries(
  db: StateDb,
  options: { rooms: EndpointRoom[]; limit: number; leaseMs: number; maxBytes: number; atLeastOne: boolean; orderedThrough: string | null },
): Promise<ClaimedDelivery[]> {
  const rooms = options.rooms.filter((entry) => entry.room > 0);
  if (rooms.length === 0 || options.limit <= 0 || (options.maxBytes <= 0 && !options.atLeastOne)) return [];
  const { rows } = await db.pool.query<ClaimedDelivery>({
    name: 'walhook_claim_due_deliveries',
    text: `
      WITH due AS (
             SELECT candidate.id, candidate.next_attempt_at, candidate.bytes
               FROM unnest($1::uuid[], $2::int[]) AS endpoint (webhook_id, room)
              CROSS JOIN LATERAL (
                    SELECT id, next_attempt_at, octet_length(body)::bigint AS bytes FROM ${db.schema}.deliveries d
                     WHERE webhook_id = endpoint.webhook_id
                       AND state IN ('pending', 'retrying') AND next_attempt_at <= now()
                       AND (lease_until IS NULL OR lease_until < now())
                       AND (record_key IS NULL
                            OR (commit_lsn < $7::pg_lsn
                                AND NOT EXISTS (
                                      SELECT FROM ${db.schema}.deliveries earlier
                                       WHERE earlier.webhook_id = d.webhook_id AND earlier.record_key = d.record_key
                                         AND earlier.state IN ('pending', 'retrying')
                                         AND (earlier.commit_lsn, earlier.change_lsn, earlier.id) < (d.commit_lsn, d.change_lsn, d.id))))
                     ORDER BY next_attempt_at
                     LIMIT endpoint.room
                       FOR UPDATE SKIP LOCKED) candidate
      ), ranked AS (
             SELECT id, row_number() OVER oldest AS position, sum(bytes) OVER oldest AS running_bytes
               FROM due
             WINDOW oldest AS (ORDER BY next_attempt_at, id ROWS UNBOUNDED PRECEDING)
      )
      UPDATE ${db.schema}.deliveries d
         SET lease_until = now() + $3 * interval '1 millisecond', updated_at = now()
        FROM ranked
       WHERE d.id = ranked.id
         AND ranked.position <= $4
         AND (ranked.running_bytes <= $5 OR (ranked.position = 1 AND $6))
   RETURNING d.id, d.webhook_id AS "webhookId", d.event_id AS "eventId", d.operation, d.body, d.attempts,
             d.commit_time AS "commitTime", d.commit_lsn::text AS "commitLsn", octet_length(d.body) AS bytes,
             d.record_key AS "recordKey"`,
    values: [
      rooms.map((entry) => entry.webhookId),
      // Each webhook's share is capped by the batch too, which bounds the rows locked at once.
      rooms.map((entry) => Math.min(entry.room, options.limit)),
      options.leaseMs,
      options.limit,
      Math.max(0, Math.floor(options.maxBytes)),
      options.atLeastOne,
      options.orderedThrough,
    ],
  });
  return rows;
}

/** The records with rows waiting in the table (ordering `record`): a new change of one of them must queue behind. */
export async function listWaitingRecords(db: StateDb): Promise<{ webhookId: string; recordKey: string }[]> {
  const { rows } = await db.pool.query<{ webhookId: string; recordKey: string }>({
    name: 'walhook_list_waiting_records',
    text: `SELECT DISTINCT webhook_id AS "webhookId", record_key AS "recordKey" FROM ${db.schema}.deliveries
            WHERE record_key IS NOT NULL AND state IN ('pending', 'retrying')`,
  });
  return rows;
}

/** Whether rows of this record still wait in the table. */
export async function recordIsWaiting(db: StateDb, webhookId: string, recordKey: string): Promise<boolean> {
  const { rows } = await db.pool.query({
    name: 'walhook_record_is_waiting',
    text: `SELECT FROM ${db.schema}.deliveries
            WHERE webhook_id = $1 AND record_key = $2 AND state IN ('pending', 'retrying') LIMIT 1`,
    values: [webhookId, recordKey],
  });
  return rows.length > 0;
}

export interface AttemptRecord extends AttemptOutcome {
  deliveryId: string;
  /** The attempt number just made (1 = first); for one not `counted`, the attempts made before it. */
  attempt: number;
  /**
   * Whether it counts toward the retry schedule and is kept in the attempt
   * history. A throttling answer (429/503) or a send held back does not: only
   * the row's last status and error show it.
   */
  counted: boolean;
  state: DeliveryState;
  nextAttemptAt: Date | null;
  deadReason: string | null;
}

/**
 * Records attempts made on stored deliveries and releases their leases. One
 * whose webhook was disabled or removed while it was attempted becomes a dead
 * letter rather than wait for it (see `standing`).
 */
export async function recordAttempts(db: StateDb, records: AttemptRecord[]): Promise<void> {
  if (records.length === 0) return;
  const column = <T>(pick: (r: AttemptRecord) => T) => records.map(pick);
  const row = standing({ state: 'r.state', nextAttemptAt: 'r.next_attempt_at', deadReason: 'r.dead_reason' });
  await db.pool.query({
    name: 'walhook_record_attempts',
    text: `
      WITH results AS (
        SELECT r.*, d.webhook_id
          FROM unnest($1::uuid[], $2::int[], $3::text[], $4::timestamptz[], $5::int[], $6::text[], $7::int[],
                      $8::timestamptz[], $9::text[], $10::boolean[])
            AS r (id, attempt, state, next_attempt_at, status, error, duration_ms, attempted_at, dead_reason, counted)
          JOIN ${db.schema}.deliveries d ON d.id = r.id
      ), webhook AS (${WEBHOOK_STANDING(db.schema, 'webhook_id FROM results')}
      ), updated AS (
        UPDATE ${db.schema}.deliveries d
           SET state = ${row.state}, attempts = r.attempt, next_attempt_at = ${row.nextAttemptAt}, lease_until = NULL,
               last_status = r.status, last_error = r.error, last_duration_ms = r.duration_ms,
               dead_reason = ${row.deadReason}, updated_at = now()
          FROM results r LEFT JOIN webhook ON webhook.id = r.webhook_id
         WHERE d.id = r.id
      )
      INSERT INTO ${db.schema}.delivery_attempts (delivery_id, attempt, attempted_at, status, error, duration_ms)
      SELECT id, attempt, attempted_at, status, error, duration_ms FROM results WHERE counted`,
    values: [
      column((r) => r.deliveryId),
      column((r) => r.attempt),
      column((r) => r.state),
      column((r) => r.nextAttemptAt),
      column((r) => r.status),
      column((r) => r.error),
      column((r) => Math.round(r.durationMs)),
      column((r) => r.attemptedAt),
      column((r) => r.deadReason),
      column((r) => r.counted),
    ],
  });
}

/** Gives leased rows of an instance that is shutting down back to the others at once. */
export async function releaseLeases(db: StateDb, deliveryIds: string[]): Promise<void> {
  if (deliveryIds.length === 0) return;
  await db.pool.query({
    name: 'walhook_release_leases',
    text: `UPDATE ${db.schema}.deliveries SET lease_until = NULL WHERE id = ANY($1::uuid[])`,
    values: [deliveryIds],
  });
}

export interface BacklogCount {
  webhookId: string;
  state: 'pending' | 'retrying' | 'dead';
  count: number;
}

/** Deliveries waiting in the table and dead letters, per webhook, for the retry-backlog gauge. */
export async function countBacklog(db: StateDb): Promise<BacklogCount[]> {
  const { rows } = await db.pool.query<BacklogCount>({
    name: 'walhook_count_backlog',
    text: `SELECT webhook_id AS "webhookId", state, count(*)::int AS count FROM ${db.schema}.deliveries
            WHERE state IN ('pending', 'retrying', 'dead') GROUP BY webhook_id, state`,
  });
  return rows;
}
