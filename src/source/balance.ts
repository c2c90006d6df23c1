/**
 * Sharing streaming partitions (source.partitions > 1) among the replicas
 * alive: each replica claims at most ⌈partitions / live replicas⌉, so the
 * partitions spread when one joins and gather on the survivors when one
 * leaves or dies; and while every partition is held, a replica holding two
 * more than the least loaded one hands one over, so the counts end up
 * differing by one at most (4 over 3 replicas: 2, 1, 1). Nothing here is home-made coordination beyond rows in the
 * state schema: live replicas are heartbeat rows (state/replicas.ts), and each
 * partition is the lease of its slot, taken and renewed by a LeaderElection
 * (source/leader.ts). The slot's own exclusivity stays the hard guard.
 *
 * Per partition a claim moves through `standby` (may take the lease while
 * under quota) → `leading` → `handing-over` (over quota: the stream stops,
 * then the lease is released and this replica rests before trying again)
 * → `standby`. A lease lost (taken, or not renewed in time) or given up (a
 * leader that could not prepare its slot) goes back to `standby` from anywhere.
 */
import type pg from 'pg';
import type { Logger } from 'pino';
import { beat, leave, type LiveReplica } from '../state/replicas.js';

/** The most partitions one replica claims while `liveReplicas` are alive. */
export function partitionQuota(partitions: number, liveReplicas: number): number {
  return Math.ceil(partitions / Math.max(1, liveReplicas));
}

/** The partitions to hand over, of those held: beyond the quota, the highest indices (a stable choice). */
export function surplusPartitions(held: number[], quota: number): number[] {
  return [...held].sort((a, b) => a - b).slice(Math.max(0, quota));
}

/**
 * What replica `replica`, holding `held`, hands over this round: what is
 * beyond its quota; else, while every partition is held and it holds two
 * more than the least loaded replica, one partition if it is the most
 * loaded (the greatest id among equals, so that one replica moves at a time).
 */
export function partitionsToHandOver(replica: string, held: number[], others: readonly LiveReplica[], partitions: number): number[] {
  const surplus = surplusPartitions(held, partitionQuota(partitions, others.length + 1));
  if (surplus.length > 0) return surplus;
  const counts = [...others, { id: replica, held: held.length }];
  const free = partitions - counts.reduce((total, count) => total + count.held, 0);
  const least = Math.min(...counts.map((count) => count.held));
  if (free > 0 || held.length - least < 2) return [];
  const most = counts.reduce((a, b) => (b.held > a.held || (b.held === a.held && b.id > a.id) ? b : a));
  return most.id === replica ? surplusPartitions(held, held.length - 1) : [];
}

// ---- the claim of one partition: modes and transitions, no I/O ----

export type ClaimMode = 'standby' | 'leading' | 'handing-over';

export type ClaimEvent =
  /** This replica took the partition's lease. */
  | 'elected'
  /** The lease is gone (taken over, run out, or released). */
  | 'lost'
  /** A balance round found this partition beyond the quota. */
  | 'surplus'
  /** Its stream stopped and its lease was handed back. */
  | 'handed-over';

/** What the transition asks the I/O side to do: stop streaming the partition and release its lease. */
export type ClaimEffect = 'hand-over' | null;

export function nextClaim(mode: ClaimMode, event: ClaimEvent): { mode: ClaimMode; effect: ClaimEffect } {
  switch (event) {
    case 'elected':
      return { mode: 'leading', effect: null };
    case 'lost':
      return { mode: 'standby', effect: null };
    case 'surplus':
      return mode === 'leading' ? { mode: 'handing-over', effect: 'hand-over' } : { mode, effect: null };
    case 'handed-over':
      return { mode: mode === 'handing-over' ? 'standby' : mode, effect: null };
  }
}

/** Whether a partition's election may try to take its lease now: standing by, with room under the quota for one more. */
export function mayClaim(mode: ClaimMode, held: number, claiming: number, quota: number | null): boolean {
  return mode === 'standby' && quota !== null && held + claiming < quota;
}

// ---- the I/O side ----

/** Asked by a partition's election before each attempt to take the lease; `leave` after it, saying whether it took the lease. */
export interface ClaimGate {
  enter(): boolean;
  leave(took: boolean): void;
}

