/**
 * Works off the state table: claims due deliveries (FOR UPDATE SKIP LOCKED
 * with a lease, so several instances can share the table and a crashed
 * instance's rows come back) and sends them through the same per-endpoint
 * queues as the fast path. A success there puts a failing endpoint back on
 * the fast path.
 *
 * Claimed rows are held in memory until attempted, so claims are bounded in
 * body bytes as well as in rows: the worker takes only what its budget has
 * room for, and gives the bytes back once each attempt is recorded.
 */
import type { Logger } from 'pino';
import { claimDueDeliveries, recordAttempts, releaseLeases, type AttemptRecord, type ClaimedDelivery } from '../state/deliveries.js';
import type { StateDb } from '../state/db.js';
import type { AttemptOutcome, Dispatcher } from './dispatcher.js';
import type { Webhook, WebhookRegistry } from './registry.js';

/**
 * Body bytes the retry worker may hold in memory. Shared with whoever else
 * counts against delivery.maxInMemoryBytes: `room` says what is free now,
 * `reserve` and `release` move the worker's own bytes in and out.
 */
export interface MemoryBudget {
  room(): number;
  reserve(bytes: number): void;
  release(bytes: number): void;
}

/** A budget of `limit` bytes, less what `othersHold()` (e.g. the fast path) holds at the moment. */
export class ByteBudget implements MemoryBudget {
  private held = 0;

  constructor(
    private readonly limit: number,
    private readonly othersHold: () => number = () => 0,
  ) {}

  room(): number {
    return this.limit - this.held - this.othersHold();
  }

  reserve(bytes: number): void {
    this.held += bytes;
  }

  release(bytes: number): void {
    this.held -= bytes;
  }
}

export interface RetryWorkerSettings {
  pollIntervalMs: number;
  leaseMs: number;
  /** Rows claimed per poll at most. */
  batchSize: number;
  budget: MemoryBudget;
  /**
   * The position up to which the stream has settled every change (the slot's
   * confirmed LSN) while this instance streams, else null: rows of ordered
   * records are taken only below it (see claimDueDeliveries).
   */
  orderedThrough: () => string | null;
}

export class RetryWorker {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = true;
  /** Claimed rows not yet attempted: their leases are released on stop. */
  private readonly waiting = new Set<string>();
  private held = 0;

  constructor(
    private readonly db: StateDb,
    private readonly registry: WebhookRegistry,
    private readonly dispatcher: Dispatcher,
    private readonly settings: RetryWorkerSettings,
    private readonly logger: Logger,
  ) {}

