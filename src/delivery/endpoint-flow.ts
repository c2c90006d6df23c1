/**
 * Where an endpoint's new deliveries from the stream go, as a state machine
 * with its transitions in one place (`nextEndpointFlow`). Three conditions
 * can hold at once, so the state is their product; its mode is the one that
 * decides:
 *
 * - `failing`: its last attempt failed. New deliveries skip the fast path
 *   and wait in the state table for the first retry wait. A success ends it.
 * - `spilled`: its queue waited longer than `delivery.spillAfter` and was
 *   moved to the state table. New deliveries go there too, for the retry
 *   worker to feed it as it frees up, until its queue has run empty.
 * - `pressing`: it took a delivery past its read-ahead (`readAheadOf` in
 *   flow-control.ts) while no other endpoint could use new events. Flow
 *   control counts its queue (reading waits for it) until its streamed
 *   deliveries drain to half the read-ahead.
 * - `normal`: none of these; deliveries take the fast path up to the bound.
 *
 * A failing or spilled endpoint never holds the stream: what it cannot take
 * goes to the state table. The circuit breaker (endpoint-health.ts) is a
 * machine of its own: it decides whether a request is sent at all.
 *
 * Pure, so tests drive every transition without queues or a clock.
 */

export const ENDPOINT_FLOW_MODES = ['normal', 'pressing', 'failing', 'spilled'] as const;
export type EndpointFlowMode = (typeof ENDPOINT_FLOW_MODES)[number];

export interface EndpointFlow {
  readonly failing: boolean;
  readonly spilled: boolean;
  readonly pressing: boolean;
}

export type EndpointFlowEvent =
  /** A streamed delivery joined the queue; `pastReadAhead` when it already held its read-ahead and no other endpoint could use new events. */
  | { type: 'entered'; pastReadAhead: boolean }
  /** A streamed delivery left the queue; `streamed` are still in it. */
  | { type: 'left'; streamed: number; readAhead: number }
  | { type: 'attemptFailed' }
  | { type: 'attemptSucceeded' }
  /** Its waiting deliveries were moved to the state table. */
  | { type: 'spilled' }
  /** Nothing waits or runs in its queue any more. */
  | { type: 'queueEmpty' };

export const NORMAL_FLOW: EndpointFlow = { failing: false, spilled: false, pressing: false };

export function nextEndpointFlow(flow: EndpointFlow, event: EndpointFlowEvent): EndpointFlow {
  switch (event.type) {
    case 'entered':
      return event.pastReadAhead && !flow.pressing ? { ...flow, pressing: true } : flow;
    case 'left':
      return flow.pressing && event.streamed <= event.readAhead / 2 ? { ...flow, pressing: false } : flow;
    case 'attemptFailed':
      return flow.failing ? flow : { ...flow, failing: true };
    case 'attemptSucceeded':
      return flow.failing ? { ...flow, failing: false } : flow;
    case 'spilled':
      return flow.spilled ? flow : { ...flow, spilled: true };
    case 'queueEmpty':
      return flow.spilled ? { ...flow, spilled: false } : flow;
  }
}

/** The condition that decides where new deliveries go: failing before spilled before pressing. */
export function endpointFlowMode(flow: EndpointFlow): EndpointFlowMode {
  if (flow.failing) return 'failing';
  if (flow.spilled) return 'spilled';
  return flow.pressing ? 'pressing' : 'normal';
}
