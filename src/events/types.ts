/** The event a row change becomes: what webhooks are about. */
import type { Action } from '../common/operations.js';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonRecord = { [column: string]: JsonValue };

export interface ChangeEvent {
  /** Stable id derived from the WAL position (see event-id): the same change always gets the same id. */
  id: string;
  /** CRM object name in singular (`person`, `company`, custom `_pet` → `pet`). */
  object: string;
  action: Action;
  /** `${object}.${action}` */
  operation: string;
  /** Workspace the change belongs to, from the schema name; null when the schema carries none. */
  workspaceId: string | null;
  schema: string;
  table: string;
  /** Row after the change; for deletes, the row before it. */
  record: JsonRecord;
  /** Row before the change for updates and deletes (full with REPLICA IDENTITY FULL, else key only); null for inserts. */
  previousRecord: JsonRecord | null;
  /**
   * Columns (fields, with Twenty's shape) whose value changed, for updates;
   * null for other actions, and for updates whose old row is not known
   * (REPLICA IDENTITY DEFAULT): then what changed is unknown, not "everything".
   */
  updatedFields: string[] | null;
  /** Unchanged TOAST columns whose value the server did not send and no old image could fill: left out of `record`. */
  unavailableFields: string[];
  /**
   * Which record changed, as one string (schema, table and primary key, from
   * the row's text values): what per-record ordering groups by. Null when the
   * table has no key to tell its rows apart (REPLICA IDENTITY NOTHING, or FULL
   * without an `id` column).
   */
  recordKey: string | null;
  /** LSN of the transaction's commit record. */
  commitLsn: bigint;
  /** Start of the change's own WAL record. */
  changeLsn: bigint;
  /** commitLsn as PostgreSQL writes it (16/B374D848), formatted once per transaction. */
  commitLsnText: string;
  /** changeLsn as PostgreSQL writes it, formatted once per change. */
  changeLsnText: string;
  /** Commit time of the transaction, ISO 8601 UTC. */
  commitTime: string;
  /** The same in epoch milliseconds, parsed once per transaction. */
  commitTimeMs: number;
  /** Set when the record was shaped from Twenty's metadata: what Twenty's sender adds to its body. */
  twenty?: TwentyEventContext;
}

export interface TwentyEventContext {
  /** core."objectMetadata".id of the object. */
  objectMetadataId: string;
  /** The user behind the acting workspace member, when known. */
  userId?: string;
  /** The acting workspace member, from the row's createdBy / updatedBy actor. */
  workspaceMemberId?: string;
}
