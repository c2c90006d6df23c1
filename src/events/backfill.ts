/**
 * A backfilled row → event: the same record and payload shape as a live
 * insert of that row, with the backfill's action and an id that depends only
 * on the backfill and the row's key, so a chunk sent again after a crash
 * carries the same ids.
 */
import { v5 as uuidV5 } from 'uuid';
import type { RawTuple, TableShape } from '../source/types.js';
import { EVENT_ID_NAMESPACE } from './event-id.js';
import { toChangeEvent, type ChangePosition, type MappingOptions } from './mapping.js';
import type { Action, ChangeEvent } from './types.js';
import type { TypeCatalog } from './values.js';

/** Id of the event of the row with `key` (see backfill/window.ts rowKey) of `schema.table` in backfill `backfillId`. */
export function backfillEventId(backfillId: string, schema: string, table: string, key: string): string {
  return uuidV5(`backfill/${backfillId}/${JSON.stringify([schema, table])}/${key}`, EVENT_ID_NAMESPACE);
}

export interface BackfilledRow {
  backfillId: string;
  action: Extract<Action, 'backfilled' | 'created'>;
  table: TableShape;
  row: RawTuple;
  key: string;
}

/** `position`: where the chunk was placed in the stream (its high watermark's transaction). */
export function toBackfillEvent(
  { backfillId, action, table, row, key }: BackfilledRow,
  position: ChangePosition,
  options: MappingOptions,
  catalog: TypeCatalog,
): ChangeEvent {
  const event = toChangeEvent({ kind: 'insert', table, newRow: row, oldRow: null }, position, options, catalog);
  return { ...event, id: backfillEventId(backfillId, table.schema, table.table, key), action, operation: `${event.object}.${action}` };
}
