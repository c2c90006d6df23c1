/**
 * Healing the gap a lost slot leaves: the changes committed after the last
 * settled one were never streamed, and PostgreSQL has removed their WAL. A
 * recovery drops the lost slot, lets the source set-up recreate it and the
 * publications, and then requests backfills of the rows changed since the
 * last settled change (by the tables' timestamp column), which the leader's
 * runner sends beside the new slot's stream. A backfill sees rows, not
 * changes: the gap's deletes are gone, and the result says so.
 */
import type pg from 'pg';
import type { Logger } from '../common/log.js';
import { OperatorError } from '../common/operator-error.js';
import type { WalhookConfig } from '../config/schema.js';
import { mappingOptions } from '../events/setup.js';
import { objectName } from '../events/naming.js';
import { prepareSource } from '../source/prepare.js';
import { slotInfo, type TableInScope } from '../source/setup.js';
import { insertBackfill } from '../state/backfills.js';
import type { StateDb } from '../state/db.js';
import { readSettledPoint } from '../state/slot-progress.js';

export class RecoveryError extends OperatorError {
  override readonly name = 'RecoveryError';
  readonly code = 'RECOVERY';
}

/** A backfill a recovery requests: some tables of one object, changed since the gap began (no filter: in full). */
export interface PlannedBackfill {
  object: string;
  tables: string[];
  whereSql: string | null;
}

export interface RecoveryPlan {
  backfills: PlannedBackfill[];
  /** Tables without a usable timestamp column (`schema.table`): backfilled in full. */
  untimestamped: string[];
}

/** Column types a "changed since" comparison works on. */
const TIMESTAMP_TYPES = /^(timestamp|date)\b/;

const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`;

/**
 * Which backfills cover the gap that began at `since`: per object, its tables
 * with the timestamp column filtered on it, the others in full. In full
 * rather than skipped: a receiver then gets a row twice rather than never
 * (at least once), and the operator sees which tables cost that.
 */
export function planRecovery(tables: readonly TableInScope[], objectOf: (table: TableInScope) => string, timestampColumn: string, since: Date): RecoveryPlan {
  const whereSql = `${quoteIdent(timestampColumn)} >= '${since.toISOString()}'::timestamptz`;
  const groups = new Map<string, PlannedBackfill>();
  const untimestamped: string[] = [];
  for (const table of tables) {
    const name = `${table.schema}.${table.table}`;
    const column = table.columns.find((c) => c.name === timestampColumn);
    const usable = column !== undefined && TIMESTAMP_TYPES.test(column.type.name ?? '');
    if (!usable) untimestamped.push(name);
    const object = objectOf(table);
    const key = `${object}\n${usable}`;
    const group = groups.get(key) ?? { object, tables: [], whereSql: usable ? whereSql : null };
    group.tables.push(name);
    groups.set(key, group);
  }
  return { backfills: [...groups.values()], untimestamped };
}

export interface RecoveryResult {
  slot: string;
  /** What the slot was found as: lost, missing (dropped), or healthy (only with `force`). */
  slotWas: 'lost' | 'missing' | 'healthy';
  /** The commit time of the last settled change, and the start of the backfilled window (minus the safety margin). */
  lastSettled: string | null;
  since: string;
  backfills: { id: string; object: string; tables: string[]; where: string | null }[];
  untimestampedTables: string[];
  /** Why the gap's deletes cannot be sent, for the operator. */
  deletes: string;
}

export const GAP_DELETES =
  'rows deleted while the slot was lost cannot be recovered: a backfill sends rows that exist, and the WAL that recorded the deletes is gone. ' +
  'Receivers that must drop deleted records should compare their copy with the CRM';

export interface RecoverOptions {
  config: WalhookConfig;
  crm: pg.ClientBase;
  state: StateDb;
  logger: Logger;
  /** Start of the gap when walhook has no settled point (it never confirmed a change) or the operator knows better. */
  since?: Date;
  /** Recover a slot that is not lost (re-sending the window) — for a gap the slot did not notice, such as a restored receiver. */
  force?: boolean;
}

/** Drops the lost slot, recreates slot and publications, requests the gap's backfills; the leader's runner sends them. */
export async function recoverSlot({ config, crm, state, logger, since, force = false }: RecoverOptions): Promise<RecoveryResult> {
  const slot = config.source.slot;
  const info = await slotInfo(crm, slot);
  const slotWas = info === null ? 'missing' : info.wal_status === 'lost' ? 'lost' : 'healthy';
  if (slotWas === 'healthy' && !force) {
    throw new RecoveryError(`replication slot '${slot}' is not lost (wal_status ${info?.wal_status}): there is no gap to recover`, 'nothing to do; pass --force to backfill the window anyway');
  }
  if (info?.active_pid) {
    throw new RecoveryError(`replication slot '${slot}' is in use by process ${info.active_pid}`, 'stop the process reading it, then run walhook recover again');
  }
  const settled = await readSettledPoint(state, slot);
  const start = since ?? (settled ? new Date(settled.commitTime.getTime() - config.recovery.safetyMargin) : null);
  if (start === null) {
    throw new RecoveryError(
      `walhook has no record of a settled change on slot '${slot}', so the gap's start is unknown`,
      'pass --since with the time the slot fell behind (ISO 8601), or --since 1970-01-01 to backfill everything',
    );
  }
  if (slotWas === 'lost') {
    await crm.query('SELECT pg_drop_replication_slot($1)', [slot]);
    logger.warn({ slot }, 'lost replication slot dropped');
  }
  // Before any row is read: what is committed from here on reaches the new slot, what was committed before, the backfill.
  const { tables } = await prepareSource(crm, { ...config, source: { ...config.source, createSlot: true } }, logger);
  const mapping = mappingOptions(config);
  const plan = planRecovery(tables, (table) => objectName(table.schema, table.table, mapping), config.recovery.timestampColumn, start);
  const backfills: RecoveryResult['backfills'] = [];
  for (const planned of plan.backfills) {
    const row = await insertBackfill(state, { object: planned.object, webhookId: null, whereSql: planned.whereSql, rate: null, action: 'backfilled', onlyTables: planned.tables });
    backfills.push({ id: row.id, object: planned.object, tables: planned.tables, where: planned.whereSql });
  }
  const result: RecoveryResult = {
    slot,
    slotWas,
    lastSettled: settled?.commitTime.toISOString() ?? null,
    since: start.toISOString(),
    backfills,
    untimestampedTables: plan.untimestamped,
    deletes: GAP_DELETES,
  };
  logger.info({ slot, slotWas, since: result.since, backfills: backfills.map((b) => b.id) }, 'slot recreated; backfills of the gap requested');
  if (plan.untimestamped.length > 0) {
    logger.warn(
      { count: plan.untimestamped.length, tables: plan.untimestamped, timestampColumn: config.recovery.timestampColumn },
      `${plan.untimestamped.length} table(s) have no usable ${config.recovery.timestampColumn} column: they are backfilled in full`,
    );
  }
  logger.warn({ slot, since: result.since }, GAP_DELETES);
  return result;
}
