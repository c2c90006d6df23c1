/**
 * wal2json (format version 2) messages → SourceMessage, matching what the
 * pgoutput decoder yields for the same changes. Numbers are parsed losslessly
 * and kept as PostgreSQL text (wal2json writes int8 and numeric unquoted).
 */
import { parse as parseLosslessJson } from 'lossless-json';
import { Wal2JsonPlugin } from 'pg-logical-replication';
import { parseLsn } from './lsn.js';
import type { CatalogColumn, TableInScope } from './setup.js';
import type { RawTuple, ReplicaIdentity, RowChange, SourceMessage, TableColumn, TableShape } from './types.js';

interface Wal2JsonColumn {
  name: string;
  type: string;
  typeoid: number | string;
  position: number | string;
  value: string | boolean | null;
}

interface Wal2JsonMessage {
  action: 'B' | 'C' | 'I' | 'U' | 'D' | 'T' | 'M';
  lsn?: string;
  nextlsn?: string;
  timestamp?: string;
  schema?: string;
  table?: string;
  columns?: Wal2JsonColumn[];
  identity?: Wal2JsonColumn[];
  pk?: { name: string }[];
  /** Logical decoding messages ('M'). */
  transactional?: boolean;
  prefix?: string;
  content?: string;
}

/** `${schema}.${table}` with wal2json's escaping of special characters. */
export function wal2jsonTableFilter(tables: { schema: string; table: string }[]): string {
  const escape = (name: string) => name.replace(/[\\ ',.*]/g, (c) => `\\${c}`);
  return tables.map(({ schema, table }) => `${escape(schema)}.${escape(table)}`).join(',');
}

export function createWal2JsonPlugin(tables: { schema: string; table: string }[]): Wal2JsonPlugin {
  // wal2json 2.5 (Debian's) has no numeric-data-types-as-string, hence the lossless parse below.
  const plugin = new Wal2JsonPlugin({
    formatVersion: '2',
    includeLsn: true,
    includeTimestamp: true,
    includeTypeOids: true,
    includeColumnPositions: true,
    includePk: true,
    includeTransaction: true,
    // The library puts option values in a single-quoted literal of START_REPLICATION, where a quote is doubled.
    addTables: wal2jsonTableFilter(tables).replace(/'/g, "''"),
  });
  plugin.parse = (buffer: Buffer) => parseLosslessJson(buffer.toString('utf8'), null, (text) => text);
  return plugin;
}

/** The table as the catalog knows it: wal2json messages name only the columns they carry. */
export type TableLookup = (schema: string, table: string) => TableInScope | undefined;

export class Wal2JsonDecoder {
  /** `decodeCommitTime` decodes the commit-time text like any timestamptz value, in `events/`. */
  constructor(
    private readonly decodeCommitTime: (text: string) => string,
    private readonly lookup: TableLookup,
  ) {}

  private shapeOf(message: Wal2JsonMessage): TableShape {
    return shapeOf(message, this.lookup(field(message, 'schema'), field(message, 'table')));
  }

  decode(message: Wal2JsonMessage): SourceMessage | null {
    switch (message.action) {
      case 'B':
        return {
          type: 'begin',
          commitLsn: parseLsn(field(message, 'lsn')),
          commitTime: this.decodeCommitTime(field(message, 'timestamp')),
        };
      case 'C':
        return { type: 'commit', commitLsn: parseLsn(field(message, 'lsn')), endLsn: parseLsn(field(message, 'nextlsn')) };
      case 'I':
        return this.change(message, { kind: 'insert', newRow: tupleOf(message.columns), oldRow: null });
      case 'U':
        return this.change(message, { kind: 'update', newRow: tupleOf(message.columns), oldRow: oldTupleOf(message) });
      case 'D':
        return this.change(message, { kind: 'delete', newRow: null, oldRow: oldTupleOf(message) });
      case 'T':
        return { type: 'truncate', tables: [this.shapeOf(message)] };
      case 'M':
        return { type: 'message', prefix: message.prefix ?? '', content: message.content ?? '', transactional: message.transactional === true };
      default:
        return null;
    }
  }

  /** A row change at its own WAL position (wal2json's per-change `lsn`, with include-lsn). */
  private change(message: Wal2JsonMessage, change: Omit<RowChange, 'table'>): SourceMessage {
    return { type: 'change', lsn: parseLsn(field(message, 'lsn')), change: { ...change, table: this.shapeOf(message) } };
  }
}

function field(message: Wal2JsonMessage, name: 'lsn' | 'nextlsn' | 'timestamp' | 'schema' | 'table'): string {
  const value = message[name];
  if (typeof value !== 'string') throw new Error(`wal2json '${message.action}' message without ${name} (is include-lsn on?)`);
  return value;
}

const IDENTITY: Record<TableInScope['identity'], ReplicaIdentity> = { full: 'full', key: 'default', none: 'nothing' };

/**
 * Each message names and types the columns it carries as they were when the
 * change was written (wal2json decodes with the historic catalog): those are
 * taken from the message, so a column renamed or retyped since is read right.
 * The new row leaves out unchanged TOAST columns: those come from the
 * catalog, matched by attnum, and are `undefined` in the row, exactly as
 * pgoutput reports them. The old row (identity) carries no attnums and is
 * matched by name; a DELETE's full image (REPLICA IDENTITY FULL: as many
 * columns as the catalog has) describes the table alone.
 */
function shapeOf(message: Wal2JsonMessage, known: TableInScope | undefined): TableShape {
  const keys = new Set((message.pk ?? []).map((pk) => pk.name));
  const catalog = known?.columns ?? [];
  const catalogByName = new Map(catalog.map((column) => [column.name, column]));
  const byPosition = new Map<number, Wal2JsonColumn | CatalogColumn>();
  for (const column of message.columns ?? []) byPosition.set(Number(column.position), column);
  const carried = new Set((message.columns ?? []).map((column) => column.name));
  const fullImage = !message.columns && (message.identity?.length ?? 0) >= catalog.length && (message.identity?.length ?? 0) > keys.size;
  if (!fullImage) {
    for (const column of catalog) {
      if (!byPosition.has(column.position) && !carried.has(column.name)) byPosition.set(column.position, column);
    }
  }
  const ordered = [...byPosition.entries()].sort(([a], [b]) => a - b).map(([, column]) => column);
  for (const column of message.identity ?? []) {
    if (!carried.has(column.name)) ordered.push(column);
    carried.add(column.name);
  }
  const columns: TableColumn[] = ordered.map((column) =>
    'typeoid' in column
      ? { name: column.name, type: { oid: Number(column.typeoid), name: column.type }, isKey: catalogByName.get(column.name)?.isKey ?? keys.has(column.name) }
      : { name: column.name, type: column.type, isKey: column.isKey },
  );
  // The identity image tells the identity in force when the change was made (ALTER TABLE … REPLICA IDENTITY may have run since).
  // Only the old image counts: the new row names every column under any identity.
  const old = new Set((message.identity ?? []).map((column) => column.name));
  const identityIsFull = message.identity !== undefined && columns.every((column) => old.has(column.name)) && columns.length > keys.size;
  const replicaIdentity: ReplicaIdentity = identityIsFull ? 'full' : message.identity ? 'default' : known ? IDENTITY[known.identity] : 'default';
  if (identityIsFull) for (const column of columns) column.isKey = true;
  return { schema: field(message, 'schema'), table: field(message, 'table'), columns, replicaIdentity };
}

/** Column name → value, as own properties (a column may be called `__proto__`). */
function tupleOf(columns: Wal2JsonColumn[] | undefined): RawTuple {
  return Object.fromEntries((columns ?? []).map((column) => [column.name, valueOf(column)]));
}

const BYTEA_OID = 17;

/**
 * wal2json cuts the `\x` off bytea's hex output (for columns of type bytea
 * itself, not domains or arrays over it): put it back, so the value reads as
 * PostgreSQL printed it, as through pgoutput.
 */
function valueOf(column: Wal2JsonColumn): string | boolean | null {
  if (Number(column.typeoid) === BYTEA_OID && typeof column.value === 'string') return `\\x${column.value}`;
  return column.value;
}

function oldTupleOf(message: Wal2JsonMessage): RawTuple | null {
  return message.identity ? tupleOf(message.identity) : null;
}
