/**
 * How far the slot's changes are known to be settled, in time: the commit
 * time of the last transaction the watermark confirmed. When PostgreSQL
 * invalidates the slot, the changes committed after it are the gap that
 * `walhook recover` backfills. Written on a timer, not per transaction: a
 * stale value is earlier, which only widens the recovery's window.
 */
import type { StateDb } from './db.js';

export interface SettledPoint {
  commitTime: Date;
  /** End LSN of that transaction, as PostgreSQL writes it (`0/16B3748`). */
  commitLsn: string;
}

export async function readSettledPoint(db: StateDb, slot: string): Promise<SettledPoint | null> {
  const { rows } = await db.pool.query<{ last_commit_time: Date; last_commit_lsn: string }>(
    `SELECT last_commit_time, last_commit_lsn::text FROM ${db.schema}.slot_progress WHERE slot = $1`,
    [slot],
  );
  const row = rows[0];
  return row ? { commitTime: row.last_commit_time, commitLsn: row.last_commit_lsn } : null;
}

/** Never moves back: an older point (a former leader's last write after a takeover) leaves the newer one. */
export async function saveSettledPoint(db: StateDb, slot: string, point: { commitTime: string; commitLsn: string }): Promise<void> {
  await db.pool.query(
    `INSERT INTO ${db.schema}.slot_progress (slot, last_commit_time, last_commit_lsn) VALUES ($1, $2, $3::pg_lsn)
     ON CONFLICT (slot) DO UPDATE SET last_commit_time = excluded.last_commit_time, last_commit_lsn = excluded.last_commit_lsn, updated_at = now()
      WHERE ${db.schema}.slot_progress.last_commit_lsn <= excluded.last_commit_lsn`,
    [slot, point.commitTime, point.commitLsn],
  );
}

/**
 * Keeps the latest settled point in memory and writes it every `intervalMs`
 * when it moved, and once more at `stop()`.
 */
export class SettledPointWriter {
  private latest: { commitTime: string; commitLsn: string } | null = null;
  private written: string | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly db: StateDb,
    private readonly slot: string,
    private readonly onError: (error: unknown) => void,
  ) {}

  note(commitTime: string, commitLsn: string): void {
    this.latest = { commitTime, commitLsn };
  }

  start(intervalMs: number): void {
    this.timer = setInterval(() => void this.flush(), intervalMs);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.flush();
  }

  async flush(): Promise<void> {
    const point = this.latest;
    if (!point || point.commitLsn === this.written) return;
    try {
      await saveSettledPoint(this.db, this.slot, point);
      this.written = point.commitLsn;
    } catch (error) {
      this.onError(error);
    }
  }
}
