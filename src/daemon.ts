/**
 * `walhook start`: builds every part from the configuration in the
 * constructor, starts them in the order `stages` lists, and on SIGTERM stops
 * them in reverse — stop reading, let in-flight deliveries finish or persist
 * within the deadline, confirm, exit. Streaming runs per partition
 * (PartitionStreamer: one with source.partitions 1), each leading its slot
 * through a lease and streaming it in a StreamingSession per term; the
 * delivery side is shared. With several partitions a PartitionBalancer
 * shares them among the replicas alive.
 */
import pg from 'pg';
import type { AddressInfo } from 'node:net';
import { managementFor, startApi, type ApiServer } from './api/index.js';
import { Metrics } from './api/metrics.js';
import { metricsRoute, readyRoute, type Readiness } from './api/operations.js';
import { consoleRoutes } from './api/console/routes.js';
import { openPool } from './common/pg-pool.js';
import { partitionTargets } from './common/partitions.js';
import { PartitionBalancer } from './source/balance.js';
import { DEFAULT_LEASE_TIMING, instanceName } from './source/leader.js';
import type { WalhookConfig } from './config/schema.js';
import { Dispatcher, observeAll } from './delivery/dispatcher.js';
import { FlowControl, flowLimits, ValveSet } from './delivery/flow-control.js';
import { HttpSender } from './delivery/http.js';
import { RecentAttempts } from './delivery/recent-attempts.js';
import { RecentEvents } from './delivery/recent-events.js';
import { WebhookRegistry } from './delivery/registry.js';
import { ByteBudget, RetryWorker } from './delivery/retry-worker.js';
import { StateWriter } from './delivery/state-writer.js';
import { objectName } from './events/naming.js';
import { Lifecycle, type Stage } from './common/lifecycle.js';
import type { Logger } from './common/log.js';
import { formatLsn, type Lsn } from './source/lsn.js';
import { mappingOptions } from './events/setup.js';
import { scopeOf } from './source/prepare.js';
import { discoverTables, globToRegExp } from './source/setup.js';
import { PartitionStreamer } from './partition-streamer.js';
import { resolveShape, TwentyMetadataFollower } from './events/twenty/metadata-follower.js';
import { openStateDb, type StateDb } from './state/db.js';
import { slotLeaseName } from './state/leases.js';
import { migrate } from './state/migrations.js';
import { countBacklog } from './state/deliveries.js';
import { RetentionWorker } from './state/retention.js';
import { readRoleAttributes, roleFindings } from './source/role-check.js';
import { createSecretBox } from './state/secret-box.js';
import { TwentyWebhookSource } from './delivery/twenty-webhooks.js';
import { WebhookSync } from './delivery/webhook-sync.js';

/** /readyz gives up on a dependency that does not answer within this. */
const READY_CHECK_TIMEOUT_MS = 2_000;
/** A shutdown stage still stopping after this long is named in the log (a hang says where it hangs). */
const SLOW_STOP_REPORT_MS = 5_000;
/** A partition handed over to balance the replicas is not taken back by this replica before this: another has its turn. */
const HAND_OVER_COOLDOWN_MS = 2 * DEFAULT_LEASE_TIMING.leaseMs;

/** What the stages hand each other while they stop. */
class Shutdown {
  private deadlineAt: number | null = null;
  /** Whether the deliveries in flight finished within the deadline; unknown until the dispatcher stopped. */
  deliveriesFinished: boolean | null = null;

  constructor(readonly deadlineMs: number) {}

  /** From here on the deadline counts. */
  startDeadline(): void {
    this.deadlineAt ??= Date.now() + this.deadlineMs;
  }

  /** What is left of the deadline (all of it before it started). */
  left(): number {
    return this.deadlineAt === null ? this.deadlineMs : Math.max(0, this.deadlineAt - Date.now());
  }
}

