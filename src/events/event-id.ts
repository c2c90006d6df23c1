/**
 * Deterministic ids. A change streamed again after a crash must carry the id
 * it had the first time, so that receivers can dedupe: ids are name-based
 * UUIDs (RFC 4122 version 5) of the change's WAL position, never random.
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

/** Id of the `ordinal`-th change (from 0) of the transaction committed at `commitLsn`. */
export function eventId(commitLsn: Lsn, ordinal: number): string {
  if (!Number.isSafeInteger(ordinal) || ordinal < 0) {
    throw new RangeError(`change ordinal must be a non-negative integer, got ${ordinal}`);
  }
  return uuidV5(`${formatLsn(commitLsn)}/${ordinal}`, EVENT_ID_NAMESPACE_BYTES);
}

/** Id of one event's delivery to one webhook: the event id serves as the namespace of the webhook id. */
export function deliveryId(eventUuid: string, webhookId: string): string {
  return uuidV5(webhookId, eventUuid);
}
