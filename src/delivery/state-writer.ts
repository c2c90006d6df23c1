/**
 * Batches deliveries bound for the state table. A delivery counts as settled
 * only once its row is committed, so a write that fails is retried (with
 * backoff) until it succeeds or the process stops: the slot does not move
 * past it in the meantime, and nothing is lost. At shutdown the wait for
 * the writes is bounded (`drain`): what is still unwritten then was never
 * confirmed, so it is streamed again after a restart.
 */
import type { Logger } from 'pino';
import { insertDeliveries, type NewDelivery } from '../state/deliveries.js';
import type { StateDb } from '../state/db.js';

interface Waiting {
  delivery: NewDelivery;
  committed: () => void;
}

const MAX_BATCH_ROWS = 500;
/** Bodies per INSERT at most (a single larger row goes alone): PostgreSQL refuses messages of 1 GB. */
const MAX_BATCH_BYTES = 16 * 1024 * 1024;
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

  /**
   * Waits up to `timeoutMs` for everything accepted so far to be committed;
   * false when the time ran out first (the state database is unreachable).
   */
  async drain(timeoutMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    const drained = (async () => {
      while (this.flushing) await this.flushing;
      return true as const;
    })();
    try {
      return await Promise.race([drained, timedOut]);
    } finally {
      clearTimeout(timer);
    }
  }

  stop(): void {
    this.stopped = true;
  }

  private nextBatch(): Waiting[] {
    let bytes = 0;
    let count = 0;
    for (const waiting of this.buffer) {
      bytes += waiting.delivery.body.length;
      if (count > 0 && (count >= MAX_BATCH_ROWS || bytes > MAX_BATCH_BYTES)) break;
      count++;
    }
    return this.buffer.slice(0, count);
  }

  private async flushLoop(): Promise<void> {
    let backoffMs = 100;
    // Let the rows of the current tick join the batch.
    await new Promise((resolve) => setImmediate(resolve));
    while (this.buffer.length > 0 && !this.stopped) {
      const batch = this.nextBatch();
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
