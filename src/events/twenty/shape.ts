/**
 * A change event's records shaped as Twenty's server shapes them, and
 * Twenty's event rules. Pure: the metadata comes in as an argument.
 *
 * From twentyhq/twenty (packages/twenty-server):
 * - records are nested by field (`name: {firstName, lastName}`), columns
 *   without field metadata are not sent, a MANY_TO_ONE relation is sent as
 *   its join column (`companyId`); timestamps are JS Dates (milliseconds);
 *   numeric composite properties are numbers.
 * - `updatedFields` (engine/core-modules/event-emitter/utils/
 *   object-record-changed-values.ts): the keys of the new record whose value
 *   is not deep-equal to the old one, leaving out `updatedAt`, `searchVector`
 *   and relation fields. The join column is a key of its own there (no field
 *   metadata of that name), so a changed `companyId` is listed, as here.
 * - only `updated` events carry `updatedFields`; an update that changes
 *   nothing emits no event.
 * - `webhook` records never carry their `secret`
 *   (utils/remove-secret-from-webhook-record.ts).
 */
import { isDeepStrictEqual } from 'node:util';
import type { ChangeEvent, JsonRecord, JsonValue, TwentyEventContext } from '../types.js';
import type { TwentyField, TwentyMetadata, TwentyObject } from './metadata.js';

/** Keys never listed in updatedFields (Twenty's objectRecordChangedValues). */
const NOT_UPDATED_FIELDS = new Set(['updatedAt', 'searchVector']);

/** `2024-03-04T10:30:00.123456Z` → `2024-03-04T10:30:00.123Z`, as a JS Date prints it. */
function toMilliseconds(value: JsonValue): JsonValue {
  if (typeof value !== 'string') return value;
  const match = /^(.*T\d{2}:\d{2}:\d{2}\.\d{3})\d{3}(Z?)$/.exec(value);
  return match ? `${match[1]}${match[2]}` : value;
}

function toNumber(value: JsonValue): JsonValue {
  if (typeof value !== 'string') return value;
  const number = Number(value);
  return Number.isFinite(number) ? number : value;
}

function fieldValue(field: TwentyField, flat: JsonRecord): JsonValue | undefined {
  const [first] = field.columns;
  if (first === undefined) return undefined;
  if (first.property === null) {
    if (!Object.hasOwn(flat, first.column)) return undefined;
    const value = flat[first.column]!;
    return field.type === 'DATE_TIME' ? toMilliseconds(value) : value;
  }
  const nested: JsonRecord = {};
  let present = false;
  for (const { column, property, asNumber } of field.columns) {
    if (!Object.hasOwn(flat, column)) continue;
    present = true;
    const value = flat[column]!;
    nested[property!] = asNumber ? toNumber(value) : value;
  }
  return present ? nested : undefined;
}

/** The record nested by field, in table column order; columns without field metadata are left out. */
export function shapeRecord(object: TwentyObject, flat: JsonRecord): JsonRecord {
  const shaped: JsonRecord = {};
  const done = new Set<TwentyField>();
  for (const column of Object.keys(flat)) {
    const field = object.fieldOfColumn.get(column);
    if (field === undefined || done.has(field)) continue;
    done.add(field);
    const value = fieldValue(field, flat);
    // A relation is sent under its join column's name (`companyId`), as Twenty's records hold it.
    if (value !== undefined) shaped[field.isRelation ? column : field.name] = value;
  }
  return shaped;
}

/** Twenty's updatedFields: the record keys whose value changed, by deep equality. */
export function twentyUpdatedFields(object: TwentyObject, before: JsonRecord, after: JsonRecord): string[] {
  return Object.keys(after).filter((key) => {
    if (NOT_UPDATED_FIELDS.has(key)) return false;
    const field = object.fieldByName.get(key);
    if (field?.isRelation) return false;
    return !isDeepStrictEqual(before[key], after[key]);
  });
}

/** Field names of the columns the server did not send. */
function unavailableFieldNames(object: TwentyObject, columns: readonly string[]): string[] {
  const names = new Set<string>();
  for (const column of columns) {
    const field = object.fieldOfColumn.get(column);
    if (field) names.add(field.isRelation ? column : field.name);
  }
  return [...names];
}

function actorMemberId(record: JsonRecord, field: 'createdBy' | 'updatedBy'): string | undefined {
  const actor = record[field];
  if (actor === null || typeof actor !== 'object' || Array.isArray(actor)) return undefined;
  const id = actor.workspaceMemberId;
  return typeof id === 'string' && id !== '' ? id : undefined;
}

