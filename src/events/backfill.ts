/**
 * A backfilled row → event: the same record and payload shape as a live
 * insert of that row, with the backfill's action and an id that depends only
 * on the backfill and the row's key, so a chunk sent again after a crash
 * carries the same ids.
 */
import { formatLsn, type Lsn } from '../source/lsn.js';
import type { RawTuple, TableShape } from '../source/types.js';
import { namedEventId } from './event-id.js';
import { toChangeEvent, type MappingOptions } from './mapping.js';
import type { Action } from '../common/operations.js';
import type { ChangeEvent } from './types.js';
import type { TypeCatalog } from './values.js';

/** Id of the event of the row with `key` (see backfill/window.ts rowKey) of `schema.table` in backfill `backfillId`. */
export function backfillEventId(backfillId: string, schema: string, table: string, key: string): string {
  return namedEventId(`backfill/${backfillId}/${JSON.stringify([schema, table])}/${key}`);
}

export interface BackfilledRow {
  backfillId: string;
  action: Extract<Action, 'backfilled' | 'created'>;
  table: TableShape;
  row: RawTuple;
  key: string;
}

/** Where a chunk was placed in the stream: its high watermark's transaction. */
export interface ChunkPlace {
  commitLsn: Lsn;
  commitTime: string;
}

/** The event's `changeLsn` is the high watermark's commit: the place in the WAL the row was sent from. */
export function toBackfillEvent(
  { backfillId, action, table, row, key }: BackfilledRow,
  place: ChunkPlace,
  options: MappingOptions,
  catalog: TypeCatalog,
): ChangeEvent {
  const placeText = formatLsn(place.commitLsn);
  const position = {
    id: backfillEventId(backfillId, table.schema, table.table, key),
    commitLsn: place.commitLsn,
    commitLsnText: placeText,
    changeLsn: place.commitLsn,
    changeLsnText: placeText,
    commitTime: place.commitTime,
    commitTimeMs: Date.parse(place.commitTime),
  };
  const event = toChangeEvent({ kind: 'insert', table, newRow: row, oldRow: null }, position, options, catalog);
  return { ...event, action, operation: `${event.object}.${action}` };
}
