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
import type { WebhookRegistry } from './registry.js';

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
      void releaseLeases(this.db, [delivery.id]);
      return;
    }
    const endpoint = this.dispatcher.endpoint(webhook.id);
    this.waiting.add(delivery.id);
    void endpoint.queue.add(async () => {
      if (this.stopped) return;
      this.waiting.delete(delivery.id);
      const job = {
        id: delivery.id,
        body: delivery.body,
        eventId: delivery.eventId,
        commitTime: delivery.commitTime.toISOString(),
        commitLsn: delivery.commitLsn,
      };
      const result = await this.dispatcher.attempt(webhook, job);
      const attempt = delivery.attempts + 1;
      const attemptedAt = new Date();
      const base = { deliveryId: delivery.id, attempt, attemptedAt, durationMs: result.durationMs };
      let record: AttemptRecord;
      if (result.outcome === 'success') {
        endpoint.failing = false;
        record = { ...base, status: result.status, error: null, state: 'delivered', nextAttemptAt: null, deadReason: null };
      } else {
        const step = await this.dispatcher.afterFailure(webhook, job, result, attempt, attemptedAt);
        record = {
          ...base,
          status: result.status ?? null,
          error: result.error,
          state: step.state,
          nextAttemptAt: step.nextAttemptAt,
          deadReason: step.state === 'dead' ? step.reason : null,
        };
      }
      await recordAttempts(this.db, [record]).catch((error: unknown) =>
        // The lease expires and the row is attempted again: a duplicate, never a loss.
        this.logger.error({ err: error, deliveryId: delivery.id }, 'could not record a delivery attempt'),
      );
    });
  }
}
