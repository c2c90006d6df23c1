/**
 * Leadership of the slot among replicas: a lease row in walhook's own state
 * schema (see state/leases.ts). A standby tries to take it every interval;
 * the holder renews it every interval and stops streaming on its own when it
 * could not renew for `leaseMs − marginMs` — before the server lets anyone
 * else take it, whatever happened to the network in between. A leader that
 * dies or is cut off is replaced once its lease expires on the server's clock
 * (a few seconds), not when the server notices its sessions are gone.
 *
 * The hard guard against two streamers is the slot itself: PostgreSQL lets one
 * walsender stream a slot at a time. A new leader whose predecessor's lease
 * ran out ends that predecessor's walsender if it still holds the slot (a cut
 * off leader's walsender otherwise lingers until wal_sender_timeout); when
 * its role may not, the stream retries until the server frees the slot.
 *
 * Only roles with rights on the state schema can read, take or lock the
 * lease: a login that merely reaches the database cannot stop streaming.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import type { Logger } from 'pino';
import {
  readLease,
  releaseLease,
  renewLease,
  slotLeaseName,
  tryAcquireLease,
  type Acquired,
  type LeaseRecord,
  type LeaseView,
} from '../state/leases.js';
import type { ClaimGate } from './balance.js';

export interface LeaseTiming {
  /** How long a taken or renewed lease lasts on the server. */
  leaseMs: number;
  /** The holder stops streaming when it could not renew for leaseMs − marginMs. */
  marginMs: number;
  /** How often the holder renews and a standby tries to take the lease. */
  intervalMs: number;
}

/** Kill -9 of a leader: a standby streams within about leaseMs + intervalMs. */
export const DEFAULT_LEASE_TIMING: LeaseTiming = { leaseMs: 6_000, marginMs: 2_000, intervalMs: 1_000 };

/** No instance renewing the lease for this long is a readiness problem on every instance (a takeover takes about leaseMs + intervalMs). */
export const NO_LEADER_BOUND_MS = 15_000;

/** How long the old walsender has to exit after it is told to. */
const TERMINATE_WAIT_MS = 3_000;

// ---- the state machine: modes and transitions, no I/O ----

export type Leadership =
  | { mode: 'stopped' }
  /** Tries to take the lease, not before `notBefore` (monotonic ms; after resigning). */
  | { mode: 'standby'; notBefore: number }
  /** Holds lease `term`; streams until `validUntil` (monotonic ms) unless renewed. */
  | { mode: 'leading'; term: number; validUntil: number };

export type LeadershipEvent =
  | { type: 'start' }
  /** The lease was taken with a statement sent at `sentAt`; `now` is when the answer came. */
  | { type: 'acquired'; term: number; sentAt: number; now: number }
  | { type: 'renewed'; term: number; sentAt: number }
  /** A renewal found the lease no longer this instance's. */
  | { type: 'refused'; term: number }
  | { type: 'clock'; now: number }
  | { type: 'resign'; now: number; cooldownMs: number }
  /** The reason to rest after resigning is gone (the replica it handed over to left): try again at once. */
  | { type: 'rest-over' }
  | { type: 'stop' };

/** What the transition asks the I/O side to do: announce, stop streaming, hand the lease back. */
export type LeadershipEffect = 'elected' | 'lost' | 'release' | null;

export interface LeadershipTransition {
  state: Leadership;
  effect: LeadershipEffect;
}

export function nextLeadership(state: Leadership, event: LeadershipEvent, timing: LeaseTiming): LeadershipTransition {
  const stay = { state, effect: null };
  const validity = timing.leaseMs - timing.marginMs;
  if (event.type === 'stop') return { state: { mode: 'stopped' }, effect: state.mode === 'leading' ? 'release' : null };
  switch (state.mode) {
    case 'stopped':
      return event.type === 'start' ? { state: { mode: 'standby', notBefore: 0 }, effect: null } : stay;
    case 'standby':
      if (event.type === 'rest-over') return { state: { mode: 'standby', notBefore: 0 }, effect: null };
      if (event.type !== 'acquired') return stay;
      // Taken too slowly to be of use: let it run out rather than stream on borrowed time.
      if (event.now >= event.sentAt + validity) return stay;
      return { state: { mode: 'leading', term: event.term, validUntil: event.sentAt + validity }, effect: 'elected' };
    case 'leading':
      switch (event.type) {
        case 'renewed':
          if (event.term !== state.term) return stay;
          return { state: { ...state, validUntil: Math.max(state.validUntil, event.sentAt + validity) }, effect: null };
        case 'refused':
          return event.term === state.term ? { state: { mode: 'standby', notBefore: 0 }, effect: 'lost' } : stay;
        case 'clock':
          return event.now >= state.validUntil ? { state: { mode: 'standby', notBefore: 0 }, effect: 'lost' } : stay;
        case 'resign':
          return { state: { mode: 'standby', notBefore: event.now + event.cooldownMs }, effect: 'release' };
        default:
          return stay;
      }
  }
}

