/**
 * The webhooks table: one typed function per SQL operation, each a named
 * prepared statement. Functions that take part in a transaction take the
 * client running it (`sql`); secrets arrive and leave sealed (see
 * `secret-box.ts`), never in clear.
 *
 * Every change is announced with NOTIFY on WEBHOOKS_CHANNEL inside the
 * writing transaction, so that other instances hear of it exactly when it
 * commits.
 */
import type pg from 'pg';
import type { WebhookFields, WebhookSource } from '../common/webhook.js';
import type { StateDb } from './db.js';

/** A pool, or the client of a transaction. */
export type Sql = Pick<pg.ClientBase, 'query'>;

/** Shared by every walhook deployment on a server; the payload names the schema. */
export const WEBHOOKS_CHANNEL = 'walhook_webhooks';

export interface WebhookChangeNotice {
  schema: string;
  id: string;
}

export interface NewWebhookRow extends WebhookFields {
  id: string;
  source: WebhookSource;
  /** null for config-file webhooks, whose secret stays in the file. */
  secretSealed: string | null;
}

export interface WebhookRow extends NewWebhookRow {
  /** The secret before the last rotation, still signing until `previousSecretExpiresAt`. */
  previousSecretSealed: string | null;
  previousSecretExpiresAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
  /** Why it receives nothing (webhook_status), or null. */
  disabledReason: string | null;
  /** Since when its endpoint fails without a success (delivery.disableAfter), or null. */
  failingSince: Date | null;
}

/** The secret from before the last rotation while it still signs at `now`, with the end of its overlap. */
export function overlappingPreviousSecret(row: WebhookRow, now: Date): { sealed: string; endsAt: Date } | null {
  const { previousSecretSealed: sealed, previousSecretExpiresAt: endsAt } = row;
  return sealed !== null && endsAt !== null && endsAt > now ? { sealed, endsAt } : null;
}

const SELECT_WEBHOOK = (schema: string) => `
  SELECT w.id, w.target_url AS "targetUrl", w.operations, w.description, w.format, w.signatures, w.source,
         w.workspace_id AS "workspaceId", w.changed_fields AS "changedFields", w.filter, w.ordering,
         w.max_per_second AS "maxPerSecond", w.batch,
         w.secret_encrypted AS "secretSealed", w.previous_secret_encrypted AS "previousSecretSealed",
         w.previous_secret_expires_at AS "previousSecretExpiresAt", w.created_at AS "createdAt",
         w.updated_at AS "updatedAt", s.disabled_reason AS "disabledReason",
         w.failing_since AS "failingSince"
    FROM ${schema}.webhooks w
    LEFT JOIN ${schema}.webhook_status s ON s.webhook_id = w.id AND s.disabled_at IS NOT NULL`;

export async function listWebhooks(db: StateDb, sql: Sql = db.pool): Promise<WebhookRow[]> {
  const { rows } = await sql.query<WebhookRow>({
    name: 'walhook_list_webhooks',
    text: `${SELECT_WEBHOOK(db.schema)} ORDER BY w.created_at, w.id`,
  });
  return rows;
}

export async function findWebhook(db: StateDb, id: string, sql: Sql = db.pool): Promise<WebhookRow | undefined> {
  const { rows } = await sql.query<WebhookRow>({
    name: 'walhook_find_webhook',
    text: `${SELECT_WEBHOOK(db.schema)} WHERE w.id = $1`,
    values: [id],
  });
  return rows[0];
}

/** Reads a webhook and locks it until the transaction ends, so concurrent edits apply one after the other. */
export async function lockWebhook(db: StateDb, sql: Sql, id: string): Promise<WebhookRow | undefined> {
  const { rows } = await sql.query<WebhookRow>({
    name: 'walhook_lock_webhook',
    text: `${SELECT_WEBHOOK(db.schema)} WHERE w.id = $1 FOR UPDATE OF w`,
    values: [id],
  });
  return rows[0];
}

export async function countSealedSecrets(db: StateDb, sql: Sql = db.pool): Promise<number> {
  const { rows } = await sql.query<{ count: number }>({
    name: 'walhook_count_sealed_secrets',
    text: `SELECT count(*)::int AS count FROM ${db.schema}.webhooks WHERE secret_encrypted IS NOT NULL`,
  });
  return rows[0]?.count ?? 0;
}

