/**
 * Batching (a webhook's `batch` policy): the events of one webhook gathered,
 * in the order they are routed (commit order), into one request.
 *
 * `BatchAccumulator` is the pure part: it decides when a batch is complete —
 * `maxEvents` reached, the next event would take the body past its byte
 * budget, or `linger` passed since the batch's first event — with the clock
 * passed in, so tests move it by hand. `batchBody` builds the body:
 *
 *   {"batchId": "...", "webhookId": "...", "count": n,
 *    "events": [{"id": "<delivery id>", "body": <the single delivery's body>}, ...]}
 *
 * Each event's `body` is, byte for byte, what the webhook would have sent for
 * it alone, and its `id` is that delivery's id (its `webhook-id` header when
 * sent alone), which the `event` and `twenty` formats do not carry in the
 * body. Like the single bodies, the whole is what `JSON.stringify` gives, so
 * receivers that re-serialise the parsed body before verifying still match.
 */
import { nameBasedUuid, uuidBytes } from '../events/event-id.js';
import type { BatchPolicy } from '../common/webhook.js';
import { payloadBytes } from './payload.js';

/**
 * walhook's v5 namespace for batch ids, generated once at random; it must
 * never change, so that a batch rebuilt from the same deliveries keeps its id.
 */
const BATCH_ID_NAMESPACE = uuidBytes('0b6f8d0e-5f43-4c1a-9a57-3c2e8d1f6a90');
const SOME_UUID = '00000000-0000-0000-0000-000000000000';

/** One event of a batch: its delivery id and its body as sent alone. */
export interface BatchMember {
  id: string;
  body: string;
}

/** The id of the batch of these deliveries, in order: the same members always give the same id. */
export function batchIdOf(memberIds: readonly string[]): string {
  return nameBasedUuid(memberIds.join(','), BATCH_ID_NAMESPACE);
}

function memberJson({ id, body }: BatchMember): string {
  return `{"id":${JSON.stringify(id)},"body":${body}}`;
}

export function batchBody(batchId: string, webhookId: string, members: readonly BatchMember[]): string {
  const events = members.map(memberJson).join(',');
  return `{"batchId":${JSON.stringify(batchId)},"webhookId":${JSON.stringify(webhookId)},"count":${members.length},"events":[${events}]}`;
}

/** What a member adds to a batch body besides its own body (the separating comma is counted by the accumulator). */
export const MEMBER_OVERHEAD_BYTES = payloadBytes(memberJson({ id: SOME_UUID, body: '' }));

/**
 * Bytes left for the members' entries (and the commas between them) in a
 * body of at most `maxBodyBytes`, for a batch of up to `maxEvents`: the
 * envelope with no member has a one-digit count.
 */
export function memberBudget(maxBodyBytes: number, maxEvents: number): number {
  return maxBodyBytes - payloadBytes(batchBody(SOME_UUID, SOME_UUID, [])) + 1 - String(maxEvents).length;
}

/** What an accumulator needs of a policy, its byte limit already turned into a member budget. */
export interface AccumulatorLimits {
  maxEvents: number;
  /** Bytes for the members' entries and the commas between them (`memberBudget`). */
  budgetBytes: number;
  lingerMs: number;
}

/**
 * `maxPayloadBytes` still bounds the body: validation refuses a larger `maxBytes` (`batchMaxBytesProblem`), but a
 * policy stored through the API before delivery.maxPayloadBytes was lowered keeps its old value, and a batch built
 * past the payload limit would only be dead-lettered as too large.
 */
export function accumulatorLimits(policy: BatchPolicy, maxPayloadBytes: number): AccumulatorLimits {
  return {
    maxEvents: policy.maxEvents,
    budgetBytes: memberBudget(Math.min(policy.maxBytes, maxPayloadBytes), policy.maxEvents),
    lingerMs: policy.linger,
  };
}

/**
 * The batch being gathered for one webhook. `add` returns the batches
 * complete now (none, one, or two when the new item closes the current batch
 * by size and then fills a batch of one by itself); `takeDue` the batch whose
 * linger has passed. An item too large for any batch goes alone in a batch of
 * one: it cannot be split further.
 */
export class BatchAccumulator<T> {
  private items: T[] = [];
  private usedBytes = 0;
  private firstAt = 0;

  constructor(
    readonly limits: AccumulatorLimits,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.items.length;
  }

  /** `bytes`: what the item adds to the body (its entry, `MEMBER_OVERHEAD_BYTES` included). */
  add(item: T, bytes: number): T[][] {
    const complete: T[][] = [];
    if (this.items.length > 0 && this.usedBytes + 1 + bytes > this.limits.budgetBytes) complete.push(this.take());
    if (this.items.length === 0) this.firstAt = this.now();
    this.usedBytes += (this.items.length > 0 ? 1 : 0) + bytes;
    this.items.push(item);
    if (this.items.length >= this.limits.maxEvents || this.usedBytes >= this.limits.budgetBytes) complete.push(this.take());
    return complete;
  }

  /** When the current batch's linger ends (epoch ms), or null when nothing is gathered. */
  dueAt(): number | null {
    return this.items.length === 0 ? null : this.firstAt + this.limits.lingerMs;
  }

  /** The current batch if its linger has passed, else null. */
  takeDue(): T[] | null {
    const due = this.dueAt();
    return due !== null && this.now() >= due ? this.take() : null;
  }

  /** Whatever is gathered, now (shutdown, a changed policy); empty when nothing is. */
  take(): T[] {
    const items = this.items;
    this.items = [];
    this.usedBytes = 0;
    return items;
  }
}
