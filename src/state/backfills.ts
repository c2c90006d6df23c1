/**
 * The backfills table: what an operator asked to backfill, its status and
 * its progress (a key cursor per table). Any instance writes requests
 * (API, CLI); the leader's runner (src/backfill/runner.ts) claims and runs
 * them and saves progress after each settled chunk.
 */
import { randomUUID } from 'node:crypto';
import type { StateDb } from './db.js';

export const BACKFILL_STATUSES = ['pending', 'running', 'paused', 'cancelled', 'done', 'failed'] as const;
export type BackfillStatus = (typeof BACKFILL_STATUSES)[number];

/** `backfilled` (default) or, for receivers that know only live actions, `created`. */
export type BackfillAction = 'backfilled' | 'created';

/** What an operator may ask of a backfill. */
export type BackfillCommand = 'pause' | 'resume' | 'cancel';

/**
 * The status lifecycle in one place: what each command does from each
 * status (undefined: not allowed). The runner alone moves pending → running
 * and running → done | failed.
 */
const COMMANDS: Record<BackfillCommand, Partial<Record<BackfillStatus, BackfillStatus>>> = {
  pause: { pending: 'paused', running: 'paused', paused: 'paused' },
  // A resumed backfill waits to be claimed again; its cursor says where it continues.
  resume: { paused: 'pending', pending: 'pending', running: 'running', failed: 'pending' },
  cancel: { pending: 'cancelled', running: 'cancelled', paused: 'cancelled', failed: 'cancelled', cancelled: 'cancelled' },
};

/** The status after `command`, or null when `command` makes no sense from `status`. */
export function statusAfter(status: BackfillStatus, command: BackfillCommand): BackfillStatus | null {
  return COMMANDS[command][status] ?? null;
}

export function isFinished(status: BackfillStatus): boolean {
  return status === 'cancelled' || status === 'done';
}

export interface BackfillTable {
  schema: string;
  table: string;
  /** Rows matching the filter when the backfill started. */
  total: number;
}

export interface BackfillRequest {
  object: string;
  webhookId: string | null;
  whereSql: string | null;
  /** Rows per second at most; null: as fast as delivery takes them. */
  rate: number | null;
  action: BackfillAction;
  /** Only these of the object's tables (`schema.table`); null: all of them (a recovery splits an object by its timestamp column). */
  onlyTables?: string[] | null;
}

export interface BackfillRow extends BackfillRequest {
  id: string;
  status: BackfillStatus;
  /** Fixed when the runner first claims it; null before. */
  tables: BackfillTable[] | null;
  tableIndex: number;
  /** Key (text of each primary-key column) of the last row done in `tables[tableIndex]`; null: from its start. */
  cursor: string[] | null;
  rowsTotal: number | null;
  rowsRead: number;
  rowsSent: number;
  /** Rows not sent because the live stream changed them while their chunk was read (the live event stands). */
  rowsSuperseded: number;
  chunks: number;
  error: string | null;
  createdAt: Date;
  updatedAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
}

interface Row {
  id: string;
  object: string;
  webhook_id: string | null;
  where_sql: string | null;
  rate: number | null;
  action: BackfillAction;
  only_tables: string[] | null;
  status: BackfillStatus;
  tables: BackfillTable[] | null;
  table_index: number;
  cursor: string[] | null;
  rows_total: string | null;
  rows_read: string;
  rows_sent: string;
  rows_superseded: string;
  chunks: number;
  error: string | null;
  created_at: Date;
  updated_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
}

function fromRow(row: Row): BackfillRow {
  return {
    id: row.id,
    object: row.object,
    webhookId: row.webhook_id,
    whereSql: row.where_sql,
    rate: row.rate,
    action: row.action,
    onlyTables: row.only_tables,
    status: row.status,
    tables: row.tables,
    tableIndex: row.table_index,
    cursor: row.cursor,
    rowsTotal: row.rows_total === null ? null : Number(row.rows_total),
    rowsRead: Number(row.rows_read),
    rowsSent: Number(row.rows_sent),
    rowsSuperseded: Number(row.rows_superseded),
    chunks: row.chunks,
    error: row.error,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
  };
}

export async function insertBackfill(db: StateDb, request: BackfillRequest): Promise<BackfillRow> {
  const { rows } = await db.pool.query<Row>(
    `INSERT INTO ${db.schema}.backfills (id, object, webhook_id, where_sql, rate, action, only_tables, status)
     VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending') RETURNING *`,
    [randomUUID(), request.object, request.webhookId, request.whereSql, request.rate, request.action, request.onlyTables ? JSON.stringify(request.onlyTables) : null],
  );
  return fromRow(rows[0]!);
}

export async function getBackfill(db: StateDb, id: string): Promise<BackfillRow | null> {
  const { rows } = await db.pool.query<Row>(`SELECT * FROM ${db.schema}.backfills WHERE id = $1`, [id]);
  return rows[0] ? fromRow(rows[0]) : null;
}