/** Who made the change, as far as the row tells: the creator of a new row, the last editor of a changed one. */
function actorOf(
  event: ChangeEvent,
  record: JsonRecord,
  metadata: TwentyMetadata,
  workspaceId: string,
): Omit<TwentyEventContext, 'objectMetadataId'> {
  const memberId =
    event.action === 'created' ? actorMemberId(record, 'createdBy') : event.action === 'destroyed' ? undefined : actorMemberId(record, 'updatedBy');
  if (memberId === undefined) return {};
  const userId = metadata.userIdOf(workspaceId, memberId);
  return { ...(userId !== undefined && { userId }), workspaceMemberId: memberId };
}

/** The Twenty object a table holds, and its workspace: known from the metadata without decoding a row. */
export interface TwentyTarget {
  object: TwentyObject;
  workspaceId: string;
}

/** Where a change of `schema.table` goes in Twenty's terms; null for tables Twenty has no metadata for. */
export function twentyTargetOf(metadata: TwentyMetadata, schema: string, table: string, workspaceId: string | null): TwentyTarget | null {
  const workspace = metadata.workspaceOf(schema) ?? workspaceId;
  const object = workspace === null ? undefined : metadata.object(workspace, table);
  return object === undefined || workspace === null ? null : { object, workspaceId: workspace };
}

/** The columns holding these record keys (`name` → its composite's columns, `companyId` → itself); unknown keys hold none. */
export function columnsOfKeys(object: TwentyObject, keys: Iterable<string>): Set<string> {
  const columns = new Set<string>();
  for (const key of keys) {
    const field = object.fieldByName.get(key);
    if (field !== undefined && !field.isRelation) field.columns.forEach(({ column }) => columns.add(column));
    else if (object.fieldOfColumn.get(key)?.isRelation) columns.add(key);
  }
  return columns;
}

/** Flat decoded rows, and what a change's update listed. */
interface FlatRows {
  record: JsonRecord;
  previousRecord: JsonRecord | null;
  updatedFields: string[] | null;
}

/**
 * The rows nested as Twenty's records, with Twenty's updatedFields (empty
 * when no sent field changed); of all columns or of some, alike.
 * `updatedFields` stays null where the old row is not known (REPLICA
 * IDENTITY DEFAULT): unknown, never guessed.
 */
export function shapeTwentyRows(object: TwentyObject, action: string, rows: FlatRows): FlatRows {
  const record = shapeRecord(object, rows.record);
  const previousRecord = rows.previousRecord === null ? null : shapeRecord(object, rows.previousRecord);
  const knowsChanges = action === 'updated' && rows.updatedFields !== null && previousRecord !== null;
  return { record, previousRecord, updatedFields: knowsChanges ? twentyUpdatedFields(object, previousRecord, record) : null };
}

/**
 * The event as Twenty would have emitted it, or null when Twenty emits none
 * (an update that changes no sent field). Tables Twenty has no metadata for
 * are left as they are.
 */
export function shapeTwentyEvent(event: ChangeEvent, metadata: TwentyMetadata): ChangeEvent | null {
  const target = twentyTargetOf(metadata, event.schema, event.table, event.workspaceId);
  return target === null ? event : shapeForTarget(event, target, metadata);
}

/** `shapeTwentyEvent` with the target already known. */
export function shapeForTarget(event: ChangeEvent, { object, workspaceId }: TwentyTarget, metadata: TwentyMetadata): ChangeEvent | null {
  const { record, previousRecord, updatedFields } = shapeTwentyRows(object, event.action, event);
  if (updatedFields?.length === 0) return null;
  return {
    ...event,
    object: object.nameSingular,
    operation: `${object.nameSingular}.${event.action}`,
    workspaceId,
    record,
    previousRecord,
    updatedFields,
    unavailableFields: unavailableFieldNames(object, event.unavailableFields),
    twenty: { objectMetadataId: object.id, ...actorOf(event, record, metadata, workspaceId) },
  };
}

/** Twenty never sends a webhook's secret, whatever the shape: neither does walhook. */
export function withoutWebhookSecret(event: ChangeEvent): ChangeEvent {
  if (event.object !== 'webhook') return event;
  const strip = (record: JsonRecord | null): JsonRecord | null => {
    if (record === null || !Object.hasOwn(record, 'secret')) return record;
    const { secret: _secret, ...rest } = record;
    return rest;
  };
  return { ...event, record: strip(event.record)!, previousRecord: strip(event.previousRecord) };
}

/**
 * The last step of every event before routing: no webhook secret, and with
 * Twenty's metadata (null: `columns` shape) Twenty's shape and rules. Null
 * when no event is to be sent.
 */
export function finishEvent(event: ChangeEvent, metadata: TwentyMetadata | null): ChangeEvent | null {
  const shaped = metadata === null ? event : shapeTwentyEvent(event, metadata);
  return shaped === null ? null : withoutWebhookSecret(shaped);
}