  /** Body bytes of claimed rows whose attempt is not yet recorded. */
  get heldBytes(): number {
    return this.held;
  }

  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
    await releaseLeases(this.db, [...this.waiting]).catch(() => undefined);
  }

  /** Runs one poll now (tests and the API's redeliver use it to skip the wait). */
  poke(): void {
    if (this.stopped || this.running) return;
    if (this.timer) clearTimeout(this.timer);
    this.schedule(0);
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => {
      this.running = this.poll()
        .catch((error: unknown) => {
          this.logger.error({ err: error }, 'retry poll failed');
          return false;
        })
        .then((full) => {
          this.running = null;
          if (!this.stopped) this.schedule(full ? 0 : this.settings.pollIntervalMs);
        });
    }, delayMs);
  }

  /** Returns true when it claimed a full batch (more may be due). */
  private async poll(): Promise<boolean> {
    // Each endpoint takes only what it has room for now: its queue's bound, Retry-After, breaker and pace decide.
    const rooms = this.registry.enabledIds().map((webhookId) => ({ webhookId, room: this.dispatcher.retryRoom(webhookId, this.settings.leaseMs) }));
    const claimed = await claimDueDeliveries(this.db, {
      rooms,
      limit: this.settings.batchSize,
      leaseMs: this.settings.leaseMs,
      maxBytes: this.settings.budget.room(),
      // A body larger than the whole budget still goes, alone, rather than never.
      atLeastOne: this.held === 0,
      orderedThrough: this.settings.orderedThrough(),
    });
    for (const delivery of claimed) this.hold(delivery.bytes);
    for (const delivery of claimed) this.enqueue(delivery);
    return claimed.length === this.settings.batchSize;
  }

  private hold(bytes: number): void {
    this.held += bytes;
    this.settings.budget.reserve(bytes);
  }

  private letGo(bytes: number): void {
    this.held -= bytes;
    this.settings.budget.release(bytes);
  }

  private enqueue(delivery: ClaimedDelivery): void {
    const webhook = this.registry.get(delivery.webhookId);
    if (!webhook || webhook.disabledReason) {
      this.letGo(delivery.bytes);
      this.release([delivery.id]);
      return;
    }
    const claimedAt = Date.now();
    this.waiting.add(delivery.id);
    void this.dispatcher
      .runRetry(webhook.id, async () => {
        if (this.stopped) return;
        this.waiting.delete(delivery.id);
        // Waited in memory past its lease: another worker may own the row by now, so sending it would be a duplicate.
        if (Date.now() - claimedAt >= this.settings.leaseMs) return;
        await this.retry(webhook, delivery);
      })
      .catch((error: unknown) =>
        // The lease expires and the row is attempted again: a duplicate at worst, never a loss.
        this.logger.error({ err: error, deliveryId: delivery.id }, 'retry failed unexpectedly'),
      )
      .finally(() => this.letGo(delivery.bytes));
  }

  private async retry(webhook: Webhook, delivery: ClaimedDelivery): Promise<void> {
    const job = {
      id: delivery.id,
      body: delivery.body,
      eventId: delivery.eventId,
      commitTime: delivery.commitTime.toISOString(),
      commitTimeMs: delivery.commitTime.getTime(),
      commitLsn: delivery.commitLsn,
    };
    const attempt = delivery.attempts + 1;
    // A due retry the circuit breaker keeps back counts as an attempt: it still reaches its dead letter.
    const outcome = await this.dispatcher.tryDelivery(webhook, job, attempt, true);
    const record = attemptRecord(delivery.id, delivery.attempts, outcome);
    await recordAttempts(this.db, [record]);
    // The record's next change may be due already: look again now rather than after the poll interval.
    const settled = record.state === 'delivered' || record.state === 'dead';
    if (delivery.recordKey !== null && settled && (await this.dispatcher.recordSettled(webhook.id, delivery.recordKey))) this.poke();
  }

  private release(deliveryIds: string[]): void {
    releaseLeases(this.db, deliveryIds).catch((error: unknown) =>
      this.logger.warn({ err: error }, 'could not release leases; they expire by themselves'),
    );
  }
}

/**
 * What the state table keeps of an attempt on a stored delivery that had
 * made `attemptsBefore` attempts: a success or a failure counts as the next
 * attempt; a deferral (Retry-After, or held back unsent) does not, and the
 * row waits until then in the state it had.
 */
export function attemptRecord(deliveryId: string, attemptsBefore: number, outcome: AttemptOutcome): AttemptRecord {
  const attempt = attemptsBefore + 1;
  if (outcome.delivered) {
    const { status, durationMs } = outcome.result;
    return { deliveryId, attempt, counted: true, attemptedAt: new Date(), status, error: null, durationMs, state: 'delivered', nextAttemptAt: null, deadReason: null };
  }
  if (outcome.deferred) {
    const { result, attemptedAt, until } = outcome;
    const state = attemptsBefore > 0 ? 'retrying' : 'pending';
    const error = result?.error ?? outcome.reason;
    return { deliveryId, attempt: attemptsBefore, counted: false, attemptedAt, status: result?.status ?? null, error, durationMs: result?.durationMs ?? 0, state, nextAttemptAt: until, deadReason: null };
  }
  const { result, attemptedAt, step } = outcome;
  return {
    deliveryId,
    attempt,
    counted: true,
    attemptedAt,
    status: result.status ?? null,
    error: result.error,
    durationMs: result.durationMs,
    state: step.state,
    nextAttemptAt: step.nextAttemptAt,
    deadReason: step.state === 'dead' ? step.reason : null,
  };
}