export async function listBackfills(db: StateDb, limit = 100): Promise<BackfillRow[]> {
  const { rows } = await db.pool.query<Row>(`SELECT * FROM ${db.schema}.backfills ORDER BY created_at DESC, id LIMIT $1`, [limit]);
  return rows.map(fromRow);
}

/**
 * Applies an operator's command under a row lock; returns the row after it,
 * `null` when there is no such backfill, or the row unchanged with `refused`
 * when the command makes no sense from its status.
 */
export async function commandBackfill(
  db: StateDb,
  id: string,
  command: BackfillCommand,
): Promise<{ row: BackfillRow; refused: boolean } | null> {
  const client = await db.pool.connect();
  try {
    await client.query('BEGIN');
    const { rows } = await client.query<Row>(`SELECT * FROM ${db.schema}.backfills WHERE id = $1 FOR UPDATE`, [id]);
    const current = rows[0] ? fromRow(rows[0]) : null;
    const next = current && statusAfter(current.status, command);
    if (!current || next === null) {
      await client.query('ROLLBACK');
      return current && { row: current, refused: true };
    }
    const { rows: updated } = await client.query<Row>(
      `UPDATE ${db.schema}.backfills
          SET status = $2, updated_at = now(), error = CASE WHEN $2 = 'pending' THEN NULL ELSE error END,
              finished_at = CASE WHEN $2 = 'cancelled' THEN now() ELSE finished_at END
        WHERE id = $1 RETURNING *`,
      [id, next],
    );
    await client.query('COMMIT');
    return { row: fromRow(updated[0]!), refused: false };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/** The runner's next work: a backfill it was running (a restart), else the oldest pending one, marked running. */
export async function claimBackfill(db: StateDb): Promise<BackfillRow | null> {
  const { rows } = await db.pool.query<Row>(
    `UPDATE ${db.schema}.backfills SET status = 'running', updated_at = now(), started_at = coalesce(started_at, now())
      WHERE id = (SELECT id FROM ${db.schema}.backfills WHERE status IN ('pending', 'running')
                   ORDER BY status = 'running' DESC, created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
      RETURNING *`,
  );
  return rows[0] ? fromRow(rows[0]) : null;
}

/** The tables (and their totals) a claimed backfill covers, fixed once. */
export async function setBackfillTables(db: StateDb, id: string, tables: BackfillTable[]): Promise<void> {
  await db.pool.query(`UPDATE ${db.schema}.backfills SET tables = $2, rows_total = $3, updated_at = now() WHERE id = $1`, [
    id,
    JSON.stringify(tables),
    tables.reduce((sum, table) => sum + table.total, 0),
  ]);
}

export interface ChunkProgress {
  tableIndex: number;
  cursor: string[] | null;
  read: number;
  sent: number;
  superseded: number;
  /** The last chunk of the last table: the backfill is done (unless an operator stopped it meanwhile). */
  finished: boolean;
}

/** Saves a settled chunk's progress; returns the status after it. */
export async function saveChunkProgress(db: StateDb, id: string, progress: ChunkProgress): Promise<BackfillStatus | null> {
  const { rows } = await db.pool.query<{ status: BackfillStatus }>(
    `UPDATE ${db.schema}.backfills
        SET table_index = $2, cursor = $3, rows_read = rows_read + $4, rows_sent = rows_sent + $5,
            rows_superseded = rows_superseded + $6, chunks = chunks + 1, updated_at = now(),
            status = CASE WHEN $7 AND status = 'running' THEN 'done' ELSE status END,
            finished_at = CASE WHEN $7 AND status = 'running' THEN now() ELSE finished_at END
      WHERE id = $1 RETURNING status`,
    [id, progress.tableIndex, progress.cursor === null ? null : JSON.stringify(progress.cursor), progress.read, progress.sent, progress.superseded, progress.finished],
  );
  return rows[0]?.status ?? null;
}

export async function failBackfill(db: StateDb, id: string, error: string): Promise<void> {
  await db.pool.query(
    `UPDATE ${db.schema}.backfills SET status = 'failed', error = $2, updated_at = now() WHERE id = $1 AND status = 'running'`,
    [id, error],
  );
}

export async function backfillStatus(db: StateDb, id: string): Promise<BackfillStatus | null> {
  const { rows } = await db.pool.query<{ status: BackfillStatus }>(`SELECT status FROM ${db.schema}.backfills WHERE id = $1`, [id]);
  return rows[0]?.status ?? null;
}

export interface BackfillProgress {
  id: string;
  object: string;
  rowsRead: number;
  rowsSent: number;
  rowsSuperseded: number;
  rowsTotal: number;
  /** Seconds left at the rate since this run of it started; null before a rate is known. */
  etaSeconds: number | null;
}

/** Metrics' view of backfills. */
export interface BackfillObserver {
  backfillProgress(progress: BackfillProgress): void;
  backfillEnded(id: string): void;
}
