/**
 * `walhook start`: assembles the stages from the configuration, starts them in
 * dependency order, and stops them in reverse on SIGTERM — stop reading, let
 * in-flight deliveries finish or persist within the deadline, confirm, exit.
 */
import pg from 'pg';
import { v5 as uuidV5 } from 'uuid';
import type { WalhookConfig } from './config/schema.js';
import { Dispatcher, type DeliveryObserver } from './delivery/dispatcher.js';
import { HttpSender } from './delivery/http.js';
import { toWebhook, WebhookRegistry } from './delivery/registry.js';
import { RetryWorker } from './delivery/retry-worker.js';
import { StateWriter } from './delivery/state-writer.js';
import type { MappingOptions } from './events/mapping.js';
import { decodeValue, typeCatalogFromRows, type PgTypeRow, type TypeCatalog } from './events/values.js';
import type { Logger } from './log.js';
import { Pipeline, type PipelineObserver } from './pipeline.js';
import { formatLsn } from './source/lsn.js';
import { ReplicationStream } from './source/replication.js';
import {
  checkServer,
  describeIdentity,
  discoverTables,
  ensureSlot,
  publicationNames,
  syncPublications,
  type Scope,
  type TableInScope,
} from './source/setup.js';
import { disabledWebhooks } from './state/deliveries.js';
import { openStateDb, type StateDb } from './state/db.js';
import { migrate } from './state/migrations.js';

/** Namespace of the ids given to config-file webhooks that do not set one. */
const CONFIG_WEBHOOK_NAMESPACE = 'a8a3f0c4-2f8e-4d8e-9a53-0b6f0f7e6c1d';
/** Above this many deliveries held in memory, reading from the slot pauses until half are done. */
const MAX_IN_MEMORY = 20_000;
const SCOPE_REFRESH_MS = 30_000;

export interface DaemonHooks {
  delivery?: DeliveryObserver;
  pipeline?: PipelineObserver;
}

export function mappingOptions(config: WalhookConfig): MappingOptions {
  return {
    objectNames: config.events.objectNames,
    workspacePattern: config.events.workspacePattern ? new RegExp(config.events.workspacePattern) : null,
    twentyWorkspaceIds: config.events.twentyWorkspaceIds,
    softDeleteColumn: config.events.softDeleteColumn,
  };
}

export function scopeOf(config: WalhookConfig): Scope {
  return {
    schemas: config.source.schemas,
    tables: config.source.tables,
    excludeTables: config.source.excludeTables,
    stateSchema: config.state.schema,
  };
}

export async function loadTypeCatalog(client: pg.ClientBase): Promise<TypeCatalog> {
  const { rows } = await client.query<PgTypeRow>(
    'SELECT oid::int AS oid, typname, typelem::int AS typelem, typcategory, typtype, typbasetype::int AS typbasetype FROM pg_type',
  );
  return typeCatalogFromRows(rows);
}

/** Commit timestamps from wal2json are timestamptz text, decoded like any value. */
export function decodeTimestamp(text: string): string {
  return decodeValue(text, { oid: 1184, name: 'timestamptz' }, typeCatalogFromRows([])) as string;
}

/**
 * Checks the server, brings publications and slot in line with the scope, and
 * logs what previousRecord will hold per table.
 */
export async function prepareSource(client: pg.ClientBase, config: WalhookConfig, logger: Logger): Promise<TableInScope[]> {
  await checkServer(client, config.source.slot);
  const tables = await discoverTables(client, scopeOf(config));
  if (tables.length === 0) {
    logger.warn({ schemas: config.source.schemas, tables: config.source.tables }, 'no table matches source.schemas / source.tables yet');
  }
  if (config.source.plugin === 'pgoutput' && config.source.createPublication) {
    await syncPublications(client, config.source.publication, tables);
  }
  // The publication must exist before the slot: decoding changes older than it fails.
  const slot = await ensureSlot(client, config.source.slot, config.source.plugin, config.source.createSlot);
  if (slot === 'created') logger.info({ slot: config.source.slot, plugin: config.source.plugin }, 'replication slot created');
  return tables;
}

export function logIdentities(tables: TableInScope[], logger: Logger): void {
  for (const table of tables) {
    logger.info({ schema: table.schema, table: table.table, previousRecord: table.identity }, describeIdentity(table));
  }
}

function insertsOnlySet(tables: TableInScope[]): Set<string> {
  return new Set(tables.filter((t) => t.identity === 'none').map((t) => `${t.schema}.${t.table}`));
}

export class Daemon {
  private crm: pg.Client | null = null;
  private state: StateDb | null = null;
  private stream: ReplicationStream | null = null;
  private retryWorker: RetryWorker | null = null;
  private sender: HttpSender | null = null;
  private writer: StateWriter | null = null;
  private dispatcher: Dispatcher | null = null;
  private refreshTimer: NodeJS.Timeout | null = null;
  private tables: TableInScope[] = [];
  private insertsOnly = new Set<string>();
  private catalog: TypeCatalog = typeCatalogFromRows([]);
  readonly registry = new WebhookRegistry();

  constructor(
    private readonly config: WalhookConfig,
    private readonly logger: Logger,
    private readonly hooks: DaemonHooks = {},
  ) {}

