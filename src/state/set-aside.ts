/**
 * Changes set aside: a change for which no webhook body can be built (a value
 * nested too deep to serialise, a record beyond the longest string) would
 * otherwise stop the stream for good. It is recorded here with the reason and
 * what finds the row in the CRM, and the slot moves past it.
 */
import type { StateDb } from './db.js';

export interface SetAsideChange {
  eventId: string;
  schema: string;
  table: string;
  /** The row's key as far as the change tells it (`{"id": …}`), or null. */
  recordKey: Record<string, unknown> | null;
  operation: string;
  commitLsn: string;
  /** Start of the change's own WAL record. */
  changeLsn: string;
  commitTime: string;
  webhookIds: string[];
  reason: string;
  error: string;
}

/** Records `change`; the same change streamed again is recorded once. */
export async function insertSetAside(db: StateDb, change: SetAsideChange): Promise<void> {
  await db.pool.query(
    `INSERT INTO ${db.schema}.set_aside_changes
       (event_id, schema_name, table_name, record_key, operation, commit_lsn, change_lsn, commit_time, webhook_ids, reason, error)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
     ON CONFLICT (event_id) DO NOTHING`,
    [
      change.eventId,
      change.schema,
      change.table,
      change.recordKey === null ? null : JSON.stringify(change.recordKey),
      change.operation,
      change.commitLsn,
      change.changeLsn,
      change.commitTime,
      change.webhookIds,
      change.reason,
      change.error,
    ],
  );
}