export class Daemon {
  /** The CRM database (catalog, publications, slot checks); a pool, so it survives a server restart. */
  private readonly crm: pg.Pool;
  private readonly state: StateDb;
  private readonly webhookSync: WebhookSync;
  /** The webhooks made in Twenty's UI (twenty.webhooks); null when they are not followed. */
  private readonly twentyWebhooks: TwentyWebhookSource | null;
  private readonly sender: HttpSender;
  private readonly writer: StateWriter;
  private readonly dispatcher: Dispatcher;
  private readonly flow: FlowControl;
  private readonly retryWorker: RetryWorker;
  /** Null when retention is disabled. */
  private readonly retention: RetentionWorker | null;
  /** One per partition (source.partitions), in partition order. */
  private readonly streamers: PartitionStreamer[];
  /** Shares the partitions among the replicas alive; null with one partition (every replica tries it, one leads). */
  private readonly balancer: PartitionBalancer | null;
  private readonly lifecycle: Lifecycle<Shutdown>;
  /** Twenty's metadata, followed while events are shaped as Twenty's (events.shape, decided by the first leader); null for `columns`. */
  private twentyMetadata: TwentyMetadataFollower | null = null;
  private apiBound: AddressInfo | null = null;
  private stopping = false;
  readonly registry = new WebhookRegistry((webhook, removed) => {
    // Which endpoints could overflow depends on the set of webhooks.
    this.flow.update();
    if (!removed) {
      this.dispatcher.webhookChanged(webhook.id);
      return;
    }
    this.metrics.forgetWebhook(webhook.id);
    this.dispatcher.forgetEndpoint(webhook.id);
    this.recentAttempts.forget(webhook.id);
    this.recentEvents.forget(webhook.id);
  });
  readonly metrics = new Metrics();
  /** Per instance, in memory only: the console's delivery log and hourly counts. */
  readonly recentAttempts = new RecentAttempts();
  /** Per instance, in memory only: what the console tries a filter on. */
  readonly recentEvents = new RecentEvents();

