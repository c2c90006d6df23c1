/**
 * Deterministic ids. A change streamed again after a crash, a reconnect or a
 * change of walhook's scope must carry the id it had the first time, so that
 * receivers can dedupe; and two different changes must never share one. Ids
 * are name-based UUIDs (RFC 4122 version 5) of where the change sits in the
 * WAL, never random, and nothing in them depends on what walhook streams:
 *
 * - the cluster's system identifier and the timeline the change's WAL record
 *   was written on: the same LSN on a restored cluster or after a failover is
 *   another record (see source/server-identity);
 * - the LSN of the change's own WAL record (PostgreSQL decodes every change
 *   from one record; pgoutput sends it as the position of the change's
 *   message, wal2json as its `lsn`);
 * - its index among the changes decoded from that same record: only a
 *   multi-insert (COPY, batched INSERT) yields several, all of one table.
 *
 * Computed here with one SHA-1 each from node:crypto, byte for byte what
 * RFC 4122 (and the `uuid` package's v5) gives: the `uuid` package would
 * parse the namespace text twice and re-encode the name on every call, and
 * these run once per event and once per delivery.
 */
import { hash } from 'node:crypto';
import { formatLsn, type Lsn } from '../source/lsn.js';

/**
 * walhook's own v5 namespace, generated once at random. It must never change:
 * every event id ever sent derives from it, and receivers dedupe on those ids
 * across upgrades.
 */
export const EVENT_ID_NAMESPACE = '96fa3538-da6e-4960-9d63-df13fa5dfd0c';
const EVENT_ID_NAMESPACE_BYTES = uuidBytes(EVENT_ID_NAMESPACE);

/** The 16 bytes of a UUID written in its usual 8-4-4-4-12 hex form. */
export function uuidBytes(uuid: string): Buffer {
  return Buffer.from(uuid.replaceAll('-', ''), 'hex');
}

/**
 * Namespace and name are laid out in this buffer and hashed in one call: a
 * hash object per id was a third of an id's cost. Grown for a longer name.
 */
let hashInput = Buffer.allocUnsafe(256);

/** RFC 4122 §4.3 name-based UUID, version 5 (SHA-1), of `name` (UTF-8) in `namespace`. */
export function nameBasedUuid(name: string, namespace: Uint8Array): string {
  // UTF-8 takes at most 3 bytes per UTF-16 unit.
  const mostBytes = namespace.length + name.length * 3;
  if (mostBytes > hashInput.length) hashInput = Buffer.allocUnsafe(mostBytes);
  hashInput.set(namespace, 0);
  const nameBytes = hashInput.write(name, namespace.length, 'utf8');
  const digest = hash('sha1', hashInput.subarray(0, namespace.length + nameBytes), 'buffer');
  digest[6] = (digest[6]! & 0x0f) | 0x50;
  digest[8] = (digest[8]! & 0x3f) | 0x80;
  const hex = digest.toString('hex', 0, 16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** Where a change comes from in the WAL, as far as its id is concerned. */
export interface WalPosition {
  /** pg_control system identifier (decimal text). */
  systemId: string;
  /** Timeline the change's WAL record was written on. */
  timeline: number;
  /** Start of the change's WAL record. */
  lsn: Lsn;
  /** Index among the changes decoded from that record, from 0. */
  index: number;
}

export function eventId({ systemId, timeline, lsn, index }: WalPosition): string {
  if (!Number.isSafeInteger(index) || index < 0) {
    throw new RangeError(`change index must be a non-negative integer, got ${index}`);
  }
  if (!/^\d+$/.test(systemId)) throw new RangeError(`system identifier must be decimal digits, got ${JSON.stringify(systemId)}`);
  if (!Number.isSafeInteger(timeline) || timeline < 1) throw new RangeError(`timeline must be a positive integer, got ${timeline}`);
  return nameBasedUuid(`${systemId}/${timeline}/${formatLsn(lsn)}/${index}`, EVENT_ID_NAMESPACE_BYTES);
}

/** An event id named by the caller (a backfilled row: its backfill, table and key), in walhook's namespace. */
export function namedEventId(name: string): string {
  return nameBasedUuid(name, EVENT_ID_NAMESPACE_BYTES);
}

/** Id of one event's delivery to one webhook: the event id serves as the namespace of the webhook id. */
export function deliveryId(eventUuid: string, webhookId: string): string {
  return nameBasedUuid(webhookId, uuidBytes(eventUuid));
}
