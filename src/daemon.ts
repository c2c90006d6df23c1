/**
 * `walhook start`: builds every part from the configuration in the
 * constructor, starts them in the order `stages` lists, and on SIGTERM stops
 * them in reverse — stop reading, let in-flight deliveries finish or persist
 * within the deadline, confirm, exit. The leader-only half runs in a
 * StreamingSession, one per term of leadership.
 */
import pg from 'pg';
import type { AddressInfo } from 'node:net';
import { managementFor, startApi, type ApiServer } from './api/index.js';
import { Metrics } from './api/metrics.js';
import { metricsRoute, readyRoute, type Readiness } from './api/operations.js';
import { consoleRoutes } from './api/console/routes.js';
import { recoverSlot } from './backfill/recovery.js';
import { BackfillRunner } from './backfill/runner.js';
import { openPool } from './common/pg-pool.js';
import { LeaderElection } from './source/leader.js';
import { SlotMonitor } from './source/slot-monitor.js';
import type { WalhookConfig } from './config/schema.js';
import { Dispatcher, observeAll, type Route } from './delivery/dispatcher.js';
import { FlowControl, flowLimits } from './delivery/flow-control.js';
import { HttpSender } from './delivery/http.js';
import { RecentAttempts } from './delivery/recent-attempts.js';
import { RecentEvents } from './delivery/recent-events.js';
import { WebhookRegistry } from './delivery/registry.js';
import { ByteBudget, RetryWorker } from './delivery/retry-worker.js';
import { StateWriter } from './delivery/state-writer.js';
import { objectName } from './events/naming.js';
import { finishEvent } from './events/twenty/shape.js';
import { Lifecycle, type Stage } from './common/lifecycle.js';
import type { Logger } from './common/log.js';
import { StreamingSession } from './events/streaming-session.js';
import { formatLsn } from './source/lsn.js';
import { mappingOptions, warnRawWorkspaceIds } from './events/setup.js';
import { scopeOf } from './source/prepare.js';
import { discoverTables, globToRegExp, slotInfo } from './source/setup.js';
import { resolveShape, TwentyMetadataFollower } from './events/twenty/metadata-follower.js';
import { openStateDb, type StateDb } from './state/db.js';
import { migrate } from './state/migrations.js';
import { countBacklog } from './state/deliveries.js';
import { RetentionWorker } from './state/retention.js';
import { SettledPointWriter } from './state/slot-progress.js';
import { readRoleAttributes, roleFindings } from './source/role-check.js';
import { createSecretBox } from './state/secret-box.js';
import { TwentyWebhookSource } from './delivery/twenty-webhooks.js';
import { WebhookSync } from './delivery/webhook-sync.js';
import { initialWatchdog, stallProblem, watch, type WatchdogSample } from './source/watchdog.js';

