/**
 * pgoutput (protocol v2) messages → SourceMessage. Column values are kept as
 * PostgreSQL's text output: the library would otherwise run pg's type parsers,
 * which lose microseconds, shift dates into local time and turn NaN into null.
 */
import { PgoutputPlugin, type Pgoutput } from 'pg-logical-replication';
import { parseLsn, type Lsn } from './lsn.js';
import type { RawTuple, SourceMessage, TableShape } from './types.js';

export function createPgoutputPlugin(publications: string[]): PgoutputPlugin {
  // Logical decoding messages carry the backfill watermarks (src/backfill).
  return new PgoutputPlugin({ protoVersion: 2, publicationNames: publications, messages: true });
}

export class PgoutputDecoder {
  /** Keyed by the library's relation object, which it reuses for every change of that relation. */
  private readonly shapes = new WeakMap<Pgoutput.MessageRelation, TableShape>();

  /** `lsn` is the position of the XLogData message: for a row change, the start of its WAL record. */
  decode(message: Pgoutput.Message, lsn: Lsn): SourceMessage | null {
    if ((message.tag === 'insert' || message.tag === 'update' || message.tag === 'delete') && lsn === 0n) {
      throw new Error(`pgoutput sent a ${message.tag} without its WAL position`);
    }
    switch (message.tag) {
      case 'relation':
        this.shapes.set(message, this.learnRelation(message));
        return null;
      case 'begin':
        return {
          type: 'begin',
          commitLsn: parseLsn(required(message.commitLsn, 'begin.commitLsn')),
          // The library types it as the BigInt wrapper; the value is a bigint primitive.
          commitTime: isoFromEpochMicros(message.commitTime.valueOf()),
        };
      case 'commit':
        return {
          type: 'commit',
          commitLsn: parseLsn(required(message.commitLsn, 'commit.commitLsn')),
          endLsn: parseLsn(required(message.commitEndLsn, 'commit.commitEndLsn')),
        };
      case 'insert':
        return { type: 'change', lsn, change: { kind: 'insert', table: this.shapeOf(message.relation), newRow: message.new as RawTuple, oldRow: null } };
      case 'update':
        return {
          type: 'change',
          lsn,
          change: {
            kind: 'update',
            table: this.shapeOf(message.relation),
            newRow: message.new as RawTuple,
            oldRow: (message.old ?? message.key) as RawTuple | null,
          },
        };
      case 'delete':
        return {
          type: 'change',
          lsn,
          change: { kind: 'delete', table: this.shapeOf(message.relation), newRow: null, oldRow: (message.old ?? message.key) as RawTuple | null },
        };
      case 'truncate':
        return { type: 'truncate', tables: message.relations.map((relation) => this.shapeOf(relation)) };
      case 'message':
        return { type: 'message', prefix: message.prefix, content: Buffer.from(message.content).toString('utf8'), transactional: message.transactional };
      default:
        return null;
    }
  }

  private learnRelation(relation: Pgoutput.MessageRelation): TableShape {
    for (const column of relation.columns) column.parser = keepText;
    const keys = new Set(relation.keyColumns);
    return {
      schema: relation.schema,
      table: relation.name,
      replicaIdentity: relation.replicaIdentity,
      columns: relation.columns.map((column) => ({
        name: column.name,
        type: { oid: column.typeOid, name: column.typeName },
        isKey: keys.has(column.name),
      })),
    };
  }

  private shapeOf(relation: Pgoutput.MessageRelation): TableShape {
    const shape = this.shapes.get(relation);
    if (!shape) throw new Error(`pgoutput sent a change for relation ${relation.schema}.${relation.name} before describing it`);
    return shape;
  }
}

function keepText(raw: string): string {
  return raw;
}

function required<T>(value: T | null, what: string): T {
  if (value === null) throw new Error(`pgoutput message without ${what}`);
  return value;
}

/**
 * ISO 8601 UTC of microseconds since 1970 (the library already shifted
 * pgoutput's 2000-01-01 epoch); millisecond precision unless the value has
 * sub-millisecond digits, as events/values writes timestamptz.
 */
export function isoFromEpochMicros(epochMicros: bigint): string {
  const millis = epochMicros / 1000n;
  const subMillis = Number(epochMicros % 1000n);
  const iso = new Date(Number(millis)).toISOString();
  return subMillis === 0 ? iso : `${iso.slice(0, -1)}${String(subMillis).padStart(3, '0')}Z`;
}
