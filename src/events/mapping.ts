/**
 * Row change → event: which object and action it is, and the record before
 * and after, as JSON. Pure: everything it needs comes in as arguments.
 */
import type { Lsn } from '../source/lsn.js';
import type { RawTuple, RowChange, TableColumn } from '../source/types.js';
import { objectName, workspaceIdOf, type NamingOptions } from './naming.js';
import type { Action } from '../common/operations.js';
import type { ChangeEvent, JsonRecord, JsonValue } from './types.js';
import { columnDecoders, decodeWith, type TextDecoder as ColumnDecoder, type TypeCatalog } from './values.js';

export type MappingOptions = NamingOptions & {
  /** Column whose setting/clearing is a delete/restore (Twenty: `deletedAt`); null when rows are only ever hard-deleted. */
  softDeleteColumn: string | null;
};

/** Where the change sits in the WAL, and the id that follows from it (see event-id). */
export interface ChangePosition {
  id: string;
  commitLsn: Lsn;
  /** Start of the change's own WAL record. */
  changeLsn: Lsn;
  commitLsnText: string;
  changeLsnText: string;
  /** ISO 8601 UTC. */
  commitTime: string;
  commitTimeMs: number;
}

/** A row and the columns it truly holds. */
export interface RowImage {
  /** Holds exactly the columns in `columns` (`undefined` for a value the server did not send). */
  row: RawTuple;
  columns: readonly TableColumn[];
}

/**
 * A change's object and action, from raw values only (cheap): enough to
 * count it and to know whether any webhook wants it before decoding it. It
 * keeps the row images it was decided from, so `classifiedToEvent` decodes
 * them without working them out again.
 */
export interface ClassifiedChange {
  readonly change: RowChange;
  readonly object: string;
  readonly action: Action;
  readonly before: RowImage | null;
  readonly after: RawTuple | null;
}

export function classifyChange(change: RowChange, options: MappingOptions): ClassifiedChange {
  const before = beforeImage(change);
  const after = change.newRow === null ? null : fillUnchangedToast(change.newRow, before, change.table.columns);
  return {
    change,
    object: objectName(change.table.schema, change.table.table, options),
    action: actionOf(change, before, after, options.softDeleteColumn),
    before,
    after,
  };
}

export function toChangeEvent(change: RowChange, position: ChangePosition, options: MappingOptions, catalog: TypeCatalog): ChangeEvent {
  return classifiedToEvent(classifyChange(change, options), position, options, catalog);
}

/** A change's rows as JSON, and which columns it updated; see `decodedRows`. */
export interface DecodedRows {
  record: JsonRecord;
  previousRecord: JsonRecord | null;
  updatedFields: string[] | null;
  /** Columns of `record` the server did not send. */
  unavailable: string[];
}

/**
 * The rows of a classified change decoded, all columns or (`only`) just
 * those: a filter that reads two columns pays for two. `updatedFields`
 * compares raw text, so it is whole either way.
 */
export function decodedRows(
  { change, before, after }: ClassifiedChange,
  catalog: TypeCatalog,
  only: ReadonlySet<string> | null = null,
): DecodedRows {
  const { kind, table } = change;
  const record = decodeRow(kind === 'delete' ? before : { row: after ?? {}, columns: table.columns }, catalog, only);
  return {
    record: record.values,
    previousRecord: kind === 'insert' ? null : decodeRow(before, catalog, only).values,
    updatedFields: kind === 'update' ? updatedFields(before, after ?? {}, table.columns) : null,
    unavailable: record.unavailable,
  };
}

/** The event of a classified change: its rows decoded, its id from its position. */
export function classifiedToEvent(classified: ClassifiedChange, position: ChangePosition, options: MappingOptions, catalog: TypeCatalog): ChangeEvent {
  const { change, object, action, before, after } = classified;
  const { kind, table } = change;
  const rows = decodedRows(classified, catalog);
  return {
    id: position.id,
    object,
    action,
    operation: `${object}.${action}`,
    workspaceId: workspaceIdOf(table.schema, options),
    schema: table.schema,
    table: table.table,
    record: rows.record,
    previousRecord: rows.previousRecord,
    updatedFields: rows.updatedFields,
    unavailableFields: rows.unavailable,
    recordKey: recordKeyOf(change, kind === 'delete' ? before?.row ?? null : after),
    commitLsn: position.commitLsn,
    commitLsnText: position.commitLsnText,
    changeLsn: position.changeLsn,
    changeLsnText: position.changeLsnText,
    commitTime: position.commitTime,
    commitTimeMs: position.commitTimeMs,
  };
}

/**
 * What is known of the row before the change. With REPLICA IDENTITY FULL,
 * every column. Otherwise PostgreSQL sends the identity (key) columns only,
 * and only when they changed; when it sends nothing the key is unchanged, so
 * the new row's key is the old one. Whatever else an old tuple carries is not
 * an old value (pgoutput sends nulls there), so it is dropped.
 */
function beforeImage({ kind, table, oldRow, newRow }: RowChange): RowImage | null {
  if (oldRow !== null && table.replicaIdentity === 'full') {
    return { row: pick(oldRow, table.columns), columns: table.columns };
  }
  const keySource = oldRow ?? (kind === 'update' ? newRow : null);
  if (keySource === null) return null;
  const keyColumns = keyColumnsOf(table.columns);
  return { row: pick(keySource, keyColumns), columns: keyColumns };
}