// ---- what an instance knows of the lease, for metrics and readiness ----

export interface LeaseReading {
  record: LeaseRecord | null;
  /** Monotonic ms of the read. */
  at: number;
}

/**
 * The lease as of `now`, from the last reading, whose server-side ages are
 * advanced by the time since. A lease nobody ever took counts as unrenewed
 * since this instance began watching (`watchingSince`).
 */
export function leaseViewAt(reading: LeaseReading | null, held: boolean, error: string | null, now: number, watchingSince: number): LeaseView {
  const record = reading?.record ?? null;
  if (!reading || !record) return { held, holder: null, secondsSinceRenewal: (now - watchingSince) / 1000, expired: !held, error };
  const elapsed = (now - reading.at) / 1000;
  return {
    held,
    holder: record.holder,
    secondsSinceRenewal: record.secondsSinceRenewal + elapsed,
    expired: !held && (record.expired || record.secondsUntilExpiry - elapsed <= 0),
    error,
  };
}

/**
 * Whether a standby should try to take the lease now: not while the last
 * reading shows another holder whose lease has not run out by now. An
 * attempt that cannot succeed would still take a place under the partition
 * quota (balance.ts), and elections that tick in the same order every
 * second would keep spending it on partitions the other replica still
 * holds, while the ones it just released wait.
 */
export function mayTryLease(reading: LeaseReading | null, holder: string, now: number): boolean {
  const view = leaseViewAt(reading, false, null, now, now);
  return view.expired || view.holder === holder;
}

/** The readiness problem when no instance has renewed the lease for longer than `boundMs`. */
export function noLeaderProblem(view: LeaseView, slot: string, boundMs: number): string | null {
  const silentMs = view.secondsSinceRenewal * 1000;
  if (view.held || silentMs <= boundMs) return null;
  const who = view.holder === null ? 'it was never taken' : `last holder ${view.holder}${view.expired ? ', expired' : ''}`;
  const why = view.error === null ? '' : `; taking it fails: ${view.error}`;
  return (
    `no walhook instance has renewed the leadership lease of slot '${slot}' for ${Math.round(silentMs / 1000)} s (${who}${why}): ` +
    'nobody streams the slot and changes wait in it'
  );
}

// ---- the I/O side ----

export interface LeaderEvents {
  elected: [];
  /** The lease is gone or could not be renewed in time: stop streaming now. */
  lost: [error: Error];
}

export interface LeaderOptions {
  /** The state database: where the lease lives. */
  stateConnectionString: string;
  /** The state schema, quoted for SQL text. */
  schema: string;
  /** The CRM database, where the slot is (to end a stale walsender at takeover). */
  crm: pg.Pool;
  slot: string;
  timing?: LeaseTiming;
  /** This instance's name as the lease's holder; one of its own when absent. */
  holder?: string;
  /** Asked before each attempt to take the lease (partitions shared by replicas, source/balance.ts); always tried when absent. */
  gate?: ClaimGate;
}

/** A name for this process, as the leases' holder column and metrics show it. */
export function instanceName(): string {
  return `${hostname()}/${process.pid}/${randomBytes(3).toString('hex')}`;
}

export class LeaderElection extends EventEmitter<LeaderEvents> {
  private state: Leadership = { mode: 'stopped' };
  private readonly timing: LeaseTiming;
  private readonly name: string;
  /** This instance, as the lease's holder column and metrics name it. */
  readonly holder: string;
  private client: pg.Client | null = null;
  private timer: NodeJS.Timeout | null = null;
  private deadline: NodeJS.Timeout | null = null;
  private busy = false;
  /** The tick under way: stop() waits for it, so a lease taken by an attempt already sent is released, not left to run out. */
  private ticking: Promise<void> | null = null;
  private reading: LeaseReading | null = null;
  private error: string | null = null;
  private watchingSince = performance.now();

