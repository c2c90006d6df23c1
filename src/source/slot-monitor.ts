/**
 * Watches the slot from the CRM's side, because a slot that stops moving
 * keeps WAL on the CRM's disk: retained WAL, lag, and wal_status. Warns above
 * a threshold, and when the slot is lost says what happened and what to do.
 */
import type pg from 'pg';
import { parseLsn, type Lsn } from './lsn.js';
import { lostSlot } from './setup.js';
import type { Logger } from 'pino';

export interface SlotHealth {
  /** null when the slot does not exist. */
  walStatus: string | null;
  /** Current WAL position − confirmed position. */
  lagBytes: number | null;
  /** The slot's confirmed position (confirmed_flush_lsn), null before any. */
  confirmedLsn: Lsn | null;
  /** Current WAL position − restart position: what the server keeps for the slot. */
  retainedWalBytes: number | null;
  /** WAL that can still be written before the slot is in danger of being lost (max_slot_wal_keep_size), or null when unbounded. */
  safeWalBytes: number | null;
}

const UNKNOWN: SlotHealth = { walStatus: null, lagBytes: null, confirmedLsn: null, retainedWalBytes: null, safeWalBytes: null };

export async function readSlotHealth(client: pg.Pool | pg.ClientBase, slot: string): Promise<SlotHealth> {
  const { rows } = await client.query<{ wal_status: string; lag: number | null; confirmed: string | null; retained: number | null; safe: number | null }>(
    `SELECT wal_status, confirmed_flush_lsn::text AS confirmed,
            pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::float8 AS lag,
            pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::float8 AS retained,
            safe_wal_size::float8 AS safe
       FROM pg_replication_slots WHERE slot_name = $1`,
    [slot],
  );
  const row = rows[0];
  if (!row) return UNKNOWN;
  return {
    walStatus: row.wal_status,
    lagBytes: row.lag,
    confirmedLsn: row.confirmed === null ? null : parseLsn(row.confirmed),
    retainedWalBytes: row.retained,
    safeWalBytes: row.safe,
  };
}

/** The operator's instructions for a lost slot, for logs and readiness (the same words as at start-up). */
export function lostSlotMessage(slot: string): string {
  const { problem, fix } = lostSlot(slot);
  return `${problem}. walhook stays unready. To recover: ${fix}.`;
}

/** The operator's instructions for a slot dropped under a running walhook, which does not recreate it on its own. */
export function droppedSlotMessage(slot: string): string {
  return (
    `replication slot '${slot}' no longer exists: it was dropped while walhook was running, and changes made since then ` +
    `cannot be streamed. walhook does not recreate it behind your back and stays unready. To recover: run walhook recover ` +
    `(it recreates the slot and backfills the rows changed since the last settled change), or restart walhook ` +
    `(it recreates the slot when source.createSlot is true) and backfill the changes made since the slot was dropped.`
  );
}

export class SlotMonitor {
  private timer: NodeJS.Timeout | null = null;
  private health: SlotHealth = UNKNOWN;
  private warned = false;
  private reportedLost = false;
  /** Whether the slot existed at some check: only then does its absence mean it was dropped (not yet created). */
  private seen = false;
  private reportedDropped = false;

  constructor(
    private readonly client: pg.Pool | pg.ClientBase,
    private readonly slot: string,
    private readonly options: { intervalMs: number; retainedWalWarnBytes: number },
    private readonly logger: Logger,
    /** Once per loss: the check that first found the slot lost. */
    private readonly onLost: () => void = () => undefined,
  ) {}

  get latest(): SlotHealth {
    return this.health;
  }

  get lost(): boolean {
    return this.health.walStatus === 'lost';
  }

  /** Why the slot cannot be streamed (lost or dropped), as the operator's instructions; null while it can. */
  get problem(): string | null {
    if (this.lost) return lostSlotMessage(this.slot);
    if (this.seen && this.health.walStatus === null) return droppedSlotMessage(this.slot);
    return null;
  }

  async start(): Promise<void> {
    await this.check();
    this.timer = setInterval(() => void this.check(), this.options.intervalMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  async check(): Promise<SlotHealth> {
    try {
      this.health = await readSlotHealth(this.client, this.slot);
    } catch (error) {
      this.logger.warn({ err: error, slot: this.slot }, 'could not read the slot state');
      return this.health;
    }
    const { walStatus, retainedWalBytes } = this.health;
    if (walStatus === 'lost' && !this.reportedLost) {
      this.reportedLost = true;
      this.logger.error({ slot: this.slot, walStatus }, lostSlotMessage(this.slot));
      this.onLost();
    }
    if (walStatus !== 'lost') this.reportedLost = false;
    if (walStatus !== null) {
      this.seen = true;
      this.reportedDropped = false;
    } else if (this.seen && !this.reportedDropped) {
      this.reportedDropped = true;
      this.logger.error({ slot: this.slot }, droppedSlotMessage(this.slot));
    }
    const over = retainedWalBytes !== null && retainedWalBytes > this.options.retainedWalWarnBytes;
    if (over && !this.warned) {
      this.logger.warn(
        { slot: this.slot, retainedWalBytes, thresholdBytes: this.options.retainedWalWarnBytes, walStatus },
        'the slot retains more WAL than slotSafety.retainedWalWarnBytes: deliveries are falling behind or walhook is not reading',
      );
    }
    this.warned = over;
    return this.health;
  }
}
