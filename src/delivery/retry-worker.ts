/**
 * Works off the state table: claims due deliveries (FOR UPDATE SKIP LOCKED
 * with a lease, so several instances can share the table and a crashed
 * instance's rows come back) and sends them through the same per-endpoint
 * queues as the fast path. A success there puts a failing endpoint back on
 * the fast path.
 */
import type { Logger } from 'pino';
import { claimDueDeliveries, recordAttempts, releaseLeases, type AttemptRecord, type ClaimedDelivery } from '../state/deliveries.js';
import type { StateDb } from '../state/db.js';
import type { Dispatcher } from './dispatcher.js';
import type { Webhook, WebhookRegistry } from './registry.js';

export interface RetryWorkerSettings {
  pollIntervalMs: number;
  leaseMs: number;
  maxQueuedPerEndpoint: number;
  /** Rows claimed per poll at most. */
  batchSize: number;
}

export class RetryWorker {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = true;
  /** Claimed rows not yet attempted: their leases are released on stop. */
  private readonly waiting = new Set<string>();

  constructor(
    private readonly db: StateDb,
    private readonly registry: WebhookRegistry,
    private readonly dispatcher: Dispatcher,
    private readonly settings: RetryWorkerSettings,
    private readonly logger: Logger,
  ) {}

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
    // Each endpoint takes only what fits under its bound: claiming more would let a slow endpoint's queue grow
    // past maxQueuedPerEndpoint and its rows' leases run out while they still wait in memory.
    const rooms = this.registry.enabledIds().map((webhookId) => ({
      webhookId,
      room: this.settings.maxQueuedPerEndpoint - this.dispatcher.endpoint(webhookId).backlog,
    }));
    const claimed = await claimDueDeliveries(this.db, {
      rooms,
      limit: this.settings.batchSize,
      leaseMs: this.settings.leaseMs,
    });
    for (const delivery of claimed) this.enqueue(delivery);
    return claimed.length === this.settings.batchSize;
  }

  private enqueue(delivery: ClaimedDelivery): void {
    const webhook = this.registry.get(delivery.webhookId);
    if (!webhook || webhook.disabledReason) {
      this.release([delivery.id]);
      return;
    }
    const claimedAt = Date.now();
    this.waiting.add(delivery.id);
    void this.dispatcher
      .endpoint(webhook.id)
      .queue.add(async () => {
        if (this.stopped) return;
        this.waiting.delete(delivery.id);
        // Waited in memory past its lease: another worker may own the row by now, so sending it would be a duplicate.
        if (Date.now() - claimedAt >= this.settings.leaseMs) return;
        await this.retry(webhook, delivery);
      })
      .catch((error: unknown) =>
        // The lease expires and the row is attempted again: a duplicate at worst, never a loss.
        this.logger.error({ err: error, deliveryId: delivery.id }, 'retry failed unexpectedly'),
      );
  }

  private async retry(webhook: Webhook, delivery: ClaimedDelivery): Promise<void> {
    const job = {
      id: delivery.id,
      body: delivery.body,
      eventId: delivery.eventId,
      commitTime: delivery.commitTime.toISOString(),
      commitLsn: delivery.commitLsn,
    };
    const attempt = delivery.attempts + 1;
    const outcome = await this.dispatcher.tryDelivery(webhook, job, attempt);
    const base = { deliveryId: delivery.id, attempt, durationMs: outcome.result.durationMs };
    const record: AttemptRecord = outcome.delivered
      ? { ...base, attemptedAt: new Date(), status: outcome.result.status, error: null, state: 'delivered', nextAttemptAt: null, deadReason: null }
      : {
          ...base,
          attemptedAt: outcome.attemptedAt,
          status: outcome.result.status ?? null,
          error: outcome.result.error,
          state: outcome.step.state,
          nextAttemptAt: outcome.step.nextAttemptAt,
          deadReason: outcome.step.state === 'dead' ? outcome.step.reason : null,
        };
    await recordAttempts(this.db, [record]);
  }

  private release(deliveryIds: string[]): void {
    releaseLeases(this.db, deliveryIds).catch((error: unknown) =>
      this.logger.warn({ err: error }, 'could not release leases; they expire by themselves'),
    );
  }
}
