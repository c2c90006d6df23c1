/**
 * The streaming session: the half of walhook that only the slot's reader
 * runs — bring publications and slot in line with the scope, stream the slot
 * through the pipeline, keep the scope current, stop. `walhook start` runs one
 * per term of leadership; `walhook tail` runs one on its own slot.
 *
 * Modes: `idle` → `preparing` (publications, slot, tables, type catalog) →
 * `prepared` → `streaming` → `stopping` → `stopped`. A preparation that fails
 * goes back to `idle`; a session stopped before it streams goes straight to
 * `stopped`, and a preparation that ends after that changes nothing — so a
 * reader that lost its turn meanwhile never starts streaming.
 */
import type pg from 'pg';
import type { WalhookConfig } from '../config/schema.js';
import type { Logger } from '../common/log.js';
import type { PartitionTarget } from '../common/partitions.js';
import { logIdentities, prepareSource, refreshSource, wholeSource } from '../source/prepare.js';
import type { Lsn } from '../source/lsn.js';
import { ReplicationStream } from '../source/replication.js';
import { publicationNames, type TableInScope } from '../source/setup.js';
import type { TwentyMetadata } from './twenty/metadata.js';
import { Pipeline, type EventSink, type PipelineObserver, type StreamTap } from './pipeline.js';
import { decodeTimestamp, loadTypeCatalog, mappingOptions } from './setup.js';
import { typeCatalogFromRows, type TypeCatalog } from './values.js';

export type SessionMode = 'idle' | 'preparing' | 'prepared' | 'streaming' | 'stopping' | 'stopped';
export type SessionInput = 'prepare' | 'prepared' | 'failed' | 'stream' | 'stop' | 'stopped';

/** Every transition, in one place; an input a mode does not list changes nothing. */
const TRANSITIONS: Record<SessionMode, Partial<Record<SessionInput, SessionMode>>> = {
  idle: { prepare: 'preparing', stop: 'stopped' },
  preparing: { prepared: 'prepared', failed: 'idle', stop: 'stopped' },
  prepared: { stream: 'streaming', stop: 'stopped' },
  streaming: { stop: 'stopping' },
  stopping: { stopped: 'stopped' },
  stopped: {},
};

/** The mode after `input`, or null when `input` does nothing in `mode`. */
export function nextSessionMode(mode: SessionMode, input: SessionInput): SessionMode | null {
  return TRANSITIONS[mode][input] ?? null;
}

/** The parts of the session that log, each under its own component name in the daemon. */
export type SessionComponent = 'setup' | 'events' | 'source';

export interface SessionOptions<Route = never> {
  config: WalhookConfig;
  /** The slot, publications and tables streamed; by default config.source.slot and config.source.publication with the whole scope. */
  target?: PartitionTarget;
  /** Runs `work` on a connection to the CRM database (catalog, publications, slot). */
  withClient: <T>(work: (client: pg.ClientBase) => Promise<T>) => Promise<T>;
  /** Where the pipeline hands each event. */
  sink: EventSink<Route>;
  /** Twenty's metadata as now, for Twenty's shape; absent or null: the `columns` shape. */
  metadata?: () => TwentyMetadata | null;
  logFor: (component: SessionComponent) => Logger;
  observer?: PipelineObserver;
  /** Sees the stream in order beside the events (the backfill's watermark window). */
  tap?: StreamTap;
  /** The slot lives as long as its replication connection (see ReplicationOptions). */
  temporarySlot?: boolean;
  /** The replication connection's application_name, naming who streams (partitions shared by replicas). */
  applicationName?: string;
  /** How often the scope is looked at again while streaming; never when absent. */
  scopeRefreshMs?: number;
  /** Each message the stream hands over (keepalives included), before the pipeline takes it: a sign of life. */
  received?: () => void;
  /** After the pipeline took a message. */
  handled?: () => void;
  connected?: () => void;
  disconnected?: () => void;
  /** The watermark confirmed up to the end of a transaction committed at `commitTime`: every change before it is settled. */
  settled?: (commitTime: string, endLsn: Lsn) => void;
}

export class StreamingSession<Route = never> {
  private current: SessionMode = 'idle';
  private scope: TableInScope[] = [];
  private catalog: TypeCatalog = typeCatalogFromRows([]);
  private problem: string | null = null;
  private replication: ReplicationStream | null = null;
  private pipeline: Pipeline<Route> | null = null;
  private refreshTimer: NodeJS.Timeout | null = null;
  private stopped: Promise<void> | null = null;

  /** What this session streams. */
  readonly target: PartitionTarget;

  constructor(private readonly options: SessionOptions<Route>) {
    this.target = options.target ?? wholeSource(options.config);
  }

  get mode(): SessionMode {
    return this.current;
  }