export interface BalancerOptions {
  /** The state database. */
  db: Pick<pg.Pool, 'query'>;
  /** The state schema, quoted for SQL text. */
  schema: string;
  /** This replica, as the leases' holder column names it. */
  replica: string;
  /** The partitions' lease names, in partition order. */
  leaseNames: string[];
  /** How often the heartbeat is renewed (and the balance looked at). */
  intervalMs: number;
  /** How long a heartbeat lasts without renewal: a dead replica is counted out after it. */
  ttlMs: number;
  /** Stop streaming partition `index` and hand its lease back; resolves once done. */
  handOver: (index: number) => Promise<void>;
  /** Fewer replicas are alive than at the last heartbeat: partitions handed over may be taken back at once. */
  replicaLeft: () => void;
}

export class PartitionBalancer {
  private readonly modes: ClaimMode[];
  private live: number | null = null;
  private claiming = 0;
  private timer: NodeJS.Timeout | null = null;
  private busy = false;
  private error: string | null = null;

  constructor(
    private readonly options: BalancerOptions,
    private readonly logger: Logger,
  ) {
    this.modes = options.leaseNames.map(() => 'standby' as const);
  }

  /** Replicas alive at the last heartbeat, this one included; null before the first. */
  get liveReplicas(): number | null {
    return this.live;
  }

  /** The most partitions this replica claims now; null before the first heartbeat (it claims none). */
  get quota(): number | null {
    return this.live === null ? null : partitionQuota(this.modes.length, this.live);
  }

  get held(): number[] {
    return this.modes.flatMap((mode, index) => (mode === 'leading' ? [index] : []));
  }

  modeOf(index: number): ClaimMode {
    return this.modes[index] ?? 'standby';
  }

  gateFor(index: number): ClaimGate {
    return {
      enter: () => {
        if (!mayClaim(this.modeOf(index), this.held.length, this.claiming, this.quota)) return false;
        this.claiming++;
        return true;
      },
      leave: (took) => {
        this.claiming = Math.max(0, this.claiming - 1);
        // Counted as held at once, before the election announces it, so no other attempt passes the quota meanwhile.
        if (took) this.apply(index, 'elected');
      },
    };
  }

  lost(index: number): void {
    this.apply(index, 'lost');
  }

  async start(): Promise<void> {
    await this.round();
    this.timer = setInterval(() => void this.round(), this.options.intervalMs);
  }

  /** Stops beating and counts this replica out at once (its leases are released by their elections). */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await leave(this.options.db, this.options.schema, this.options.replica).catch((error: unknown) =>
      this.logger.warn({ err: error, replica: this.options.replica }, 'could not remove the replica heartbeat; it expires on its own'),
    );
  }

  /** One heartbeat and one look at the balance. */
  private async round(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    const { replica } = this.options;
    let others: LiveReplica[];
    try {
      others = await beat(this.options.db, this.options.schema, replica, this.options.ttlMs, this.options.leaseNames);
      this.error = null;
    } catch (error) {
      const text = (error as Error).message;
      if (text !== this.error) this.logger.warn({ err: error, replica }, 'partitions: could not renew the replica heartbeat; will retry');
      this.error = text;
      return;
    } finally {
      this.busy = false;
    }
    const live = others.length + 1;
    if (live !== this.live) this.logger.info({ replica, liveReplicas: live, quota: partitionQuota(this.modes.length, live) }, 'partitions: live replicas changed');
    // A partition handed over rests on this replica (HAND_OVER cooldown); the one that took it may be what just died.
    if (this.live !== null && live < this.live) this.options.replicaLeft();
    this.live = live;
    for (const index of partitionsToHandOver(replica, this.held, others, this.modes.length)) {
      if (this.apply(index, 'surplus') !== 'hand-over') continue;
      this.logger.info({ replica, partition: index, quota: this.quota, liveReplicas: live }, 'partitions: handing a partition over to balance the replicas');
      void this.options.handOver(index).finally(() => this.apply(index, 'handed-over'));
    }
  }

  private apply(index: number, event: ClaimEvent): ClaimEffect {
    const { mode, effect } = nextClaim(this.modeOf(index), event);
    this.modes[index] = mode;
    return effect;
  }
}
