/**
 * Batches deliveries bound for the state table. A delivery counts as settled
 * only once its row is committed, so a write that fails is retried (with
 * backoff) until it succeeds or the process stops: the slot does not move
 * past it in the meantime, and nothing is lost.
 */
import type { Logger } from 'pino';
import { insertDeliveries, type NewDelivery } from '../state/deliveries.js';
import type { StateDb } from '../state/db.js';

interface Waiting {
  delivery: NewDelivery;
  committed: () => void;
}

const MAX_BATCH = 500;
const MAX_BACKOFF_MS = 5_000;

export class StateWriter {
  private buffer: Waiting[] = [];
  private flushing: Promise<void> | null = null;
  private stopped = false;

  constructor(
    private readonly db: StateDb,
    private readonly logger: Logger,
  ) {}

  /** Rows accepted but not yet committed. */
  get backlog(): number {
    return this.buffer.length;
  }

  /** Resolves once the row is committed. */
  write(delivery: NewDelivery): Promise<void> {
    return new Promise((committed) => {
      this.buffer.push({ delivery, committed });
      if (!this.flushing) this.flushing = this.flushLoop();
    });
  }

  /** Waits for everything accepted so far to be committed. */
  async drain(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  stop(): void {
    this.stopped = true;
  }

  private async flushLoop(): Promise<void> {
    let backoffMs = 100;
    // Let the rows of the current tick join the batch.
    await new Promise((resolve) => setImmediate(resolve));
    while (this.buffer.length > 0 && !this.stopped) {
      const batch = this.buffer.slice(0, MAX_BATCH);
      try {
        await insertDeliveries(this.db, batch.map((w) => w.delivery));
        this.buffer.splice(0, batch.length);
        for (const waiting of batch) waiting.committed();
        backoffMs = 100;
      } catch (error) {
        this.logger.error({ err: error, rows: batch.length, retryInMs: backoffMs }, 'state table write failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, backoffMs));
        backoffMs = Math.min(backoffMs * 2, MAX_BACKOFF_MS);
      }
    }
    this.flushing = null;
  }
}