  constructor(
    private readonly options: LeaderOptions,
    private readonly logger: Logger,
  ) {
    super();
    this.timing = options.timing ?? DEFAULT_LEASE_TIMING;
    this.name = slotLeaseName(options.slot);
    this.holder = options.holder ?? instanceName();
  }

  get isLeader(): boolean {
    return this.state.mode === 'leading';
  }

  /** What this instance knows of the lease now. */
  get lease(): LeaseView {
    return leaseViewAt(this.reading, this.isLeader, this.error, performance.now(), this.watchingSince);
  }

  /** Why nobody is streaming, for /readyz on every instance; null while some instance renews the lease. */
  get problem(): string | null {
    return noLeaderProblem(this.lease, this.options.slot, NO_LEADER_BOUND_MS);
  }

  start(): void {
    this.watchingSince = performance.now();
    this.apply({ type: 'start' });
    void this.tick();
    this.timer = setInterval(() => void this.tick(), this.timing.intervalMs);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.ticking;
    const held = this.state.mode === 'leading' ? this.state.term : null;
    this.apply({ type: 'stop' });
    if (held !== null) await this.release(held);
    this.dropClient();
  }

  /**
   * Gives the lease up (e.g. this instance could not prepare the slot) and
   * waits `cooldownMs` before trying again, so another replica gets a turn.
   */
  resign(cooldownMs: number): void {
    if (this.state.mode !== 'leading') return;
    const term = this.state.term;
    this.apply({ type: 'resign', now: performance.now(), cooldownMs });
    this.logger.warn({ slot: this.options.slot, cooldownMs }, 'leader: resigned the slot lease');
    void this.release(term);
  }

  /** Ends the rest after a resignation: the replica this one handed the lease to is gone. */
  endRest(): void {
    this.apply({ type: 'rest-over' });
  }

  /** The one place transitions happen; their effects follow. */
  private apply(event: LeadershipEvent): LeadershipEffect {
    const { state, effect } = nextLeadership(this.state, event, this.timing);
    this.state = state;
    if (this.deadline) clearTimeout(this.deadline);
    this.deadline = null;
    if (state.mode === 'leading') {
      // Checked on time even while a renewal hangs on a cut-off network.
      this.deadline = setTimeout(() => this.apply({ type: 'clock', now: performance.now() }), Math.max(0, state.validUntil - performance.now()));
    }
    if (effect === 'lost') {
      const reason = event.type === 'refused' ? 'the lease was taken over or ran out' : `not renewed within ${this.timing.leaseMs - this.timing.marginMs} ms`;
      this.logger.error({ slot: this.options.slot, holder: this.holder, lastError: this.error }, `leader: lost the slot lease (${reason}); stopped streaming`);
      this.emit('lost', new Error(`slot lease lost: ${reason}`));
    }
    return effect;
  }

  private async tick(): Promise<void> {
    if (this.busy || this.state.mode === 'stopped') return;
    this.busy = true;
    const run = (async () => {
      this.apply({ type: 'clock', now: performance.now() });
      const state = this.state;
      if (state.mode === 'leading') await this.renew(state.term);
      else if (state.mode === 'standby') await this.tryAcquire(state.notBefore);
    })();
    this.ticking = run.catch(() => undefined);
    try {
      await run;
    } finally {
      this.busy = false;
      this.ticking = null;
    }
  }

  private async renew(term: number): Promise<void> {
    const sentAt = performance.now();
    try {
      const renewed = await renewLease(await this.connection(), this.options.schema, this.name, this.holder, term, this.timing.leaseMs);
      this.error = null;
      if (renewed) {
        this.readOwn(term, sentAt);
        this.apply({ type: 'renewed', term, sentAt });
      } else {
        this.apply({ type: 'refused', term });
      }
    } catch (error) {
      this.failed(error, 'could not renew the slot lease; retrying until it runs out');
    }
  }

  /** What a successful take or renewal sent at `sentAt` says of the lease. */
  private readOwn(term: number, sentAt: number): void {
    const seconds = this.timing.leaseMs / 1000;
    const record = { holder: this.holder, term, secondsSinceRenewal: 0, secondsUntilExpiry: seconds, expired: false, released: false };
    this.reading = { record, at: sentAt };
  }

