/**
 * One webhook's endpoint in memory: its concurrency-limited queue, where its
 * new deliveries go (endpoint-flow.ts), its circuit breaker
 * (endpoint-health.ts), its pace (`maxPerSecond`) and what is known of its
 * failing streak. The dispatcher decides with these; the endpoint keeps
 * them, changes its flow through `nextEndpointFlow` alone, and tells how many
 * due retries it has room for (`retryRoom`).
 */
import PQueue from 'p-queue';
import type { DeliveryJob } from './fan-out.js';
import { CLOSED, type EndpointHealth } from './endpoint-health.js';
import { endpointFlowMode, nextEndpointFlow, NORMAL_FLOW, type EndpointFlow, type EndpointFlowEvent, type EndpointFlowMode } from './endpoint-flow.js';
import type { Webhook } from './registry.js';
import { TokenBucket } from './token-bucket.js';

/** A fast-path delivery waiting for its turn in an endpoint's queue. */
export interface Waiting {
  webhook: Webhook;
  job: DeliveryJob;
  settle: () => void;
  /** No longer in the endpoint's queue (spilled): it stops counting against the endpoint, not against memory. */
  leaveQueue: () => void;
  enqueuedAt: number;
}

export class Endpoint {
  private readonly queue: PQueue;
  private flow: EndpointFlow = NORMAL_FLOW;
  /** Epoch ms before which nothing is sent to it: it answered 429 or 503 (`Retry-After`). */
  throttledUntil = 0;
  /** Paces its requests to the webhook's `maxPerSecond`; null without one. */
  private bucket: TokenBucket | null = null;
  /** Its circuit breaker; changed only through `nextHealth`. */
  health: EndpointHealth = CLOSED;
  /**
   * Since when (epoch ms) its webhook fails without a success, as last
   * written to the state table (null: not failing); undefined when this
   * instance does not know (just started, or the webhook changed): the next
   * outcome writes it, so the table is written on transitions only.
   */
  failingSince: number | null | undefined = undefined;
  /** Fast-path deliveries of streamed changes in this queue, not yet settled (the retry worker's are not counted). */
  private streamed = 0;
  /**
   * Fast-path deliveries not yet started, oldest first. Each queue task takes
   * the oldest one when it runs, so spilling them leaves only no-op tasks.
   */
  readonly waiting: Waiting[] = [];

  constructor(
    concurrency: number,
    private readonly maxQueued: number,
    /** What it holds before reading waits for it, when no other endpoint could use new events (`readAheadOf`). */
    private readonly readAhead: number,
    private readonly changed: () => void,
  ) {
    this.queue = new PQueue({ concurrency });
    this.queue.on('idle', () => {
      this.apply({ type: 'queueEmpty' });
      changed();
    });
    // Any task done, fast path or retry: the endpoint's backlog and health may have changed.
    this.queue.on('next', changed);
  }

  private apply(event: EndpointFlowEvent): void {
    this.flow = nextEndpointFlow(this.flow, event);
  }

  /** Which condition decides where its new deliveries go (see endpoint-flow.ts). */
  get mode(): EndpointFlowMode {
    return endpointFlowMode(this.flow);
  }

  /** Its last attempt failed: new deliveries skip the fast path. */
  get failing(): boolean {
    return this.flow.failing;
  }

  /** Its queue was too slow and went to the state table: new deliveries follow it there until the queue is empty. */
  get spilled(): boolean {
    return this.flow.spilled;
  }

  /** An attempt (fast path or retry) got its answer: a failure makes it failing, a success ends that. */
  attempted(succeeded: boolean): void {
    this.apply({ type: succeeded ? 'attemptSucceeded' : 'attemptFailed' });
  }

  /** Takes every waiting delivery out, for the state table; the endpoint is spilled until its queue is empty. */
  spill(): Waiting[] {
    this.apply({ type: 'spilled' });
    return this.waiting.splice(0);
  }

  /** A streamed change's delivery joins the queue; `pastReadAhead` when it held its read-ahead and no other endpoint could use new events. */
  enter(pastReadAhead: boolean): void {
    this.streamed++;
    this.apply({ type: 'entered', pastReadAhead });
  }

  /** A streamed change's delivery left the queue (settled or spilled). */
  leave(): void {
    this.streamed--;
    this.apply({ type: 'left', streamed: this.streamed, readAhead: this.readAhead });
    this.changed();
  }

  /** Streamed deliveries reading must wait for: those of a pressing endpoint that cannot overflow now; else 0. */
  get holdingStream(): number {
    return this.mode === 'pressing' ? this.streamed : 0;
  }

  /** Deliveries waiting or running in memory. */
  get backlog(): number {
    return this.queue.size + this.queue.pending;
  }

  /** Its in-memory queue is at the bound. */
  full(): boolean {
    return this.backlog >= this.maxQueued;
  }

  /** Its in-memory queue holds its read-ahead (at most the bound, so a full queue holds it too). */
  readAheadHeld(): boolean {
    return this.backlog >= this.readAhead;
  }

  /** How many more deliveries its in-memory queue takes before the bound. */
  room(): number {
    return Math.max(0, this.maxQueued - this.backlog);
  }

  /**
   * How many due retries it takes now, so the retry worker claims no more:
   * claimed rows wait in memory, and more than its queue has room for would
   * grow it past its bound and let their leases run out while they wait.
   * None while it asked to be left alone (Retry-After), nor while its
   * breaker's probe is in flight (the probe's answer decides whether the rest
   * is sent); with `maxPerSecond`, no more than it can send in half a lease
   * (at least one), so no claimed row waits past its lease.
   */
  retryRoom(maxPerSecond: number | null, leaseMs: number, now = Date.now()): number {
    if (this.throttledUntil > now || this.health.mode === 'probing') return 0;
    const room = this.room();
    return maxPerSecond === null ? room : Math.min(room, Math.max(1, Math.floor((maxPerSecond * leaseMs) / 2000)));
  }

  /** Runs `task` in turn with the endpoint's other deliveries, at most `concurrency` at once. */
  run(task: () => Promise<void>): Promise<void> {
    return this.queue.add(task);
  }

  /**
   * How long the next request must wait to stay within `maxPerSecond` (null:
   * no limit), its slot taken. A changed limit starts a fresh bucket.
   */
  paceMs(maxPerSecond: number | null): number {
    if (maxPerSecond === null) {
      this.bucket = null;
      return 0;
    }
    if (this.bucket?.ratePerSecond !== maxPerSecond) this.bucket = new TokenBucket(maxPerSecond);
    return this.bucket.reserve();
  }

  /** Resolves once nothing waits or runs. */
  idle(): Promise<void> {
    return this.queue.onIdle();
  }
}
