/**
 * One streaming partition of `walhook start` (source.partitions; with one,
 * the whole scope through source.slot): the lease of its slot, and while
 * this instance holds it a StreamingSession with its own slot, publications,
 * watermark and stall watchdog, handing events to the delivery side the
 * partitions share. Each instance runs one per partition, leading some (or
 * all, or none) of them; the slot's health is watched whoever leads.
 */
import type pg from 'pg';
import type { Metrics, PartitionMetrics } from './api/metrics.js';
import { recoverSlot } from './backfill/recovery.js';
import { BackfillRunner } from './backfill/runner.js';
import type { Logger } from './common/log.js';
import type { PartitionTarget } from './common/partitions.js';
import type { WalhookConfig } from './config/schema.js';
import type { Dispatcher } from './delivery/dispatcher.js';
import type { Route } from './delivery/fan-out.js';
import type { FlowControl, ValveSet } from './delivery/flow-control.js';
import { mappingOptions, warnRawWorkspaceIds } from './events/setup.js';
import { StreamingSession } from './events/streaming-session.js';
import { finishEvent } from './events/twenty/shape.js';
import { decodedEvent } from './events/pending-event.js';
import type { TwentyMetadata } from './events/twenty/metadata.js';
import type { ClaimGate } from './source/balance.js';
import { LeaderElection } from './source/leader.js';
import { formatLsn, type Lsn } from './source/lsn.js';
import { slotInfo } from './source/setup.js';
import { SlotMonitor } from './source/slot-monitor.js';
import { initialWatchdog, stallProblem, watch, type WatchdogSample } from './source/watchdog.js';
import type { StateDb } from './state/db.js';
import { SettledPointWriter } from './state/slot-progress.js';

/** A leader that cannot prepare the slot steps aside this long, so another replica gets a turn. */
const RESIGN_COOLDOWN_MS = 10_000;

/** What the partitions share: the databases and the delivery side. */
export interface StreamerContext {
  config: WalhookConfig;
  crm: pg.Pool;
  state: StateDb;
  stateUrl: string;
  withCrm: <T>(work: (client: pg.PoolClient) => Promise<T>) => Promise<T>;
  dispatcher: Dispatcher;
  flow: FlowControl;
  /** The streams flow control drives. */
  valves: ValveSet;
  metrics: Metrics;
  /** Twenty's metadata as followed now, or null (columns shape, or not loaded yet). */
  twenty: () => TwentyMetadata | null;
  /** Decides the shape of records once, and follows Twenty's metadata when it is Twenty's. */
  followTwentyMetadata: () => Promise<void>;
  stopping: () => boolean;
}

export class PartitionStreamer {
  readonly leader: LeaderElection;
  readonly slotMonitor: SlotMonitor;
  /** The commit time of the last settled change, kept for `walhook recover`. */
  readonly settledPoints: SettledPointWriter;
  /** The leader-only half, one per term of leadership; null on a standby. */
  private session: StreamingSession<Route> | null = null;
  /** Runs backfills beside the session's stream, while this instance leads (one partition only). */
  private backfills: BackfillRunner | null = null;
  private setupError: string | null = null;
  private watchdog = initialWatchdog(Date.now());
  private watchdogSample: WatchdogSample | null = null;
  /** Messages the stream handed over (keepalives included): the watchdog's sign of life. */
  private received = 0;
  private changes = 0;
  /** Tells the balancer this instance no longer holds the lease (lost or given up). */
  private readonly released: () => void;

  constructor(
    private readonly context: StreamerContext,
    readonly target: PartitionTarget,
    private readonly logger: Logger,
    options: { holder?: string; gate?: ClaimGate; released?: () => void },
  ) {
    const { config, crm, state, stateUrl } = context;
    this.released = options.released ?? (() => undefined);
    this.settledPoints = new SettledPointWriter(state, target.slot, (error) =>
      logger.warn({ err: error, component: 'state', slot: target.slot }, 'could not save the commit time of the last settled change (walhook recover uses it); trying again'),
    );
    this.slotMonitor = new SlotMonitor(
      crm,
      target.slot,
      { intervalMs: config.slotSafety.checkInterval, retainedWalWarnBytes: config.slotSafety.retainedWalWarnBytes },
      logger.child({ component: 'slot' }),
      () => void this.recoverLostSlot(),
    );
    this.leader = new LeaderElection(
      { stateConnectionString: stateUrl, schema: state.schema, crm, slot: target.slot, holder: options.holder, gate: options.gate },
      logger.child({ component: 'leader' }),
    );
    this.leader.on('elected', () => void this.lead());
    this.leader.on('lost', () => {
      this.released();
      void this.stopStreaming();
    });
  }

  /** The stream while this instance streams the partition. */
  get stream() {
    return this.session?.stream ?? null;
  }