  constructor(
    private readonly config: WalhookConfig,
    private readonly logger: Logger,
  ) {
    const stateUrl = config.state.databaseUrl ?? config.database.url;
    // Two for the catalog and checks, and one per partition preparing its slot at the same moment (a takeover of several).
    const crm = openPool({ connectionString: config.database.url, application_name: 'walhook', max: 2 + config.source.partitions }, (error) =>
      logger.warn({ err: error, component: 'setup' }, 'CRM database connection lost; reconnecting on next use'),
    );
    this.crm = crm;
    const state = openStateDb(stateUrl, config.state.schema);
    this.state = state;
    const secretBox = config.encryptionKey ? createSecretBox(config.encryptionKey) : null;
    const webhookSync = new WebhookSync(state, this.registry, {
      connectionString: stateUrl,
      configWebhooks: config.webhooks,
      secretBox,
      logger: logger.child({ component: 'webhooks' }),
    });
    this.webhookSync = webhookSync;
    this.twentyWebhooks = config.twenty.webhooks
      ? new TwentyWebhookSource(crm, state, this.registry, {
          intervalMs: config.twenty.refreshInterval,
          schemaPatterns: config.source.schemas.map(globToRegExp),
          naming: mappingOptions(config),
          logger: logger.child({ component: 'twenty-webhooks' }),
        })
      : null;
    this.sender = new HttpSender({
      timeoutMs: config.delivery.timeout,
      maxUrlLength: config.delivery.maxUrlLength,
      connectionsPerOrigin: config.delivery.concurrency,
      ssrf: { enabled: config.delivery.ssrfGuard, allowList: config.delivery.allowList },
    });
    this.writer = new StateWriter(state, logger.child({ component: 'state' }));
    const dispatcher = new Dispatcher(
      this.registry,
      this.sender,
      this.writer,
      state,
      {
        retryScheduleMs: config.delivery.retrySchedule,
        concurrency: config.delivery.concurrency,
        maxQueuedPerEndpoint: config.delivery.maxQueuedPerEndpoint,
        spillAfterMs: config.delivery.spillAfter,
        maxPayloadBytes: config.delivery.maxPayloadBytes,
        userAgent: config.delivery.userAgent,
        retryAfterDefaultMs: config.delivery.retryAfterDefault,
        breakerFailures: config.delivery.breakerFailures,
        breakerProbeIntervalMs: config.delivery.breakerProbeInterval,
        disableAfterMs: config.delivery.disableAfter,
      },
      logger.child({ component: 'delivery' }),
      observeAll(this.metrics, this.recentAttempts, this.recentEvents),
    );
    this.dispatcher = dispatcher;
    const flow = new FlowControl(flowLimits(config.delivery), () => dispatcher.load());
    this.flow = flow;
    dispatcher.onLoadChanged(() => flow.changed());
    const retryWorker = new RetryWorker(
      state,
      this.registry,
      dispatcher,
      {
        pollIntervalMs: config.delivery.retryPollInterval,
        leaseMs: config.delivery.leaseDuration,
        batchSize: 100,
        // Retried bodies count against delivery.maxInMemoryBytes beside the fast path's.
        budget: new ByteBudget(config.delivery.maxInMemoryBytes, () => dispatcher.load().bytes),
        orderedThrough: () => this.orderedThrough(),
      },
      logger.child({ component: 'retry' }),
    );
    this.retryWorker = retryWorker;
    const { delivered, dead, attempts, batchSize, interval } = config.retention;
    this.retention = config.retention.enabled
      ? new RetentionWorker(state, { deliveredMs: delivered, deadMs: dead, attemptsMs: attempts, batchSize }, interval, logger.child({ component: 'retention' }))
      : null;
    const valves = new ValveSet();
    flow.attach(valves);
    const context = {
      config,
      crm,
      state,
      stateUrl,
      withCrm: <T>(work: (client: pg.PoolClient) => Promise<T>) => this.withCrm(work),
      dispatcher,
      flow,
      valves,
      metrics: this.metrics,
      twenty: () => this.twentyMetadata?.current ?? null,
      followTwentyMetadata: () => this.followTwentyMetadata(),
      stopping: () => this.stopping,
    };
    const targets = partitionTargets(config.source);
    const replica = instanceName();
    const balancer =
      targets.length > 1
        ? new PartitionBalancer(
            {
              db: state.pool,
              schema: state.schema,
              replica,
              leaseNames: targets.map((target) => slotLeaseName(target.slot)),
              intervalMs: DEFAULT_LEASE_TIMING.intervalMs,
              // Shorter than a lease: a dead replica is counted out before its leases expire, so the survivors may take them at once.
              ttlMs: DEFAULT_LEASE_TIMING.leaseMs - DEFAULT_LEASE_TIMING.marginMs,
              handOver: (index) => this.streamers[index]!.handOver(HAND_OVER_COOLDOWN_MS),
              replicaLeft: () => this.streamers.forEach((streamer) => streamer.leader.endRest()),
            },
            logger.child({ component: 'partitions' }),
          )
        : null;
    this.balancer = balancer;
    this.streamers = targets.map(
      (target) =>
        new PartitionStreamer(context, target, balancer ? logger.child({ partition: target.index, slot: target.slot }) : logger, {
          ...(balancer && { holder: replica, gate: balancer.gateFor(target.index), released: () => balancer.lost(target.index) }),
        }),
    );
    const streamers = this.streamers;
    const worst = <T>(pick: (streamer: PartitionStreamer) => T, order: (a: T, b: T) => number): T =>
      streamers.map(pick).reduce((a, b) => (order(a, b) >= 0 ? a : b));
    this.metrics.attach({
      queueDepths: () => dispatcher.queueDepths(),
      endpointModes: () => dispatcher.endpointModes(),
      retryBacklog: () => countBacklog(state),
      // With several partitions: the slot furthest behind, and the lease longest without renewal.
      slot: () => {
        const health = worst((streamer) => streamer.slotMonitor.latest, (a, b) => (a.lagBytes ?? Infinity) - (b.lagBytes ?? Infinity));
        return { lagBytes: health?.lagBytes ?? null, retainedWalBytes: health?.retainedWalBytes ?? null, walStatus: health?.walStatus ?? 'missing' };
      },
      replicationConnected: () => streamers.some((streamer) => streamer.stream?.isConnected ?? false),
      leader: () => streamers.some((streamer) => streamer.leader.isLeader),
      streamPaused: () => flow.mode === 'paused',
      streamStalled: () => streamers.some((streamer) => streamer.stalled),
      lease: () => worst((streamer) => streamer.leader.lease, (a, b) => a.secondsSinceRenewal - b.secondsSinceRenewal),
      partitions: balancer ? () => streamers.map((streamer) => streamer.view) : null,
    });
    const management = managementFor(config, state, secretBox, {
      webhookChanged: (id) => webhookSync.refresh(id),
      deliveriesDue: () => retryWorker.poke(),
      // From the catalog, not the session's tables: a standby has none.
      objectsInScope: async () =>
        (await this.withCrm((client) => discoverTables(client, scopeOf(config)))).map((table) =>
          objectName(table.schema, table.table, mappingOptions(config)),
        ),
      recentAttempts: this.recentAttempts,
      endpointMode: (webhookId) => dispatcher.endpointModes().get(webhookId) ?? 'closed',
      recentEvents: this.recentEvents,
      backfillRequested: () => this.streamers.forEach((streamer) => streamer.poke()),
      partitions: () => this.streamers.map((streamer) => streamer.view),
    });
    this.lifecycle = new Lifecycle(this.stages(management), {
      afterMs: SLOW_STOP_REPORT_MS,
      report: (stage, elapsedMs) => logger.warn({ component: 'shutdown', stage, elapsedMs }, `shutdown: still stopping ${stage}`),
    });
  }

