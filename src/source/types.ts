/**
 * What the replication source hands to the rest of the pipeline: decoded,
 * plugin-independent messages. Values are PostgreSQL's own text output, so
 * pgoutput and wal2json yield identical changes and `events/` alone decides
 * how each type becomes JSON.
 */
import type { Lsn } from './lsn.js';
import type { ServerIdentity } from './server-identity.js';

export interface ColumnType {
  /** pg_type OID. */
  oid: number;
  /** Type name when the plugin told us (custom types, wal2json), else null. */
  name: string | null;
}

export interface TableColumn {
  name: string;
  type: ColumnType;
  /** Part of the replica identity (primary key or chosen index). */
  isKey: boolean;
}

export type ReplicaIdentity = 'default' | 'full' | 'nothing' | 'index';

export interface TableShape {
  schema: string;
  table: string;
  columns: TableColumn[];
  replicaIdentity: ReplicaIdentity;
}

/**
 * One row image: column name → PostgreSQL text output, `null` for SQL NULL,
 * or `undefined` for an unchanged TOAST value that the server did not send.
 * (wal2json writes booleans as JSON booleans, hence `boolean`.)
 */
export type RawTuple = Record<string, string | boolean | null | undefined>;

export interface RowChange {
  kind: 'insert' | 'update' | 'delete';
  table: TableShape;
  /** Row after the change (insert, update). */
  newRow: RawTuple | null;
  /** Row before the change: the full row with REPLICA IDENTITY FULL, else only key columns (or null). */
  oldRow: RawTuple | null;
}

export type SourceMessage =
  /** First message of every connection: the server whose WAL follows (event ids depend on it). */
  | { type: 'server'; server: ServerIdentity }
  | { type: 'begin'; commitLsn: Lsn; commitTime: string }
  /** `lsn` is the start of the change's own WAL record (shared only by the rows of one multi-insert). */
  | { type: 'change'; lsn: Lsn; change: RowChange }
  | { type: 'truncate'; tables: TableShape[] }
  /** `endLsn` is the end of the commit record: the position to confirm once the transaction is settled. */
  | { type: 'commit'; commitLsn: Lsn; endLsn: Lsn }
  /**
   * A logical decoding message (`pg_logical_emit_message`). Transactional ones arrive inside their
   * transaction, in commit order with the changes: walhook's backfill watermarks.
   */
  | { type: 'message'; prefix: string; content: string; transactional: boolean }
  /** Server keepalive: everything before `walEnd` has been sent. */
  | { type: 'keepalive'; walEnd: Lsn; replyRequested: boolean };