  async start(): Promise<void> {
    const { config, logger } = this;
    const crm = new pg.Client({ connectionString: config.database.url, application_name: 'walhook' });
    crm.on('error', (error) => logger.error({ err: error, component: 'setup' }, 'CRM database connection error'));
    await crm.connect();
    this.crm = crm;
    this.tables = await prepareSource(crm, config, logger.child({ component: 'setup' }));
    this.insertsOnly = insertsOnlySet(this.tables);
    logIdentities(this.tables, logger.child({ component: 'setup' }));
    this.catalog = await loadTypeCatalog(crm);

    const state = openStateDb(config.state.databaseUrl ?? config.database.url, config.state.schema);
    this.state = state;
    const applied = await migrate(state);
    if (applied.length > 0) logger.info({ component: 'state', versions: applied }, 'state schema migrated');
    await this.loadWebhooks(state);

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
        maxPayloadBytes: config.delivery.maxPayloadBytes,
        userAgent: config.delivery.userAgent,
      },
      logger.child({ component: 'delivery' }),
      this.hooks.delivery,
    );
    this.dispatcher = dispatcher;
    this.retryWorker = new RetryWorker(
      state,
      this.registry,
      dispatcher,
      {
        pollIntervalMs: config.delivery.retryPollInterval,
        leaseMs: config.delivery.leaseDuration,
        maxQueuedPerEndpoint: config.delivery.maxQueuedPerEndpoint,
        batchSize: 100,
      },
      logger.child({ component: 'retry' }),
    );
    this.retryWorker.start();
    this.startStreaming(dispatcher);
    this.refreshTimer = setInterval(() => void this.refreshScope(), SCOPE_REFRESH_MS);
  }

  private startStreaming(dispatcher: Dispatcher): void {
    const { config, logger } = this;
    let paused = false;
    const pipeline = new Pipeline(
      {
        dispatch: (event, hold) =>
          dispatcher.dispatch(event, () => {
            const settle = hold();
            return () => {
              settle();
              if (paused && dispatcher.inMemory < MAX_IN_MEMORY / 2) {
                paused = false;
                stream.resume();
              }
            };
          }),
      },
      {
        mapping: mappingOptions(config),
        catalog: () => this.catalog,
        insertsOnly: () => this.insertsOnly,
        logger: logger.child({ component: 'events' }),
        observer: this.hooks.pipeline,
      },
      (lsn) => stream.confirm(lsn),
    );
    const names = publicationNames(config.source.publication);
    const stream = new ReplicationStream(
      {
        connectionString: config.database.url,
        slot: config.source.slot,
        plugin: config.source.plugin,
        publications: [names.all, names.insertsOnly],
        tables: () => this.tables,
        decodeTimestamp,
        statusIntervalMs: config.source.statusInterval,
        reconnect: { minDelayMs: config.source.reconnect.minDelay, maxDelayMs: config.source.reconnect.maxDelay },
        logger: logger.child({ component: 'source' }),
      },
      (message) => {
        pipeline.handle(message);
        if (!paused && dispatcher.inMemory >= MAX_IN_MEMORY) {
          paused = true;
          stream.pause();
        }
      },
    );
    stream.on('disconnected', () => {
      pipeline.disconnected();
      paused = false;
    });
    this.stream = stream;
    stream.start();
  }

  private async loadWebhooks(state: StateDb): Promise<void> {
    const disabled = await disabledWebhooks(state);
    for (const entry of this.config.webhooks) {
      const id = entry.id ?? uuidV5(entry.targetUrl, CONFIG_WEBHOOK_NAMESPACE);
      const webhook = toWebhook(
        {
          id,
          targetUrl: entry.targetUrl,
          operations: entry.operations,
          description: entry.description,
          format: entry.format,
          signatures: entry.signatures,
          secrets: [entry.secret],
          source: 'config',
        },
        disabled.get(id) ?? null,
      );
      this.registry.set(webhook);
      this.logger.info(
        { component: 'delivery', webhookId: id, targetUrl: webhook.targetUrl, operations: webhook.operations, disabled: webhook.disabledReason },
        'webhook loaded from config',
      );
    }
  }

  /** Picks up new workspace schemas and tables (and their identity) without a restart. */
  private async refreshScope(): Promise<void> {
    const crm = this.crm;
    if (!crm) return;
    try {
      const tables = await discoverTables(crm, scopeOf(this.config));
      const key = (t: TableInScope) => `${t.schema}.${t.table}:${t.identity}`;
      const before = new Set(this.tables.map(key));
      const changed = tables.length !== this.tables.length || tables.some((t) => !before.has(key(t)));
      if (!changed) return;
      if (this.config.source.plugin === 'pgoutput' && this.config.source.createPublication) {
        await syncPublications(crm, this.config.source.publication, tables);
      }
      logIdentities(tables.filter((t) => !before.has(key(t))), this.logger.child({ component: 'setup' }));
      this.tables = tables;
      this.insertsOnly = insertsOnlySet(tables);
      this.catalog = await loadTypeCatalog(crm);
    } catch (error) {
      this.logger.error({ err: error, component: 'setup' }, 'could not refresh the set of streamed tables');
    }
  }

  /** SIGTERM: stop reading, finish or persist in-flight deliveries within the deadline, confirm, stop. */
  async stop(): Promise<void> {
    const deadline = this.config.delivery.shutdownTimeout;
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    this.stream?.pause();
    await this.retryWorker?.stop();
    const finished = await this.dispatcher?.idle(deadline);
    if (finished === false) this.logger.warn({ deadlineMs: deadline }, 'deliveries still in flight at shutdown; they will be streamed again');
    await this.writer?.drain();
    const confirmed = this.stream?.confirmedLsn ?? 0n;
    await this.stream?.stop();
    this.logger.info({ confirmedLsn: formatLsn(confirmed) }, 'stopped');
    await this.sender?.close();
    await this.state?.pool.end();
    await this.crm?.end();
  }
}