  private async tryAcquire(notBefore: number): Promise<void> {
    // The gate (partitions shared by replicas) hears whether this attempt made the instance lead, before anything else runs.
    const gate = this.options.gate;
    const now = performance.now();
    const trying = now >= notBefore && mayTryLease(this.reading, this.holder, now) && (gate?.enter() ?? true);
    let elected = false;
    try {
      const client = await this.connection();
      const sentAt = performance.now();
      const acquired = trying ? await tryAcquireLease(client, this.options.schema, this.name, this.holder, this.timing.leaseMs) : null;
      if (acquired) {
        this.error = null;
        this.readOwn(acquired.term, sentAt);
        elected = this.apply({ type: 'acquired', term: acquired.term, sentAt, now: performance.now() }) === 'elected';
        if (elected) void this.takeOver(acquired);
        return;
      }
      // A plain read, which row locks do not block: who holds it, and since when nobody renewed it.
      const at = performance.now();
      this.reading = { record: await readLease(client, this.options.schema, this.name), at };
      this.error = null;
    } catch (error) {
      this.failed(error, 'could not try the slot lease; will retry');
    } finally {
      if (trying) gate?.leave(elected);
    }
  }

  /**
   * A predecessor whose lease ran out may still hold the slot through a
   * walsender the server has not noticed is orphaned (a cut-off network
   * keeps it until wal_sender_timeout). It stopped streaming before its
   * lease expired, so ending that walsender is safe; then this instance leads.
   */
  private async takeOver(acquired: Acquired): Promise<void> {
    const term = acquired.term;
    const log = { slot: this.options.slot, holder: this.holder, term, previousHolder: acquired.previousHolder };
    if (acquired.previousExpired) {
      try {
        // Bounded: an unreachable CRM database must not keep this instance from leading (its stream then retries).
        const gaveUp = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no answer')), TERMINATE_WAIT_MS * 2).unref());
        const query = this.options.crm.query<{ pid: number; ended: boolean }>(
          `SELECT active_pid AS pid, pg_terminate_backend(active_pid, $2) AS ended
             FROM pg_replication_slots WHERE slot_name = $1 AND active_pid IS NOT NULL`,
          [this.options.slot, TERMINATE_WAIT_MS],
        );
        query.catch(() => undefined);
        const { rows } = await Promise.race([query, gaveUp]);
        for (const row of rows) this.logger.warn({ ...log, pid: row.pid, ended: row.ended }, "leader: ended the walsender a previous holder left on the slot after its lease ran out");
      } catch (error) {
        this.logger.warn(
          { ...log, err: error },
          'leader: could not end the walsender a previous holder may have left on the slot; streaming starts once the server frees it (wal_sender_timeout)',
        );
      }
    }
    if (this.state.mode !== 'leading' || this.state.term !== term) return;
    this.logger.info(log, 'leader: holding the slot lease');
    this.emit('elected');
  }

  private async release(term: number): Promise<void> {
    try {
      await releaseLease(await this.connection(), this.options.schema, this.name, this.holder, term);
    } catch (error) {
      // It runs out on its own.
      this.logger.warn({ err: error, slot: this.options.slot }, 'could not release the slot lease; it expires on its own');
    }
  }

  /** Logs a failure once, not every interval while it lasts. */
  private failed(error: unknown, message: string): void {
    const text = (error as Error).message;
    if (text !== this.error) this.logger.warn({ err: error, slot: this.options.slot }, message);
    this.error = text;
    this.dropClient();
  }

  private async connection(): Promise<pg.Client> {
    if (this.client) return this.client;
    // Every wait is bounded: a renewal that hangs on a cut-off network must fail in time for another try
    // before the deadline, and one that is merely slow (a loaded server) should still get through.
    const timeoutMs = Math.max((this.timing.leaseMs - this.timing.marginMs) / 2, 1_000);
    const client = new pg.Client({
      connectionString: this.options.stateConnectionString,
      application_name: 'walhook leader lease',
      keepAlive: true,
      connectionTimeoutMillis: timeoutMs,
      query_timeout: timeoutMs,
      statement_timeout: timeoutMs,
      lock_timeout: Math.round(timeoutMs / 2),
    });
    client.on('error', () => {
      if (this.client === client) this.client = null;
    });
    try {
      await client.connect();
    } catch (error) {
      void client.end().catch(() => undefined);
      throw error;
    }
    this.client = client;
    return client;
  }

  private dropClient(): void {
    const client = this.client;
    this.client = null;
    void client?.end().catch(() => undefined);
  }
}
