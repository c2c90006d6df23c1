/**
 * Flow control of the replication stream: the one place that decides whether
 * walhook reads the slot. Reading pauses when the deliveries of streamed
 * changes held in memory reach a budget (count or body bytes), or when an
 * endpoint that cannot overflow to the state table (no other endpoint could
 * use new events) holds its read-ahead of them; it resumes once all of these
 * are back below half. The slot is then the queue.
 *
 * Only deliveries of streamed changes count: the retry worker's rows are
 * bounded by its own claims, and counting them would let a retry backlog keep
 * the stream paused while nothing the stream sent is left to settle.
 *
 * Modes: `reading` → `paused` (over budget) → `reading` (below half);
 * `stopped` (shutdown) is final. A new connection starts reading, so
 * `reconnected` returns to `reading` and re-applies the budget to it.
 */
import type { WalhookConfig } from '../config/schema.js';

export type FlowMode = 'reading' | 'paused' | 'stopped';

/** Above this many deliveries of streamed changes held in memory (or delivery.maxInMemoryBytes), reading pauses until half are settled. */
const MAX_IN_MEMORY_DELIVERIES = 20_000;

/**
 * Deliveries per request in flight that an endpoint which cannot overflow
 * holds before reading waits for it. They keep its requests busy across a
 * pause and the resume after it (the socket hands over what the kernel
 * buffered at once). Any more would only wait in memory, where every
 * scavenge copies them: in the CPU bench, holding 1,000 (the bound) instead
 * of 128 made the scavenges take about 1.5× as long, while the slot keeps
 * them for free.
 */
const READ_AHEAD_PER_REQUEST = 16;

/** Deliveries an endpoint that cannot overflow holds before reading waits for it: 16 per request in flight, at most its bound. */
export function readAheadOf(delivery: Pick<WalhookConfig['delivery'], 'concurrency' | 'maxQueuedPerEndpoint'>): number {
  return Math.min(delivery.maxQueuedPerEndpoint, READ_AHEAD_PER_REQUEST * delivery.concurrency);
}

export interface FlowLimits {
  /** Deliveries of streamed changes held at most. */
  maxDeliveries: number;
  /** Their body bytes at most (delivery.maxInMemoryBytes). */
  maxBytes: number;
  /** Deliveries an endpoint that cannot overflow may hold (`readAheadOf`). */
  readAhead: number;
}

/** The budgets the delivery configuration sets. */
export function flowLimits(delivery: WalhookConfig['delivery']): FlowLimits {
  return { maxDeliveries: MAX_IN_MEMORY_DELIVERIES, maxBytes: delivery.maxInMemoryBytes, readAhead: readAheadOf(delivery) };
}

/** What the stream's deliveries hold now. */
export interface FlowLoad {
  /** Deliveries of streamed changes routed and not yet settled (queued, in flight, or being written). */
  deliveries: number;
  /** Their body bytes. */
  bytes: number;
  /** The most deliveries of streamed changes queued at one endpoint that took them past its read-ahead and cannot overflow to the state table. */
  heldByEndpoint: number;
}

/** Why reading is over budget, or null when it is not. */
export function overBudget(load: FlowLoad, limits: FlowLimits): string | null {
  if (load.deliveries >= limits.maxDeliveries) return `${load.deliveries} deliveries held in memory (at most ${limits.maxDeliveries})`;
  if (load.bytes >= limits.maxBytes) return `${load.bytes} body bytes held in memory (delivery.maxInMemoryBytes ${limits.maxBytes})`;
  if (load.heldByEndpoint >= limits.readAhead) {
    return `an endpoint holds ${load.heldByEndpoint} deliveries and no other endpoint could use new events (its read-ahead: ${limits.readAhead})`;
  }
  return null;
}

export function belowHalf(load: FlowLoad, limits: FlowLimits): boolean {
  return load.deliveries < limits.maxDeliveries / 2 && load.bytes < limits.maxBytes / 2 && load.heldByEndpoint <= limits.readAhead / 2;
}

