/**
 * Retention of the state table: delivered and dead deliveries (whose bodies
 * are the CRM's personal data) and attempt history are deleted once they are
 * older than the configured periods, so the table stays bounded by what
 * arrives in one retention period. Pending and retrying deliveries are never
 * touched: they are what at-least-once depends on.
 *
 * Deletion runs in batches of `batchSize` rows per statement (each its own
 * transaction, `SKIP LOCKED`, so a row a replica is working on is left for the
 * next pass), so no statement holds locks on many rows or for long. Every
 * instance may run it: the statements are idempotent. A removed webhook's
 * deliveries go the same way once they are dead letters (webhook_removed).
 */
import type { Logger } from '../common/log.js';
import type { StateDb } from './db.js';

export interface RetentionPolicy {
  deliveredMs: number;
  deadMs: number;
  attemptsMs: number;
  batchSize: number;
}

export interface PurgeCounts {
  delivered: number;
  dead: number;
  attempts: number;
}

/** A pass stops after this many statements per kind, so one pass is bounded too; the next pass continues. */
const MAX_BATCHES_PER_PASS = 1_000;

/** Deletes in batches until fewer than a batch is left (or the pass bound is reached); returns how many rows went. */
async function deleteInBatches(db: StateDb, statement: string, values: unknown[], batchSize: number): Promise<number> {
  let deleted = 0;
  for (let batch = 0; batch < MAX_BATCHES_PER_PASS; batch++) {
    const { rowCount } = await db.pool.query(statement, [...values, batchSize]);
    deleted += rowCount ?? 0;
    if ((rowCount ?? 0) < batchSize) break;
  }
  return deleted;
}

/** One retention pass. Ages are measured on the database's clock, as the rows' timestamps are. */
export async function purgeExpired(db: StateDb, policy: RetentionPolicy): Promise<PurgeCounts> {
  const s = db.schema;
  const settled = `
    DELETE FROM ${s}.deliveries WHERE id IN (
      SELECT id FROM ${s}.deliveries
      WHERE state = $1 AND updated_at < now() - $2 * interval '1 millisecond'
      ORDER BY updated_at
      LIMIT $3
      FOR UPDATE SKIP LOCKED)`;
  // Attempts of the deleted deliveries go with them (ON DELETE CASCADE); this is the history of the rest.
  const attempts = `
    DELETE FROM ${s}.delivery_attempts WHERE id IN (
      SELECT id FROM ${s}.delivery_attempts
      WHERE attempted_at < now() - $1 * interval '1 millisecond'
      ORDER BY attempted_at
      LIMIT $2
      FOR UPDATE SKIP LOCKED)`;
  return {
    delivered: await deleteInBatches(db, settled, ['delivered', policy.deliveredMs], policy.batchSize),
    dead: await deleteInBatches(db, settled, ['dead', policy.deadMs], policy.batchSize),
    attempts: await deleteInBatches(db, attempts, [policy.attemptsMs], policy.batchSize),
  };
}

/** Runs `purgeExpired` every `intervalMs` (the first pass right after start) until stopped. */
export class RetentionWorker {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;

  constructor(
    private readonly db: StateDb,
    private readonly policy: RetentionPolicy,
    private readonly intervalMs: number,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.pass().finally(() => {
        this.running = null;
        this.schedule(this.intervalMs);
      });
    }, delayMs);
    this.timer.unref();
  }

  private async pass(): Promise<void> {
    try {
      const counts = await purgeExpired(this.db, this.policy);
      if (counts.delivered + counts.dead + counts.attempts > 0) this.logger.info({ ...counts }, 'retention: deleted expired deliveries and attempts');
    } catch (error) {
      this.logger.warn({ err: error }, 'retention pass failed; retrying at the next interval');
    }
  }
}