  /** Where the HTTP API listens once started (api.listen with port 0 picks a free port). */
  get apiAddress(): AddressInfo | null {
    return this.apiBound;
  }

  async start(): Promise<void> {
    await this.lifecycle.start();
  }

  /**
   * Where this instance has confirmed each partition's slot, in partition
   * order: every change committed before it is settled (delivered, or in the
   * state table for retries). Null for a partition it does not stream.
   * `walhook repartition` drains the old layout until each is past a point.
   */
  confirmedPositions(): (Lsn | null)[] {
    return this.streamers.map((streamer) => streamer.stream?.confirmedLsn ?? null);
  }

  /** SIGTERM: stop reading, finish or persist in-flight deliveries within the deadline, confirm, stop. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.lifecycle.stop(new Shutdown(this.config.delivery.shutdownTimeout));
  }

  /**
   * Every part, in the order it starts; it stops in reverse. Elections begin
   * last, once everything a leader streams into runs, and the API stops first;
   * the slot is read (and confirmed) until the deliveries settled, and the lease
   * is held until the session stopped.
   */
  private stages(management: ReturnType<typeof managementFor>): Stage<Shutdown>[] {
    const { config, logger } = this;
    let spillTimer: NodeJS.Timeout | null = null;
    let watchdogTimer: NodeJS.Timeout | null = null;
    let api: ApiServer | null = null;
    const { twentyWebhooks, retention, streamers, balancer } = this;
    const each = (work: (streamer: PartitionStreamer) => unknown) => Promise.all(streamers.map(work)).then(() => undefined);
    return [
      {
        name: 'CRM database',
        // Not awaited: a CRM database that is down at start is reported (and waited for) by the stages that need it.
        start: () =>
          void this.withCrm(readRoleAttributes).then(
            (role) => roleFindings(role).forEach(({ level, message }) => logger[level]({ component: 'setup', role: role.name }, message)),
            (error: unknown) => logger.warn({ component: 'setup', err: error }, 'could not check what the database role may do'),
          ),
        stop: () => this.crm.end(),
      },
      {
        name: 'state database',
        start: async () => {
          const applied = await migrate(this.state);
          if (applied.length > 0) logger.info({ component: 'state', versions: applied }, 'state schema migrated');
        },
        stop: () => this.state.pool.end(),
      },
      { name: 'webhook sync', start: () => this.webhookSync.start(), stop: () => this.webhookSync.stop() },
      ...(twentyWebhooks ? [{ name: "Twenty's webhooks", start: () => twentyWebhooks.start(), stop: () => twentyWebhooks.stop() }] : []),
      { name: "Twenty's metadata", stop: () => this.twentyMetadata?.stop() },
      {
        name: 'slot lease',
        stop: async () => {
          await each((streamer) => streamer.leader.stop());
          await balancer?.stop();
        },
      },
      {
        name: 'HTTP sender',
        stop: async ({ deliveriesFinished }) => {
          if (deliveriesFinished === false) {
            // Past the deadline, requests still in flight are abandoned rather than awaited (a receiver may hold
            // one for the whole delivery timeout). Their changes were never confirmed, so they are streamed again;
            // the stopped writer keeps the failures the abort causes out of the state table.
            this.writer.stop();
            await this.sender.destroy();
          } else {
            await this.sender.close();
          }
        },
      },
      {
        name: 'settled point',
        start: () => streamers.forEach((streamer) => streamer.settledPoints.start(config.source.statusInterval)),
        stop: () => each((streamer) => streamer.settledPoints.stop()),
      },
      { name: 'streaming session', stop: () => each((streamer) => streamer.stopSession()) },
      {
        name: 'state writer',
        stop: async (shutdown) => {
          if (await this.writer.drain(shutdown.left())) return;
          logger.warn({ deadlineMs: shutdown.deadlineMs, rows: this.writer.backlog }, 'state table writes still failing at shutdown; their changes will be streamed again');
          this.writer.stop();
        },
      },
      {
        name: 'dispatcher',
        stop: async (shutdown) => {
          shutdown.deliveriesFinished = await this.dispatcher.idle(shutdown.left());
          if (!shutdown.deliveriesFinished) logger.warn({ deadlineMs: shutdown.deadlineMs }, 'deliveries still in flight at shutdown; they will be streamed again');
        },
      },
      ...(retention ? [{ name: 'retention', start: () => retention.start(), stop: () => retention.stop() }] : []),
      { name: 'retry worker', start: () => this.retryWorker.start(), stop: () => this.retryWorker.stop() },
      { name: 'backfills', stop: () => each((streamer) => streamer.stopBackfills()) },
      // Deliveries wind down from here: what stops before this (reading, the API) does not count against the deadline.
      { name: 'shutdown deadline', stop: (shutdown) => shutdown.startDeadline() },
      { name: 'flow control', stop: () => this.flow.stop() },
      { name: 'slot monitor', start: () => each((streamer) => streamer.slotMonitor.start()), stop: () => streamers.forEach((streamer) => streamer.slotMonitor.stop()) },
      {
        name: 'timers',
        start: () => {
          spillTimer = setInterval(() => this.dispatcher.spillSlowQueues(), Math.min(1_000, config.delivery.spillAfter));
          const watchEveryMs = Math.max(100, Math.min(5_000, config.source.stallTimeout / 4));
          watchdogTimer = setInterval(() => streamers.forEach((streamer) => void streamer.watchStream()), watchEveryMs);
        },
        stop: () => {
          if (spillTimer) clearInterval(spillTimer);
          if (watchdogTimer) clearInterval(watchdogTimer);
        },
      },
      {
        name: 'HTTP API',
        start: async () => {
          const started = await startApi({
            config,
            management,
            logger: logger.child({ component: 'api' }),
            extraRoutes: [metricsRoute(this.metrics), readyRoute(() => this.readiness()), ...consoleRoutes()],
          });
          api = started.server;
          this.apiBound = started.address;
        },
        stop: () => api?.close(),
      },
      {
        name: 'leader election',
        start: async () => {
          // The first heartbeat counts this replica before any partition's election asks how many it may take.
          await balancer?.start();
          streamers.forEach((streamer) => streamer.leader.start());
        },
      },
    ];
  }