/** /readyz gives up on a dependency that does not answer within this. */
const READY_CHECK_TIMEOUT_MS = 2_000;
/** A leader that cannot prepare the slot steps aside this long, so another replica gets a turn. */
const RESIGN_COOLDOWN_MS = 10_000;

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
  /** The commit time of the last settled change, kept for `walhook recover`. */
  private readonly settledPoints: SettledPointWriter;
  private readonly dispatcher: Dispatcher;
  private readonly flow: FlowControl;
  private readonly retryWorker: RetryWorker;
  /** Null when retention is disabled. */
  private readonly retention: RetentionWorker | null;
  private readonly slotMonitor: SlotMonitor;
  private readonly leader: LeaderElection;
  private readonly lifecycle: Lifecycle<Shutdown>;
  /** Twenty's metadata, followed while events are shaped as Twenty's (events.shape, decided by the first leader); null for `columns`. */
  private twentyMetadata: TwentyMetadataFollower | null = null;
  /** The leader-only half, one per term of leadership; null on a standby. */
  private session: StreamingSession<Route> | null = null;
  /** Runs backfills beside the session's stream, while this instance leads. */
  private backfills: BackfillRunner | null = null;
  private apiBound: AddressInfo | null = null;
  private watchdog = initialWatchdog(Date.now());
  private watchdogSample: WatchdogSample | null = null;
  /** Messages the stream handed over (keepalives included): the watchdog's sign of life. */
  private received = 0;
  private setupError: string | null = null;
  private stopping = false;
  readonly registry = new WebhookRegistry((webhook, removed) => {
    // Which endpoints could overflow depends on the set of webhooks.
    this.flow.update();
    if (!removed) return;
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
    const crm = openPool({ connectionString: config.database.url, application_name: 'walhook', max: 3 }, (error) =>
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
    this.settledPoints = new SettledPointWriter(state, config.source.slot, (error) =>
      logger.warn({ err: error, component: 'state' }, 'could not save the commit time of the last settled change (walhook recover uses it); trying again'),
    );
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
      },
      logger.child({ component: 'delivery' }),
      observeAll(this.metrics, this.recentAttempts, this.recentEvents),
    );
    this.dispatcher = dispatcher;
    const flow = new FlowControl(flowLimits(config.delivery), () => dispatcher.load());
    this.flow = flow;
    dispatcher.onLoadChanged(() => flow.update());
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
        orderedThrough: () => {
          const stream = this.session?.stream;
          return stream ? formatLsn(stream.confirmedLsn) : null;
        },
      },
      logger.child({ component: 'retry' }),
    );
    this.retryWorker = retryWorker;
    const { delivered, dead, attempts, batchSize, interval } = config.retention;
    this.retention = config.retention.enabled
      ? new RetentionWorker(state, { deliveredMs: delivered, deadMs: dead, attemptsMs: attempts, batchSize }, interval, logger.child({ component: 'retention' }))
      : null;
    const slotMonitor = new SlotMonitor(
      crm,
      config.source.slot,
      { intervalMs: config.slotSafety.checkInterval, retainedWalWarnBytes: config.slotSafety.retainedWalWarnBytes },
      logger.child({ component: 'slot' }),
      () => void this.recoverLostSlot(),
    );
    this.slotMonitor = slotMonitor;
    const leader = new LeaderElection(
      { stateConnectionString: stateUrl, schema: state.schema, crm, slot: config.source.slot },
      logger.child({ component: 'leader' }),
    );
    this.leader = leader;
    leader.on('elected', () => void this.lead());
    leader.on('lost', () => void this.stopStreaming());
    this.metrics.attach({
      queueDepths: () => dispatcher.queueDepths(),
      retryBacklog: () => countBacklog(state),
      slot: () => {
        const health = slotMonitor.latest;
        return { lagBytes: health?.lagBytes ?? null, retainedWalBytes: health?.retainedWalBytes ?? null, walStatus: health?.walStatus ?? 'missing' };
      },
      replicationConnected: () => this.session?.stream?.isConnected ?? false,
      leader: () => leader.isLeader,
      streamPaused: () => flow.mode === 'paused',
      streamStalled: () => this.watchdog.mode === 'stalled',
      lease: () => leader.lease,
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
      recentEvents: this.recentEvents,
      backfillRequested: () => this.backfills?.poke(),
    });
    this.lifecycle = new Lifecycle(this.stages(management));
  }

  /** Where the HTTP API listens once started (api.listen with port 0 picks a free port). */
  get apiAddress(): AddressInfo | null {
    return this.apiBound;
  }

  async start(): Promise<void> {
    await this.lifecycle.start();
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
    const { twentyWebhooks, retention } = this;
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
      { name: 'slot lease', stop: () => this.leader.stop() },
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
      { name: 'settled point', start: () => this.settledPoints.start(config.source.statusInterval), stop: () => this.settledPoints.stop() },
      {
        name: 'streaming session',
        stop: async () => {
          const confirmed = this.session?.stream?.confirmedLsn ?? 0n;
          await this.session?.stop();
          logger.info({ confirmedLsn: formatLsn(confirmed) }, 'stopped');
        },
      },
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
      { name: 'backfills', stop: () => this.backfills?.stop() },
      // Deliveries wind down from here: what stops before this (reading, the API) does not count against the deadline.
      { name: 'shutdown deadline', stop: (shutdown) => shutdown.startDeadline() },
      { name: 'flow control', stop: () => this.flow.stop() },
      { name: 'slot monitor', start: () => this.slotMonitor.start(), stop: () => this.slotMonitor.stop() },
      {
        name: 'timers',
        start: () => {
          spillTimer = setInterval(() => this.dispatcher.spillSlowQueues(), Math.min(1_000, config.delivery.spillAfter));
          const watchEveryMs = Math.max(100, Math.min(5_000, config.source.stallTimeout / 4));
          watchdogTimer = setInterval(() => void this.watchStream(), watchEveryMs);
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
      { name: 'leader election', start: () => this.leader.start() },
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

  /**
   * Leader only: brings publications and slot in line with the scope, then
   * streams. A standby never touches them, so replicas cannot race. A leader
   * that cannot prepare the slot (database down, slot lost) steps aside.
   */
  private async lead(): Promise<void> {
    const { session, backfills } = this.streamingSession();
    void this.session?.stop();
    this.session = session;
    const log = this.logger.child({ component: 'setup' });
    try {
      if (this.config.recovery.automatic) await this.recoverIfLost();
      await session.prepare();
      // Before the first change is streamed: a record whose rows wait in the state table takes no fast path.
      await this.dispatcher.loadWaitingRecords();
      await this.followTwentyMetadata();
      warnRawWorkspaceIds(session.tables, mappingOptions(this.config), (schema) => this.twentyMetadata?.current?.workspaceOf(schema) !== undefined, log);
      this.setupError = null;
    } catch (error) {
      log.error({ err: error }, (error as Error).message);
      this.setupError = (error as Error).message;
      if (session === this.session) this.leader.resign(RESIGN_COOLDOWN_MS);
      return;
    }
    // The slot may have just been created: report it now rather than as missing until the next check.
    await this.slotMonitor.check();
    if (session !== this.session || !this.leader.isLeader || this.stopping) return;
    if (!session.start()) return;
    this.flow.attach(session.stream);
    this.backfills = backfills;
    backfills.start();
  }

  /**
   * recovery.automatic: the leader's slot was lost while it streamed. The
   * stream cannot go on; the next term of streaming starts with a recovery.
   */
  private async recoverLostSlot(): Promise<void> {
    if (!this.config.recovery.automatic || !this.leader.isLeader || this.stopping) return;
    await this.stopStreaming();
    if (this.leader.isLeader && !this.stopping) await this.lead();
  }

  /** What `walhook recover` does, when the slot is lost (recovery.automatic). */
  private async recoverIfLost(): Promise<void> {
    const log = this.logger.child({ component: 'recover' });
    await this.withCrm(async (client) => {
      if ((await slotInfo(client, this.config.source.slot))?.wal_status !== 'lost') return;
      log.warn({ slot: this.config.source.slot }, 'the slot is lost and recovery.automatic is on: recovering');
      await recoverSlot({ config: this.config, crm: client, state: this.state, logger: log });
    });
  }

  /** Decides the shape of records once (events.shape), and with Twenty's shape loads its metadata and follows it. */
  private async followTwentyMetadata(): Promise<void> {
    if (this.twentyMetadata || (await resolveShape(this.crm, this.config.events.shape)) === 'columns') return;
    const follower = new TwentyMetadataFollower(this.crm, this.config.twenty.refreshInterval, this.logger.child({ component: 'twenty' }));
    await follower.start();
    this.twentyMetadata = follower;
  }

  /** The lease is gone: no second reader, ever — stop reading at once. */
  private async stopStreaming(): Promise<void> {
    const session = this.session;
    this.session = null;
    this.flow.attach(null);
    const backfills = this.backfills;
    this.backfills = null;
    await backfills?.stop();
    await session?.stop();
  }

  /** Leader: streaming. Standby: able to take over. Neither with a lost slot or an unreachable state database. */
  private async readiness(): Promise<Readiness> {
    const role = this.leader.isLeader ? 'leader' : 'standby';
    const problems: string[] = [];
    const reachable = async (what: string, query: () => Promise<unknown>) => {
      const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error('no answer')), READY_CHECK_TIMEOUT_MS).unref());
      await Promise.race([query(), timeout]).catch((error: unknown) => problems.push(`${what} unreachable: ${(error as Error).message}`));
    };
    await reachable('state database', () => this.state.pool.query('SELECT 1'));
    await reachable('CRM database', () => this.crm.query('SELECT 1'));
    await this.slotMonitor.check();
    // A lost or dropped slot: both roles are unready, since neither could stream it.
    const slotProblem = this.slotMonitor.problem;
    if (slotProblem) problems.push(slotProblem);
    if (this.setupError) problems.push(this.setupError);
    const noLeader = this.leader.problem;
    if (noLeader) problems.push(noLeader);
    const publicationProblem = this.session?.publicationProblem;
    if (publicationProblem) problems.push(publicationProblem);
    if (role === 'leader' && !this.session?.stream?.isConnected) problems.push('leader is not streaming the slot (connecting or reconnecting)');
    const stall = this.watchdogSample && stallProblem(this.watchdog, this.watchdogSample);
    if (stall) problems.push(stall);
    return { ready: problems.length === 0, role, problems };
  }

  /** One look of the stall watchdog (source/watchdog.ts), and its remedy. */
  private async watchStream(): Promise<void> {
    const stream = this.session?.stream;
    const streaming = stream?.isConnected === true && !this.stopping;
    const health = streaming ? await this.slotMonitor.check() : undefined;
    if (stream !== this.session?.stream) return;
    const sample: WatchdogSample = {
      now: Date.now(),
      streaming,
      waitingBytes: health?.lagBytes ?? null,
      inFlight: this.dispatcher.load().deliveries,
      progress: `${this.received}/${stream?.confirmedLsn ?? 0n}`,
    };
    const before = this.watchdog;
    const { state, action } = watch(before, sample, this.config.source.stallTimeout);
    this.watchdog = state;
    this.watchdogSample = sample;
    const log = this.logger.child({ component: 'watchdog' });
    if (before.mode === 'stalled' && state.mode === 'watching') log.info({ attempts: before.attempts }, 'the stream moves again');
    if (action === 'none') return;
    log.warn(
      { action, waitingBytes: sample.waitingBytes, stalledForMs: sample.now - state.progressAt, flow: this.flow.mode, attempt: state.attempts },
      action === 'resume' ? 'the stream is stalled; resuming reading' : 'the stream is still stalled; reconnecting',
    );
    this.metrics.streamRecovered(action);
    if (action === 'resume') this.flow.reassert();
    else stream?.reconnect();
  }

  /**
   * A streaming session that hands its events to the dispatcher, under this process's flow control and
   * watchdog, and the backfills that run beside its stream.
   */
  private streamingSession(): { session: StreamingSession<Route>; backfills: BackfillRunner } {
    const { config, logger, dispatcher, flow } = this;
    const backfills = new BackfillRunner({
      crmConnectionString: config.database.url,
      state: this.state,
      tables: () => session.tables,
      mapping: mappingOptions(config),
      catalog: () => session.types,
      deliver: (raw, webhookId, hold) => {
        const event = finishEvent(raw, this.twentyMetadata?.current ?? null);
        if (event !== null) dispatcher.dispatch(event, hold, undefined, webhookId);
      },
      chunkSize: config.backfill.chunkSize,
      maxUnsettled: config.delivery.maxQueuedPerEndpoint,
      pollIntervalMs: config.backfill.pollInterval,
      logger: logger.child({ component: 'backfill' }),
      observer: this.metrics,
    });
    const session: StreamingSession<Route> = new StreamingSession<Route>({
      config,
      withClient: (work) => this.withCrm(work),
      sink: {
        route: (object, action) => dispatcher.match(object, action),
        dispatch: (raw, hold, route) => {
          const event = finishEvent(raw, this.twentyMetadata?.current ?? null);
          if (event !== null) dispatcher.dispatch(event, hold, route);
        },
      },
      logFor: (component) => logger.child({ component }),
      observer: this.metrics,
      tap: backfills,
      scopeRefreshMs: config.source.scopeRefreshInterval,
      received: () => this.received++,
      handled: () => flow.update(),
      connected: () => flow.reconnected(),
      settled: (commitTime, endLsn) => this.settledPoints.note(commitTime, formatLsn(endLsn)),
    });
    return { session, backfills };
  }
}