  /** The tables in scope, as last prepared or refreshed. */
  get tables(): TableInScope[] {
    return this.scope;
  }

  /** The type catalog, as last prepared or refreshed. */
  get types(): TypeCatalog {
    return this.catalog;
  }

  /** Publications walhook may not repair differ from the scope (source.createPublication: false). */
  get publicationProblem(): string | null {
    return this.problem;
  }

  /** Deliveries this session's changes produced that are not settled yet (its watermark waits for them). */
  get unsettledDeliveries(): number {
    return this.pipeline?.watermark.unsettledDeliveries ?? 0;
  }

  /** The replication stream, while streaming or stopping. */
  get stream(): ReplicationStream | null {
    return this.replication;
  }

  /** Brings publications and slot in line with the scope and reads the type catalog. Throws what stopped it. */
  async prepare(): Promise<void> {
    if (!this.apply('prepare')) throw new Error(`a streaming session cannot prepare while ${this.current}`);
    const { config, withClient, logFor, temporarySlot = false } = this.options;
    const log = logFor('setup');
    try {
      const { prepared, catalog } = await withClient(async (client) => ({
        prepared: await prepareSource(client, config, log, { temporarySlot, target: this.target }),
        catalog: await loadTypeCatalog(client),
      }));
      this.scope = prepared.tables;
      this.problem = prepared.publicationProblem;
      this.catalog = catalog;
      logIdentities(prepared.tables, log);
    } catch (error) {
      this.apply('failed');
      throw error;
    }
    this.apply('prepared');
  }

  /** Starts streaming once prepared; false (and nothing started) when the session was stopped meanwhile. */
  start(): boolean {
    if (!this.apply('stream')) return false;
    const { config, sink, metadata, logFor, observer, tap, temporarySlot, scopeRefreshMs, applicationName } = this.options;
    const pipeline = new Pipeline(
      sink,
      { mapping: mappingOptions(config), catalog: () => this.catalog, metadata, logger: logFor('events'), observer, tap },
      (lsn, settledCommitTime) => {
        stream.confirm(lsn);
        if (settledCommitTime !== null) this.options.settled?.(settledCommitTime, lsn);
      },
    );
    const names = publicationNames(this.target.publication);
    const stream = new ReplicationStream(
      {
        connectionString: config.database.url,
        slot: this.target.slot,
        plugin: config.source.plugin,
        publications: [names.all, names.insertsOnly],
        tables: () => this.scope,
        decodeTimestamp,
        statusIntervalMs: config.source.statusInterval,
        reconnect: { minDelayMs: config.source.reconnect.minDelay, maxDelayMs: config.source.reconnect.maxDelay },
        startTimeoutMs: config.source.stallTimeout,
        logger: logFor('source'),
        temporarySlot,
        applicationName,
      },
      (message) => {
        this.options.received?.();
        pipeline.handle(message);
        this.options.handled?.();
      },
    );
    stream.on('disconnected', () => {
      pipeline.disconnected();
      this.options.disconnected?.();
    });
    stream.on('connected', () => this.options.connected?.());
    this.pipeline = pipeline;
    this.replication = stream;
    stream.start();
    if (scopeRefreshMs !== undefined) this.refreshTimer = setInterval(() => void this.refreshScope(), scopeRefreshMs);
    return true;
  }

  /**
   * Picks up new workspace schemas and tables (their identity, renamed or
   * retyped columns) without a restart, and holds the publications to the
   * scope whoever altered them.
   */
  async refreshScope(): Promise<void> {
    const { config, withClient, logFor } = this.options;
    const log = logFor('setup');
    try {
      const changed = await withClient(async (client) => {
        const refreshed = await refreshSource(client, config, this.scope, log, this.target);
        this.problem = refreshed.publicationProblem;
        if (refreshed.tables === this.scope) return false;
        this.scope = refreshed.tables;
        this.catalog = await loadTypeCatalog(client);
        return true;
      });
      // wal2json takes its table list when streaming starts: start again to include the new tables.
      if (changed && config.source.plugin === 'wal2json') this.replication?.reconnect();
    } catch (error) {
      log.error({ err: error }, 'could not refresh the set of streamed tables');
    }
  }

  /** Stops reading; once stopped, an open transaction will be streamed again from its start. */
  stop(): Promise<void> {
    if (this.stopped) return this.stopped;
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    const stream = this.replication;
    const pipeline = this.pipeline;
    if (this.apply('stop') !== 'stopping') {
      this.stopped = Promise.resolve();
      return this.stopped;
    }
    this.stopped = (async () => {
      await stream?.stop();
      pipeline?.disconnected();
      this.apply('stopped');
    })();
    return this.stopped;
  }

  private apply(input: SessionInput): SessionMode | null {
    const next = nextSessionMode(this.current, input);
    if (next !== null) this.current = next;
    return next;
  }
}