  private async withCrm<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.crm.connect();
    try {
      return await work(client);
    } finally {
      client.release();
    }
  }

  /** Decides the shape of records once (events.shape), and with Twenty's shape loads its metadata and follows it. */
  private async followTwentyMetadata(): Promise<void> {
    if (this.twentyMetadata || (await resolveShape(this.crm, this.config.events.shape)) === 'columns') return;
    const follower = new TwentyMetadataFollower(this.crm, this.config.twenty.refreshInterval, this.logger.child({ component: 'twenty' }));
    await follower.start();
    this.twentyMetadata = follower;
  }

  /** Leader (of a partition, with several): streaming. Standby: able to take over. Neither with a lost slot or an unreachable state database. */
  private async readiness(): Promise<Readiness> {
    const role = this.streamers.some((streamer) => streamer.leader.isLeader) ? 'leader' : 'standby';
    const problems: string[] = [];
    const reachable = async (what: string, query: () => Promise<unknown>) => {
      const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error('no answer')), READY_CHECK_TIMEOUT_MS).unref());
      await Promise.race([query(), timeout]).catch((error: unknown) => problems.push(`${what} unreachable: ${(error as Error).message}`));
    };
    await reachable('state database', () => this.state.pool.query('SELECT 1'));
    await reachable('CRM database', () => this.crm.query('SELECT 1'));
    for (const partitionProblems of await Promise.all(this.streamers.map((streamer) => streamer.problems()))) problems.push(...partitionProblems);
    return { ready: problems.length === 0, role, problems };
  }

  /**
   * How far ordered retries may go (delivery ordering `record`): below the
   * position every partition confirmed, since a record's earlier change may
   * still be in flight in its partition's stream. Null (none taken) while
   * one partition's position is unknown, or with one partition while this
   * instance does not stream it.
   */
  private orderedThrough(): string | null {
    const [only] = this.streamers;
    if (this.streamers.length === 1) {
      const stream = only?.stream;
      return stream ? formatLsn(stream.confirmedLsn) : null;
    }
    if (!this.streamers.some((streamer) => streamer.stream)) return null;
    let lowest: Lsn | null = null;
    for (const streamer of this.streamers) {
      const confirmed = streamer.confirmedLsn;
      if (confirmed === null) return null;
      if (lowest === null || confirmed < lowest) lowest = confirmed;
    }
    return lowest === null ? null : formatLsn(lowest);
  }
}
