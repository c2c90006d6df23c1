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
 */
import { parse as parseUuid, v5 as uuidV5 } from 'uuid';
import { formatLsn, type Lsn } from '../source/lsn.js';

/**
 * walhook's own v5 namespace, generated once at random. It must never change:
 * every event id ever sent derives from it, and receivers dedupe on those ids
 * across upgrades.
 */
export const EVENT_ID_NAMESPACE = '96fa3538-da6e-4960-9d63-df13fa5dfd0c';
const EVENT_ID_NAMESPACE_BYTES = parseUuid(EVENT_ID_NAMESPACE);

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
  return uuidV5(`${systemId}/${timeline}/${formatLsn(lsn)}/${index}`, EVENT_ID_NAMESPACE_BYTES);
}

/** Id of one event's delivery to one webhook: the event id serves as the namespace of the webhook id. */
export function deliveryId(eventUuid: string, webhookId: string): string {
  return uuidV5(webhookId, eventUuid);
}