export async function insertWebhook(db: StateDb, sql: Sql, row: NewWebhookRow): Promise<void> {
  await sql.query({
    name: 'walhook_insert_webhook',
    text: `INSERT INTO ${db.schema}.webhooks
             (id, target_url, operations, description, format, signatures, source, secret_encrypted, workspace_id, changed_fields, filter,
              ordering, max_per_second, batch)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
    values: [
      row.id,
      row.targetUrl,
      row.operations,
      row.description,
      row.format,
      row.signatures,
      row.source,
      row.secretSealed,
      row.workspaceId ?? null,
      row.changedFields ?? [],
      row.filter ?? null,
      row.ordering ?? 'none',
      row.maxPerSecond ?? null,
      batchJson(row),
    ],
  });
}

/** The jsonb text of a webhook's batch policy, or null (one event per request). */
function batchJson(fields: WebhookFields): string | null {
  return fields.batch == null ? null : JSON.stringify(fields.batch);
}

export async function updateWebhookFields(db: StateDb, sql: Sql, id: string, fields: WebhookFields): Promise<void> {
  await sql.query({
    name: 'walhook_update_webhook_fields',
    text: `UPDATE ${db.schema}.webhooks
              SET target_url = $2, operations = $3, description = $4, format = $5, signatures = $6, workspace_id = $7,
                  changed_fields = $8, filter = $9, ordering = $10, max_per_second = $11, batch = $12, updated_at = now()
            WHERE id = $1`,
    values: [
      id,
      fields.targetUrl,
      fields.operations,
      fields.description,
      fields.format,
      fields.signatures,
      fields.workspaceId ?? null,
      fields.changedFields ?? [],
      fields.filter ?? null,
      fields.ordering ?? 'none',
      fields.maxPerSecond ?? null,
      batchJson(fields),
    ],
  });
}

/** Puts a new secret in place; the current one becomes the previous one until `previousExpiresAt`. */
export async function rotateWebhookSecret(
  db: StateDb,
  sql: Sql,
  id: string,
  secretSealed: string,
  previousExpiresAt: Date,
): Promise<void> {
  await sql.query({
    name: 'walhook_rotate_webhook_secret',
    text: `UPDATE ${db.schema}.webhooks
              SET previous_secret_encrypted = secret_encrypted, previous_secret_expires_at = $3,
                  secret_encrypted = $2, updated_at = now()
            WHERE id = $1`,
    values: [id, secretSealed, previousExpiresAt],
  });
}

/** Removes the webhook and its disabled state; returns false when there was none. */
export async function deleteWebhook(db: StateDb, sql: Sql, id: string): Promise<boolean> {
  const { rowCount } = await sql.query({
    name: 'walhook_delete_webhook',
    text: `WITH status AS (DELETE FROM ${db.schema}.webhook_status WHERE webhook_id = $1)
           DELETE FROM ${db.schema}.webhooks WHERE id = $1`,
    values: [id],
  });
  return rowCount === 1;
}

/** Turns a waiting delivery into a dead letter with `reason`; its attempts so far are kept. */
const SET_ASIDE = (reason: 'webhook_disabled' | 'webhook_removed') =>
  `state = 'dead', dead_reason = '${reason}', next_attempt_at = NULL, lease_until = NULL, updated_at = now()`;

/**
 * Disables the webhook with `reason`, or enables it again when `reason` is
 * null. Disabling dead-letters what waits for it (reason `webhook_disabled`):
 * nothing would ever send those rows, and they stay visible and can be
 * redelivered once it is enabled again.
 */
export async function setWebhookDisabled(db: StateDb, sql: Sql, id: string, reason: string | null): Promise<void> {
  // Enabling also forgets when it began failing: it gets a whole delivery.disableAfter again.
  await sql.query({
    name: 'walhook_set_webhook_disabled',
    text: `WITH status AS (
             INSERT INTO ${db.schema}.webhook_status (webhook_id, disabled_at, disabled_reason)
             VALUES ($1, CASE WHEN $2::text IS NULL THEN NULL ELSE now() END, $2)
             ON CONFLICT (webhook_id) DO UPDATE SET disabled_at = excluded.disabled_at, disabled_reason = excluded.disabled_reason
           ), healthy AS (
             UPDATE ${db.schema}.webhooks SET failing_since = NULL WHERE $2::text IS NULL AND id = $1
           )
           UPDATE ${db.schema}.deliveries SET ${SET_ASIDE('webhook_disabled')}
            WHERE $2::text IS NOT NULL AND webhook_id = $1 AND state IN ('pending', 'retrying')`,
    values: [id, reason],
  });
}

/**
 * Marks the webhook failing from now unless it already is; returns since
 * when it fails (another instance, or this one before a restart, may have
 * marked it earlier), or null when the webhook is gone.
 */
export async function markWebhookFailing(db: StateDb, id: string): Promise<Date | null> {
  const { rows } = await db.pool.query<{ failingSince: Date }>({
    name: 'walhook_mark_webhook_failing',
    text: `UPDATE ${db.schema}.webhooks SET failing_since = COALESCE(failing_since, now()) WHERE id = $1 RETURNING failing_since AS "failingSince"`,
    values: [id],
  });
  return rows[0]?.failingSince ?? null;
}

/** The webhook's endpoint answered with a success: it is no longer failing. */
export async function clearWebhookFailing(db: StateDb, id: string): Promise<void> {
  await db.pool.query({
    name: 'walhook_clear_webhook_failing',
    text: `UPDATE ${db.schema}.webhooks SET failing_since = NULL WHERE id = $1 AND failing_since IS NOT NULL`,
    values: [id],
  });
}

/**
 * Writes read-only rows (the config file's webhooks, or the mirror of
 * Twenty's), leaving unchanged ones (and their updated_at) alone. Returns the
 * ids of the rows it changed.
 */
export async function upsertConfigWebhooks(db: StateDb, sql: Sql, rows: NewWebhookRow[], source: 'config' | 'twenty' = 'config'): Promise<string[]> {
  if (rows.length === 0) return [];
  const column = <T>(pick: (row: NewWebhookRow) => T) => rows.map(pick);
  // Arrays of arrays do not pass through unnest() as one value per row, so the lists travel as JSON.
  const { rows: changed } = await sql.query<{ id: string; inserted: boolean }>({
    name: 'walhook_upsert_config_webhooks',
    text: `
      INSERT INTO ${db.schema}.webhooks
             (id, target_url, operations, description, format, signatures, source, workspace_id, changed_fields, filter, ordering,
              max_per_second, batch)
      SELECT r.id, r.target_url, ARRAY(SELECT jsonb_array_elements_text(r.operations)), r.description, r.format,
             ARRAY(SELECT jsonb_array_elements_text(r.signatures)), $8::text, r.workspace_id,
             ARRAY(SELECT jsonb_array_elements_text(r.changed_fields)), r.filter, r.ordering, r.max_per_second, r.batch
        FROM unnest($1::uuid[], $2::text[], $3::jsonb[], $4::text[], $5::text[], $6::jsonb[], $7::text[], $9::jsonb[], $10::text[], $11::text[],
                    $12::float8[], $13::jsonb[])
          AS r (id, target_url, operations, description, format, signatures, workspace_id, changed_fields, filter, ordering, max_per_second,
                batch)
      ON CONFLICT (id) DO UPDATE
         SET target_url = excluded.target_url, operations = excluded.operations, description = excluded.description,
             format = excluded.format, signatures = excluded.signatures, workspace_id = excluded.workspace_id,
             changed_fields = excluded.changed_fields, filter = excluded.filter, ordering = excluded.ordering,
             max_per_second = excluded.max_per_second, batch = excluded.batch, updated_at = now()
       WHERE webhooks.source = $8::text
         AND (webhooks.target_url, webhooks.operations, webhooks.description, webhooks.format, webhooks.signatures, webhooks.workspace_id,
              webhooks.changed_fields, webhooks.filter, webhooks.ordering, webhooks.max_per_second, webhooks.batch)
             IS DISTINCT FROM (excluded.target_url, excluded.operations, excluded.description, excluded.format, excluded.signatures,
                               excluded.workspace_id, excluded.changed_fields, excluded.filter, excluded.ordering, excluded.max_per_second,
                               excluded.batch)
      RETURNING id, xmax = 0 AS inserted`,
    values: [
      column((row) => row.id),
      column((row) => row.targetUrl),
      column((row) => JSON.stringify(row.operations)),
      column((row) => row.description),
      column((row) => row.format),
      column((row) => JSON.stringify(row.signatures)),
      column((row) => row.workspaceId ?? null),
      source,
      column((row) => JSON.stringify(row.changedFields ?? [])),
      column((row) => row.filter ?? null),
      column((row) => row.ordering ?? 'none'),
      column((row) => row.maxPerSecond ?? null),
      column(batchJson),
    ],
  });
  return changed.filter((row) => !row.inserted).map((row) => row.id);
}

export interface RemovedConfigWebhook {
  id: string;
  /** Its waiting deliveries, now dead letters with reason `webhook_removed`. */
  setAside: number;
}

/**
 * Removes read-only rows of `source` gone from it (the config file, Twenty's
 * webhooks), with their disabled state.
 * Their waiting deliveries become dead letters (`webhook_removed`) rather
 * than wait forever for a webhook that no longer exists; should the entry
 * come back with the same id, they can be redelivered.
 */
export async function deleteConfigWebhooksExcept(
  db: StateDb,
  sql: Sql,
  keepIds: string[],
  source: 'config' | 'twenty' = 'config',
): Promise<RemovedConfigWebhook[]> {
  const { rows } = await sql.query<RemovedConfigWebhook>({
    name: 'walhook_delete_config_webhooks_except',
    text: `
      WITH removed AS (
        DELETE FROM ${db.schema}.webhooks WHERE source = $2 AND NOT (id = ANY($1::uuid[])) RETURNING id
      ), status AS (
        DELETE FROM ${db.schema}.webhook_status WHERE webhook_id IN (SELECT id FROM removed)
      ), set_aside AS (
        UPDATE ${db.schema}.deliveries SET ${SET_ASIDE('webhook_removed')}
         WHERE webhook_id IN (SELECT id FROM removed) AND state IN ('pending', 'retrying')
        RETURNING webhook_id
      )
      SELECT r.id, (SELECT count(*)::int FROM set_aside a WHERE a.webhook_id = r.id) AS "setAside" FROM removed r`,
    values: [keepIds, source],
  });
  return rows;
}

/** Tells every instance sharing the state database that the webhook changed; delivered at commit. */
export async function notifyWebhookChanged(db: StateDb, sql: Sql, id: string): Promise<void> {
  const notice: WebhookChangeNotice = { schema: db.schemaName, id };
  await sql.query({
    name: 'walhook_notify_webhook_changed',
    text: 'SELECT pg_notify($1, $2)',
    values: [WEBHOOKS_CHANNEL, JSON.stringify(notice)],
  });
}