  get stalled(): boolean {
    return this.watchdog.mode === 'stalled';
  }

  get view(): PartitionMetrics {
    const health = this.slotMonitor.latest;
    return {
      partition: this.target.index,
      slot: this.target.slot,
      leading: this.leader.isLeader,
      lease: this.leader.lease,
      lagBytes: health.lagBytes,
      retainedWalBytes: health.retainedWalBytes,
      changes: this.changes,
    };
  }

  /** Where this instance has confirmed the slot (its stream), else where the server last said it was; null when unknown. */
  get confirmedLsn(): Lsn | null {
    return this.stream?.confirmedLsn ?? this.slotMonitor.latest.confirmedLsn;
  }

  /** Balance: stop streaming, then hand the lease back and rest before trying again. */
  async handOver(cooldownMs: number): Promise<void> {
    await this.stopStreaming();
    this.resign(cooldownMs);
  }

  /**
   * Hands the lease back and rests `cooldownMs`. The balancer must hear of it: a claim it still counts as
   * leading is never tried again by this replica, and with no other replica alive nobody streams the partition.
   */
  private resign(cooldownMs: number): void {
    this.leader.resign(cooldownMs);
    this.released();
  }

  /** Shutdown: reading stops; the lease is held until `leader.stop()`. */
  async stopSession(): Promise<void> {
    const confirmed = this.session?.stream?.confirmedLsn ?? 0n;
    await this.session?.stop();
    this.logger.info({ confirmedLsn: formatLsn(confirmed) }, 'stopped');
  }

  stopBackfills(): Promise<void> | undefined {
    return this.backfills?.stop();
  }

  poke(): void {
    this.backfills?.poke();
  }

  /** This partition's problems, for /readyz on every instance; the slot is checked now. */
  async problems(): Promise<string[]> {
    const problems: string[] = [];
    await this.slotMonitor.check();
    // A lost or dropped slot: both roles are unready, since neither could stream it.
    const slotProblem = this.slotMonitor.problem;
    if (slotProblem) problems.push(slotProblem);
    if (this.setupError) problems.push(this.setupError);
    const noLeader = this.leader.problem;
    if (noLeader) problems.push(noLeader);
    const publicationProblem = this.session?.publicationProblem;
    if (publicationProblem) problems.push(publicationProblem);
    if (this.leader.isLeader && !this.session?.stream?.isConnected) problems.push(this.notStreaming());
    const stall = this.watchdogSample && stallProblem(this.watchdog, this.watchdogSample);
    if (stall) problems.push(stall);
    return problems;
  }

  private notStreaming(): string {
    const what = this.target.count === 1 ? 'the slot' : `partition ${this.target.index} (slot ${this.target.slot})`;
    return `leader is not streaming ${what} (connecting or reconnecting)`;
  }

  /**
   * Leader only: brings publications and slot in line with the scope, then
   * streams. A standby never touches them, so replicas cannot race. A leader
   * that cannot prepare the slot (database down, slot lost) steps aside.
   */
  private async lead(): Promise<void> {
    const { config, dispatcher, valves } = this.context;
    const { session, backfills } = this.streamingSession();
    void this.session?.stop();
    this.session = session;
    const log = this.logger.child({ component: 'setup' });
    try {
      if (config.recovery.automatic) await this.recoverIfLost();
      await session.prepare();
      // Before the first change is streamed: a record whose rows wait in the state table takes no fast path.
      await dispatcher.loadWaitingRecords();
      await this.context.followTwentyMetadata();
      warnRawWorkspaceIds(session.tables, mappingOptions(config), (schema) => this.context.twenty()?.workspaceOf(schema) !== undefined, log);
      this.setupError = null;
    } catch (error) {
      log.error({ err: error }, (error as Error).message);
      this.setupError = (error as Error).message;
      if (session === this.session) this.resign(RESIGN_COOLDOWN_MS);
      return;
    }
    // The slot may have just been created: report it now rather than as missing until the next check.
    await this.slotMonitor.check();
    if (session !== this.session || !this.leader.isLeader || this.context.stopping()) return;
    if (!session.start()) return;
    const stream = session.stream;
    if (stream) valves.add(stream);
    this.joined();
    if (backfills) {
      this.backfills = backfills;
      backfills.start();
    }
  }

  /** A stream joined or reconnected: the budget applies to it afresh, and every partition's stream follows the mode. */
  private joined(): void {
    this.context.flow.reconnected();
    if (this.target.count > 1) this.context.flow.reassert();
  }

  /**
   * recovery.automatic: the leader's slot was lost while it streamed. The
   * stream cannot go on; the next term of streaming starts with a recovery.
   */
  private async recoverLostSlot(): Promise<void> {
    if (!this.context.config.recovery.automatic || !this.leader.isLeader || this.context.stopping()) return;
    await this.stopStreaming();
    if (this.leader.isLeader && !this.context.stopping()) await this.lead();
  }

