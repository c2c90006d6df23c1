/**
 * wal2json (format version 2) messages → SourceMessage, matching what the
 * pgoutput decoder yields for the same changes. Numbers are parsed losslessly
 * and kept as PostgreSQL text (wal2json writes int8 and numeric unquoted).
 */
import { parse as parseLosslessJson } from 'lossless-json';
import { Wal2JsonPlugin } from 'pg-logical-replication';
import { parseLsn } from './lsn.js';
import type { RawTuple, ReplicaIdentity, SourceMessage, TableColumn, TableShape } from './types.js';

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
    addTables: wal2jsonTableFilter(tables),
  });
  plugin.parse = (buffer: Buffer) => parseLosslessJson(buffer.toString('utf8'), null, (text) => text);
  return plugin;
}

export class Wal2JsonDecoder {
  /** Commit-time text of the open transaction, decoded by `events/` like any timestamptz. */
  constructor(private readonly decodeCommitTime: (text: string) => string) {}

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
        return { type: 'change', change: { kind: 'insert', table: shapeOf(message), newRow: tupleOf(message.columns), oldRow: null } };
      case 'U':
        return {
          type: 'change',
          change: { kind: 'update', table: shapeOf(message), newRow: tupleOf(message.columns), oldRow: oldTupleOf(message) },
        };
      case 'D':
        return { type: 'change', change: { kind: 'delete', table: shapeOf(message), newRow: null, oldRow: oldTupleOf(message) } };
      case 'T':
        return { type: 'truncate', tables: [shapeOf(message)] };
      default:
        return null;
    }
  }
}

function field(message: Wal2JsonMessage, name: 'lsn' | 'nextlsn' | 'timestamp' | 'schema' | 'table'): string {
  const value = message[name];
  if (typeof value !== 'string') throw new Error(`wal2json '${message.action}' message without ${name} (is include-lsn on?)`);
  return value;
}

/**
 * wal2json leaves unchanged TOAST columns out of `columns`; the identity image
 * (REPLICA IDENTITY FULL) still names them, so they become `undefined` there,
 * as pgoutput reports them.
 */
function shapeOf(message: Wal2JsonMessage): TableShape {
  const keys = new Set((message.pk ?? []).map((pk) => pk.name));
  const byName = new Map<string, Wal2JsonColumn>();
  for (const column of [...(message.columns ?? []), ...(message.identity ?? [])]) {
    if (!byName.has(column.name)) byName.set(column.name, column);
  }
  const columns: TableColumn[] = [...byName.values()]
    .sort((a, b) => Number(a.position) - Number(b.position))
    .map((column) => ({ name: column.name, type: { oid: Number(column.typeoid), name: column.type }, isKey: keys.has(column.name) }));
  const identityIsFull = message.identity !== undefined && message.identity.length === columns.length && columns.length > keys.size;
  const replicaIdentity: ReplicaIdentity = identityIsFull ? 'full' : 'default';
  return { schema: field(message, 'schema'), table: field(message, 'table'), columns, replicaIdentity };
}

function tupleOf(columns: Wal2JsonColumn[] | undefined): RawTuple {
  const tuple: RawTuple = {};
  for (const column of columns ?? []) tuple[column.name] = column.value;
  return tuple;
}

function oldTupleOf(message: Wal2JsonMessage): RawTuple | null {
  return message.identity ? tupleOf(message.identity) : null;
}