export type FlowInput = { type: 'load'; load: FlowLoad } | { type: 'reconnected'; load: FlowLoad } | { type: 'stop' };

/** Every transition, in one place. */
export function nextFlowMode(mode: FlowMode, input: FlowInput, limits: FlowLimits): FlowMode {
  if (mode === 'stopped' || input.type === 'stop') return 'stopped';
  const from = input.type === 'reconnected' ? 'reading' : mode;
  if (from === 'reading') return overBudget(input.load, limits) === null ? 'reading' : 'paused';
  return belowHalf(input.load, limits) ? 'reading' : 'paused';
}

/** The stream's socket, as flow control drives it. */
export interface Valve {
  pause(): void;
  resume(): void;
}

/**
 * The streams of every partition this instance reads, driven as one valve:
 * they share the delivery side, so its budget pauses and resumes them all.
 */
export class ValveSet implements Valve {
  private readonly valves = new Set<Valve>();

  add(valve: Valve): void {
    this.valves.add(valve);
  }

  delete(valve: Valve): void {
    this.valves.delete(valve);
  }

  pause(): void {
    for (const valve of this.valves) valve.pause();
  }

  resume(): void {
    for (const valve of this.valves) valve.resume();
  }
}

export class FlowControl {
  private current: FlowMode = 'reading';
  private why: string | null = null;
  private pausedAt: number | null = null;
  /** `changed()` was told and its update has not run yet. */
  private updateDue = false;

  constructor(
    private readonly limits: FlowLimits,
    private readonly load: () => FlowLoad,
    private valve: Valve | null = null,
  ) {}

  get mode(): FlowMode {
    return this.current;
  }

  /** Why reading paused (null while reading), and since when (epoch ms). */
  get pause(): { reason: string; since: number } | null {
    return this.current === 'paused' && this.why !== null && this.pausedAt !== null ? { reason: this.why, since: this.pausedAt } : null;
  }

  /** The stream to drive from now on (a new stream after leadership changed hands). */
  attach(valve: Valve | null): void {
    this.valve = valve;
    if (valve) this.apply({ type: 'reconnected', load: this.load() });
  }

  /** The budget may have changed (a delivery routed or settled, an endpoint's state, a webhook removed): pause or resume. */
  update(): void {
    this.updateDue = false;
    this.apply({ type: 'load', load: this.load() });
  }

  /**
   * As `update`, once for every change told before the current task ends.
   * Per message and per settled delivery this is called several times a
   * change, and deciding per message bought nothing within a chunk: pausing
   * stops the socket's next read, never the chunk being parsed. One bound is
   * looser: a socket resumed after a pause hands over what it buffered while
   * paused (Node's 16 KiB highWaterMark, and the one read under way, at most
   * 64 KiB) in one task, so the budget may be passed by that much WAL per
   * stream before the decision runs.
   */
  changed(): void {
    if (this.updateDue) return;
    this.updateDue = true;
    queueMicrotask(() => {
      if (this.updateDue) this.update();
    });
  }

  /** A new connection reads from the start: the budget applies to it afresh. */
  reconnected(): void {
    this.apply({ type: 'reconnected', load: this.load() });
  }

  /**
   * Drives the valve to the current mode again, for a socket whose state may
   * have drifted from it (the stall watchdog's first remedy).
   */
  reassert(): void {
    this.update();
    if (this.current === 'reading') this.valve?.resume();
    else this.valve?.pause();
  }

  /** Shutdown: reading stops for good. */
  stop(): void {
    this.apply({ type: 'stop' });
  }

  private apply(input: FlowInput): void {
    const before = input.type === 'reconnected' ? 'reading' : this.current;
    const after = nextFlowMode(this.current, input, this.limits);
    this.current = after;
    if (after === 'paused' && before !== 'paused' && input.type !== 'stop') {
      this.why = overBudget(input.load, this.limits);
      this.pausedAt = Date.now();
    }
    if (after === before) return;
    if (after === 'reading') {
      this.why = null;
      this.pausedAt = null;
      this.valve?.resume();
    } else if (before === 'reading') {
      this.valve?.pause();
    }
  }
}