/**
 * The record a change is about: its table and primary key values as
 * PostgreSQL printed them (so equal keys give equal strings whatever their
 * type). With REPLICA IDENTITY FULL every column counts as identity, so the
 * key is then the `id` column (every Twenty table has one), when there is one.
 */
function recordKeyOf({ table }: RowChange, row: RawTuple | null): string | null {
  if (row === null) return null;
  const keyColumns =
    table.replicaIdentity === 'full' ? table.columns.filter((column) => column.name === 'id') : keyColumnsOf(table.columns);
  if (keyColumns.length === 0) return null;
  const values = keyColumns.map(({ name }) => own(row, name));
  if (values.some((value) => value === undefined || value === null)) return null;
  return JSON.stringify([table.schema, table.table, ...values]);
}

/** A table's key columns, kept per column list so that their decoders are resolved once too. */
const keyColumnsByTable = new WeakMap<readonly TableColumn[], readonly TableColumn[]>();

function keyColumnsOf(columns: readonly TableColumn[]): readonly TableColumn[] {
  let keys = keyColumnsByTable.get(columns);
  if (!keys) {
    keys = columns.filter((column) => column.isKey);
    keyColumnsByTable.set(columns, keys);
  }
  return keys;
}

function pick(row: RawTuple, columns: readonly TableColumn[]): RawTuple {
  return Object.fromEntries(columns.map(({ name }) => [name, own(row, name)]));
}

/**
 * An unchanged TOAST value arrives as `undefined` (or not at all). The old
 * image, when it has the column, holds that same value, since it did not change.
 */
function fillUnchangedToast(newRow: RawTuple, before: RowImage | null, columns: readonly TableColumn[]): RawTuple {
  if (before === null) return newRow;
  const filled: RawTuple = { ...newRow };
  for (const { name } of columns) {
    if (own(filled, name) === undefined) setOwn(filled, name, own(before.row, name));
  }
  return filled;
}

/**
 * With a soft-delete column, an update that sets it is a delete, one that
 * clears it a restore, and a DELETE is a `destroyed`. Without REPLICA IDENTITY
 * FULL the column's old value is unknown, so such updates stay `updated`
 * (limitation: the delete or restore shows only as a change of that column).
 * Tables without the column have only hard deletes, which stay `deleted`.
 */
function actionOf(
  { kind, table }: RowChange,
  before: RowImage | null,
  after: RawTuple | null,
  softDeleteColumn: string | null,
): Action {
  if (kind === 'insert') return 'created';
  const softDelete = table.columns.some((column) => column.name === softDeleteColumn) ? softDeleteColumn : null;
  if (kind === 'delete') return softDelete === null ? 'deleted' : 'destroyed';
  if (softDelete === null) return 'updated';
  const old = before?.row[softDelete];
  const current = after?.[softDelete];
  if (old === null && current !== null && current !== undefined) return 'deleted';
  if (old !== null && old !== undefined && current === null) return 'restored';
  return 'updated';
}

/** The image (or its `only` columns) as JSON, leaving out (and naming) the values the server did not send. */
function decodeRow(image: RowImage | null, catalog: TypeCatalog, only: ReadonlySet<string> | null): { values: JsonRecord; unavailable: string[] } {
  const values: JsonRecord = {};
  const unavailable: string[] = [];
  if (image === null) return { values, unavailable };
  const decoders = columnDecoders(image.columns, catalog);
  image.columns.forEach(({ name }, index) => {
    if (only !== null && !only.has(name)) return;
    const raw = own(image.row, name);
    if (raw === undefined) unavailable.push(name);
    else setOwn(values, name, decodeOrKeepText(raw, decoders[index]!));
  });
  return { values, unavailable };
}

/**
 * `record[name] = value` would call Object.prototype's `__proto__` setter for
 * a column of that name and lose it: that one is defined instead. Every other
 * inherited name is a writable data property, which assignment shadows with
 * an own one; assignment is what V8 makes fast, and this runs per value.
 */
function setOwn<T>(record: Record<string, T>, name: string, value: T): void {
  if (name === '__proto__') Object.defineProperty(record, name, { value, enumerable: true, writable: true, configurable: true });
  else record[name] = value;
}

/** `row[name]`, but never an inherited property (`__proto__`, `constructor`). */
function own(row: RawTuple, name: string): RawTuple[string] {
  return Object.hasOwn(row, name) ? row[name] : undefined;
}

/** A value PostgreSQL printed in a form the decoder does not expect is sent as that text, never dropped. */
function decodeOrKeepText(raw: string | boolean | null, decoder: ColumnDecoder): JsonValue {
  try {
    return decodeWith(decoder, raw);
  } catch {
    return raw;
  }
}

/**
 * Columns an update changed, in table order, compared as PostgreSQL printed
 * them (equal text, equal value); unchanged TOAST values are known not to
 * have changed. Null when the old row is not known (no REPLICA IDENTITY FULL:
 * PostgreSQL gives no before-image of non-key columns): what changed is then
 * unknown, and saying so beats listing every column as changed.
 */
function updatedFields(before: RowImage | null, after: RawTuple, columns: readonly TableColumn[]): string[] | null {
  if (before === null || before.columns !== columns) return null;
  return columns
    .filter(({ name }) => own(after, name) !== undefined && own(before.row, name) !== own(after, name))
    .map(({ name }) => name);
}
