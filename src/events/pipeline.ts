/**
 * The CDC pipeline: source messages in WAL order → events → deliveries, with
 * the watermark deciding what the slot may confirm. Everything here runs
 * synchronously per message, so the order of transactions is the WAL's.
 */
import type { Logger } from 'pino';
import type { Action } from '../common/operations.js';
import { formatLsn, type Lsn } from '../source/lsn.js';
import { timelineOf, type ServerIdentity } from '../source/server-identity.js';
import type { RowChange, SourceMessage, TableShape } from '../source/types.js';
import { Watermark, type TrackedTransaction } from '../source/watermark.js';
import { eventId } from './event-id.js';
import { classifyChange, type MappingOptions } from './mapping.js';
import { LazyEvent, type PendingEvent } from './pending-event.js';
import type { TwentyMetadata } from './twenty/metadata.js';
import type { TypeCatalog } from './values.js';

/** Where events go: the dispatcher in the daemon, stdout in `walhook tail`. */
export interface EventSink<Route = never> {
  /**
   * Calls `hold()` once per delivery it starts, and the returned function once that delivery is settled.
   * `route` is what `route` said of the event's object and action (absent when the sink has no `route`).
   * The event's rows are decoded as far as the sink asks.
   */
  dispatch(event: PendingEvent, hold: () => () => void, route?: Route): void;
  /**
   * Where such an event would go (the daemon: the webhooks matching it), worked out once and handed to
   * `dispatch`; null when nothing would come of it, and the change then goes no further.
   */
  route?(object: string, action: Action): Route | null;
}

export interface PipelineObserver {
  change(object: string, action: Action): void;
  truncate(table: TableShape): void;
}

/** Sees the stream in order beside the events (the backfill's watermark window). */
export interface StreamTap {
  /** Every row change, before it is routed. */
  change(change: RowChange): void;
  /** A logical decoding message; `at` is its transaction's, null outside one. */
  message(prefix: string, content: string, at: { commitLsn: Lsn; commitTime: string } | null): void;
  disconnected(): void;
}

export interface PipelineOptions {
  mapping: MappingOptions;
  catalog: () => TypeCatalog;
  /** Twenty's metadata, for Twenty's shape; absent or null: the `columns` shape. */
  metadata?: () => TwentyMetadata | null;
  logger: Logger;
  observer?: PipelineObserver;
  tap?: StreamTap;
}

interface OpenTransaction {
  tracked: TrackedTransaction;
  commitLsn: Lsn;
  commitLsnText: string;
  commitTime: string;
  commitTimeMs: number;
  /** WAL record of the previous change, and how many changes came from it so far (a multi-insert gives several). */
  lastLsn: Lsn;
  fromLastLsn: number;
}

export class Pipeline<Route = never> {
  readonly watermark: Watermark;
  private open: OpenTransaction | null = null;
  private server: ServerIdentity | null = null;

  constructor(
    private readonly sink: EventSink<Route>,
    private readonly options: PipelineOptions,
    confirm: (lsn: Lsn, settledCommitTime: string | null) => void,
  ) {
    this.watermark = new Watermark(confirm);
  }

  handle(message: SourceMessage): void {
    switch (message.type) {
      case 'server':
        this.server = message.server;
        return;
      case 'begin':
        this.open = {
          tracked: this.watermark.begin(message.commitLsn, message.commitTime),
          commitLsn: message.commitLsn,
          commitLsnText: formatLsn(message.commitLsn),
          commitTime: message.commitTime,
          commitTimeMs: Date.parse(message.commitTime),
          lastLsn: 0n,
          fromLastLsn: 0,
        };
        return;
      case 'change':
        this.change(message.lsn, message.change);
        return;
      case 'truncate':
        for (const table of message.tables) {
          this.options.logger.warn({ schema: table.schema, table: table.table }, 'TRUNCATE seen: not turned into row events');
          this.options.observer?.truncate(table);
        }
        return;
      case 'commit':
        if (this.open) this.watermark.commit(this.open.tracked, message.endLsn);
        this.open = null;
        return;
      case 'message':
        this.options.tap?.message(message.prefix, message.content, this.open && { commitLsn: this.open.commitLsn, commitTime: this.open.commitTime });
        return;
      case 'keepalive':
        this.watermark.keepalive(message.walEnd);
        return;
    }
  }

  /** The connection dropped: the open transaction will be streamed again from its start. */
  disconnected(): void {
    this.open = null;
    this.watermark.abandonOpen();
    this.options.tap?.disconnected();
  }

  /**
   * Every change the plugin sent becomes an event: what it sends was decided
   * at decode time with the catalog of then (publications, replica identity),
   * which walhook's current view of the tables must never overrule.
   */
  private change(lsn: Lsn, change: RowChange): void {
    const open = this.open;
    if (!open) throw new Error('row change outside a transaction');
    if (!this.server) throw new Error('row change before the server identified itself');
    this.options.tap?.change(change);
    // Changes arrive in WAL order, so those of one record (a multi-insert) are consecutive.
    const index = lsn === open.lastLsn ? ++open.fromLastLsn : (open.fromLastLsn = 0);
    open.lastLsn = lsn;
    const classified = classifyChange(change, this.options.mapping);
    this.options.observer?.change(classified.object, classified.action);
    const route = this.sink.route ? this.sink.route(classified.object, classified.action) : undefined;
    if (route === null) return;
    const id = eventId({ systemId: this.server.systemId, timeline: timelineOf(this.server, lsn), lsn, index });
    const changeLsnText = formatLsn(lsn);
    const position = { id, commitLsn: open.commitLsn, commitLsnText: open.commitLsnText, changeLsn: lsn, changeLsnText, commitTime: open.commitTime, commitTimeMs: open.commitTimeMs };
    const event = new LazyEvent(classified, position, this.options.mapping, this.options.catalog(), this.options.metadata?.() ?? null);
    try {
      this.sink.dispatch(event, () => this.watermark.hold(open.tracked), route);
    } catch (error) {
      // A change the sink cannot decode or take now (it sets aside what can never be rendered): streamed again after the reconnect's backoff.
      this.options.logger.error(
        { err: error, eventId: event.id, schema: change.table.schema, table: change.table.table, commitLsn: open.commitLsnText, changeLsn: changeLsnText },
        'could not dispatch a row change; the stream restarts from the last confirmed position',
      );
      throw error;
    }
  }
}
