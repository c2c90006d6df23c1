/**
 * Fan-out: what one event becomes for the webhooks it matched, worked out
 * once per change. The event's JSON is rendered once and shared, each
 * webhook's body spliced from it with its own delivery id (one hash each);
 * the body's size is measured here once, for the payload limit and the
 * memory budget alike. Pure: the dispatcher routes what comes out.
 */
import type { Action } from '../common/operations.js';
import { deliveryId as deliveryIdOf } from '../events/event-id.js';
import type { ChangeEvent } from '../events/types.js';
import { MAX_NESTING_DEPTH, nestsDeeperThan, payloadBytes, prepareEventJson, renderBody } from './payload.js';
import type { Webhook } from './registry.js';

/** The webhooks an object and action match, worked out once per change before its event is built. */
export interface Route {
  object: string;
  action: Action;
  webhooks: readonly Webhook[];
}

/** A delivery as the fast path and the retry worker both see it. */
export interface DeliveryJob {
  id: string;
  eventId: string;
  operation: string;
  body: string;
  /** The body's size on the wire, measured once: the payload limit and the memory budget both count it. */
  bytes: number;
  commitLsn: string;
  changeLsn: string;
  commitTime: string;
  commitTimeMs: number;
  /** The event's record when its webhook orders by record (`record-order.ts`), else null. */
  recordKey: string | null;
}

/** Why no body can be built for a change: the same change fails the same way every time it is streamed. */
export interface Unrenderable {
  unrenderable: 'nested_too_deep' | 'too_large';
  error: string;
}

/** The deliveries of `event`, one per webhook in order, or why none can be built. Other errors are thrown. */
export function renderDeliveries(event: ChangeEvent, webhooks: readonly Webhook[]): { jobs: DeliveryJob[] } | Unrenderable {
  if (nestsDeeperThan(event.record, MAX_NESTING_DEPTH) || nestsDeeperThan(event.previousRecord, MAX_NESTING_DEPTH)) {
    return { unrenderable: 'nested_too_deep', error: `a value nests deeper than ${MAX_NESTING_DEPTH} levels` };
  }
  try {
    const prepared = prepareEventJson(event);
    return {
      jobs: webhooks.map((webhook) => {
        const id = deliveryIdOf(event.id, webhook.id);
        const body = renderBody(prepared, webhook, id);
        const recordKey = webhook.ordering === 'record' ? event.recordKey : null;
        return { id, eventId: event.id, operation: event.operation, body, bytes: payloadBytes(body), commitLsn: event.commitLsnText, changeLsn: event.changeLsnText, commitTime: event.commitTime, commitTimeMs: event.commitTimeMs, recordKey };
      }),
    };
  } catch (error) {
    // V8 reports both as RangeError: the call stack of JSON.stringify (a stack already deep at the call), and the longest string it can build.
    if (!(error instanceof RangeError)) throw error;
    if (/call stack/i.test(error.message)) return { unrenderable: 'nested_too_deep', error: error.message };
    if (/string length/i.test(error.message)) return { unrenderable: 'too_large', error: error.message };
    throw error;
  }
}

/** What finds the row of a set-aside `event` in the CRM besides table and position: its `id`, when the change carries a scalar one. */
export function setAsideKeyOf(event: ChangeEvent): Record<string, unknown> | null {
  const id = event.record.id ?? event.previousRecord?.id;
  return id === undefined || id === null || typeof id === 'object' ? null : { id };
}