  /** What `walhook recover` does, when the slot is lost (recovery.automatic, one partition only). */
  private async recoverIfLost(): Promise<void> {
    const log = this.logger.child({ component: 'recover' });
    const { config, state } = this.context;
    await this.context.withCrm(async (client) => {
      if ((await slotInfo(client, this.target.slot))?.wal_status !== 'lost') return;
      log.warn({ slot: this.target.slot }, 'the slot is lost and recovery.automatic is on: recovering');
      await recoverSlot({ config, crm: client, state, logger: log });
    });
  }

  /** The lease is gone: no second reader, ever — stop reading at once. */
  private async stopStreaming(): Promise<void> {
    const session = this.session;
    this.session = null;
    const stream = session?.stream;
    if (stream) this.context.valves.delete(stream);
    const backfills = this.backfills;
    this.backfills = null;
    await backfills?.stop();
    await session?.stop();
  }

  /** One look of the stall watchdog (source/watchdog.ts), and its remedy. */
  async watchStream(): Promise<void> {
    const { config, dispatcher, flow, metrics } = this.context;
    const stream = this.session?.stream;
    const streaming = stream?.isConnected === true && !this.context.stopping();
    const health = streaming ? await this.slotMonitor.check() : undefined;
    if (stream !== this.session?.stream) return;
    const sample: WatchdogSample = {
      now: Date.now(),
      streaming,
      waitingBytes: health?.lagBytes ?? null,
      // This stream's own deliveries, and while flow control holds every stream paused, everyone's (another
      // partition's, a backfill's): those are what will resume it. Another partition's alone never move it.
      inFlight: (this.session?.unsettledDeliveries ?? 0) + (flow.mode === 'paused' ? dispatcher.load().deliveries : 0),
      progress: `${this.received}/${stream?.confirmedLsn ?? 0n}`,
    };
    const before = this.watchdog;
    const { state, action } = watch(before, sample, config.source.stallTimeout);
    this.watchdog = state;
    this.watchdogSample = sample;
    const log = this.logger.child({ component: 'watchdog' });
    if (before.mode === 'stalled' && state.mode === 'watching') log.info({ attempts: before.attempts }, 'the stream moves again');
    if (action === 'none') return;
    log.warn(
      { action, waitingBytes: sample.waitingBytes, stalledForMs: sample.now - state.progressAt, flow: flow.mode, attempt: state.attempts },
      action === 'resume' ? 'the stream is stalled; resuming reading' : 'the stream is still stalled; reconnecting',
    );
    metrics.streamRecovered(action);
    if (action === 'resume') flow.reassert();
    else stream?.reconnect();
  }

  /**
   * A streaming session of this partition that hands its events to the dispatcher, under the shared flow
   * control, and (with one partition) the backfills that run beside its stream.
   */
  private streamingSession(): { session: StreamingSession<Route>; backfills: BackfillRunner | null } {
    const { config, dispatcher, flow, metrics } = this.context;
    const logger = this.logger;
    const twenty = () => this.context.twenty();
    const backfills =
      this.target.count === 1
        ? new BackfillRunner({
            crmConnectionString: config.database.url,
            state: this.context.state,
            tables: () => session.tables,
            mapping: mappingOptions(config),
            catalog: () => session.types,
            deliver: (raw, webhookId, hold) => {
              const event = finishEvent(raw, twenty());
              if (event !== null) dispatcher.dispatch(decodedEvent(event), hold, undefined, webhookId);
            },
            chunkSize: config.backfill.chunkSize,
            maxUnsettled: config.delivery.maxQueuedPerEndpoint,
            pollIntervalMs: config.backfill.pollInterval,
            logger: logger.child({ component: 'backfill' }),
            observer: metrics,
          })
        : null;
    const session: StreamingSession<Route> = new StreamingSession<Route>({
      config,
      target: this.target,
      // Who streams which partition, for pg_stat_activity: the walsender of the slot names its replica.
      ...(this.target.count > 1 && { applicationName: `walhook p${this.target.index} ${this.leader.holder}` }),
      withClient: (work) => this.context.withCrm(work),
      sink: {
        route: (object, action) => dispatcher.match(object, action),
        dispatch: (event, hold, route) => {
          this.changes++;
          dispatcher.dispatch(event, hold, route);
        },
      },
      metadata: twenty,
      logFor: (component) => logger.child({ component }),
      observer: metrics,
      tap: backfills ?? undefined,
      scopeRefreshMs: config.source.scopeRefreshInterval,
      received: () => this.received++,
      handled: () => flow.changed(),
      connected: () => this.joined(),
      settled: (commitTime, endLsn) => this.settledPoints.note(commitTime, formatLsn(endLsn)),
    });
    return { session, backfills };
  }
}
