/**
 * Runs backfills on the leader, beside the live stream: claims a backfill
 * from the state table, reads its tables in primary-key chunks between two
 * watermarks written into the WAL (`pg_logical_emit_message`), and delivers
 * each chunk where the stream reaches its high watermark, without the rows
 * the stream changed in between (see window.ts). The next chunks are read
 * while earlier ones wait for the stream or are delivered, as long as their
 * rows fit the endpoint's queue. Progress is saved in chunk order, once a
 * chunk's deliveries are settled, so a crash repeats at most the chunks in
 * flight, with the same event ids.
 *
 * No long transaction, no lock: each chunk is one short read-only select.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { Logger } from 'pino';
import { toBackfillEvent } from '../events/backfill.js';
import type { MappingOptions } from '../events/mapping.js';
import { objectName } from '../events/naming.js';
import type { ChangeEvent } from '../events/types.js';
import type { TypeCatalog } from '../events/values.js';
import type { Lsn } from '../source/lsn.js';
import { openPool } from '../common/pg-pool.js';
import { OUTPUT_SETTINGS } from '../source/replication.js';
import { quotedTable, type TableInScope } from '../source/setup.js';
import type { RawTuple, RowChange, TableShape } from '../source/types.js';
import {
  backfillStatus,
  claimBackfill,
  failBackfill,
  saveChunkProgress,
  setBackfillTables,
  type BackfillObserver,
  type BackfillRow,
  type BackfillTable,
} from '../state/backfills.js';
import type { StateDb } from '../state/db.js';
import { IDLE, rowKey, step, type ChunkRow, type ChunkWindows, type WindowInput } from './window.js';

/** The prefix of walhook's watermark messages; other messages in the WAL are not walhook's. */
export const WATERMARK_PREFIX = 'walhook.backfill';

export interface BackfillRunnerOptions {
  crmConnectionString: string;
  state: StateDb;
  tables: () => TableInScope[];
  mapping: MappingOptions;
  catalog: () => TypeCatalog;
  /** Routes an event to `webhookId`, or to every matching webhook when null; `hold` as in EventSink. */
  deliver: (event: ChangeEvent, webhookId: string | null, hold: () => () => void) => void;
  chunkSize: number;
  /**
   * Unsettled deliveries of a backfill at most, the next chunk's included
   * (delivery.maxQueuedPerEndpoint): the next chunk is read ahead only when it
   * fits, so a backfill never pushes an endpoint's queue past its bound.
   */
  maxUnsettled: number;
  pollIntervalMs: number;
  logger: Logger;
  observer?: BackfillObserver;
}

/** Where a chunk's high watermark sits in the stream. */
export interface StreamPosition {
  commitLsn: Lsn;
  commitTime: string;
}

/** A chunk is placed once the stream reached its high watermark and its rows were handed to delivery; `settled` when every delivery is. */
type ChunkOutcome = { kind: 'placed'; sent: number; superseded: number; settled: Promise<void> } | { kind: 'aborted'; reason: string };

/** A chunk whose watermarks are written, waiting for the stream to place it. */
interface ChunkInFlight {
  job: BackfillRow;
  shape: TableShape;
  keyColumns: string[];
  done: (outcome: ChunkOutcome) => void;
}

/** Where reading a backfill's tables has got to: the next chunk starts after `cursor` in `tables[tableIndex]`. */
interface ReadPosition {
  tableIndex: number;
  cursor: string[] | null;
}

/** A chunk read by this run, from its read to the save of its progress. */
interface RunChunk {
  /** `schema.table` */
  table: string;
  rows: number;
  /** Where reading goes on after it. */
  after: ReadPosition;
  finished: boolean;
  placement: Promise<ChunkOutcome>;
  /** Its outcome once known. */
  outcome: ChunkOutcome | null;
  isSettled: boolean;
}

/** A failure the same request will meet again (bad filter, missing table): the backfill fails with it. */
class BackfillFailure extends Error {}

/** SQLSTATE classes of errors in the request itself: syntax or access rule violations, data exceptions. */
const REQUEST_ERROR_CLASSES = new Set(['42', '22']);

const RETRY_DELAY_MS = 1_000;
/** How long a chunk waits for transactions that were committing as its low watermark was written. */
const COMMIT_VISIBILITY_WAIT_MS = 2_000;
const PROGRESS_LOG_MS = 10_000;

const TEXT_VALUES = { getTypeParser: () => (value: string) => value };

export class BackfillRunner {
  private windows: ChunkWindows<RawTuple> = IDLE;
  /** By token, the chunks `windows` holds. */
  private readonly inFlight = new Map<string, ChunkInFlight>();
  private readonly crm: pg.Pool;
  /** Tells this process's watermarks from those of an earlier one, streamed again after a restart. */
  private readonly nonce = randomUUID();
  private sequence = 0;
  /** Deliveries of placed chunks not settled yet. */
  private unsettled = 0;
  private stopped = false;
  private signalStop!: () => void;
  /** Resolves when walhook stops: nothing waits for deliveries any more then. */
  private readonly stopping = new Promise<void>((resolve) => (this.signalStop = resolve));
  private wake: (() => void) | null = null;
  private running: Promise<void> | null = null;

  constructor(private readonly options: BackfillRunnerOptions) {
    this.crm = openPool({ connectionString: options.crmConnectionString, options: OUTPUT_SETTINGS, application_name: 'walhook-backfill', max: 2 });
  }

  start(): void {
    this.running = this.loop();
  }

  /** Looks for work now (a backfill was just requested here). */
  poke(): void {
    this.wake?.();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.signalStop();
    this.wake?.();
    this.apply({ kind: 'abandoned', reason: 'walhook is stopping' });
    await this.running;
    await this.crm.end();
  }

  /** Every live change, in stream order. */
  change(change: RowChange): void {
    const first = this.windows[0];
    if (first?.mode !== 'open') return;
    const table = `${change.table.schema}.${change.table.table}`;
    const chunk = this.inFlight.get(first.chunk.token);
    if (table !== first.chunk.table || !chunk) return;
    const keys: string[] = [];
    for (const image of [change.newRow, change.oldRow]) {
      const key = image && rowKey(image, chunk.keyColumns);
      if (key) keys.push(key);
    }
    this.apply({ kind: 'change', table, keys });
  }

  /** A logical decoding message inside a transaction at `at`, in stream order. */
  message(prefix: string, content: string, at: StreamPosition | null): void {
    if (prefix !== WATERMARK_PREFIX || at === null) return;
    let mark: { token?: unknown; mark?: unknown };
    try {
      mark = JSON.parse(content) as typeof mark;
    } catch {
      return;
    }
    if (typeof mark.token !== 'string' || (mark.mark !== 'low' && mark.mark !== 'high')) return;
    this.apply({ kind: 'watermark', token: mark.token, mark: mark.mark }, at);
  }

  disconnected(): void {
    this.apply({ kind: 'disconnected' });
  }

  private apply(input: WindowInput<RawTuple>, at?: StreamPosition): void {
    const { windows, output } = step(this.windows, input);
    this.windows = windows;
    if (output.kind === 'emit') {
      const chunk = this.inFlight.get(output.token);
      this.inFlight.delete(output.token);
      if (chunk) this.deliverChunk(chunk, output.rows, output.dropped, at!);
    } else if (output.kind === 'abort') {
      for (const token of output.tokens) {
        const chunk = this.inFlight.get(token);
        this.inFlight.delete(token);
        chunk?.done({ kind: 'aborted', reason: output.reason });
      }
    }
  }

  /** Delivers the chunk's rows here, in the stream: placed now, settled once every delivery is. */
  private deliverChunk(chunk: ChunkInFlight, rows: ChunkRow<RawTuple>[], superseded: number, at: StreamPosition): void {
    const { job, shape } = chunk;
    let pending = 1;
    let settle!: () => void;
    const settled = new Promise<void>((resolve) => (settle = resolve));
    const release = () => {
      if (--pending === 0) settle();
    };
    const hold = () => {
      pending++;
      this.unsettled++;
      let released = false;
      return () => {
        if (released) return;
        released = true;
        this.unsettled--;
        release();
      };
    };
    for (const { key, row } of rows) {
      const event = toBackfillEvent({ backfillId: job.id, action: job.action, table: shape, row, key }, at, this.options.mapping, this.options.catalog());
      this.options.deliver(event, job.webhookId, hold);
    }
    release();
    chunk.done({ kind: 'placed', sent: rows.length, superseded, settled });
  }

  private async loop(): Promise<void> {
    const log = this.options.logger;
    while (!this.stopped) {
      let job: BackfillRow | null = null;
      try {
        job = await claimBackfill(this.options.state);
        if (job) await this.run(job);
      } catch (error) {
        this.apply({ kind: 'abandoned', reason: 'the backfill was interrupted' });
        if (error instanceof BackfillFailure && job) {
          log.error({ backfillId: job.id, object: job.object, error: error.message }, 'backfill failed');
          await failBackfill(this.options.state, job.id, error.message).catch(() => undefined);
          this.options.observer?.backfillEnded(job.id);
        } else if (!this.stopped) {
          log.warn({ err: error, backfillId: job?.id }, 'backfill interrupted; trying again');
          await this.sleep(RETRY_DELAY_MS);
        }
        continue;
      }
      if (!job) await this.sleep(this.options.pollIntervalMs);
    }
  }

  /**
   * Reads chunk after chunk while the rows read and not yet placed, the
   * deliveries not yet settled and the next chunk fit `maxUnsettled` (one
   * chunk at least), so neither the stream's latency nor delivery's holds the
   * other up; saves each chunk's progress in order once it is settled.
   */
  private async run(job: BackfillRow): Promise<void> {
    const log = this.options.logger.child({ backfillId: job.id, object: job.object });
    const tables = job.tables ?? (await this.planTables(job));
    const total = tables.reduce((sum, table) => sum + table.total, 0);
    log.info({ tables: tables.length, rowsTotal: total, rowsRead: job.rowsRead, webhookId: job.webhookId, rate: job.rate }, job.chunks > 0 ? 'backfill resumed' : 'backfill started');
    const progress = { read: job.rowsRead, sent: job.rowsSent, superseded: job.rowsSuperseded };
    const startedAt = Date.now();
    const readBefore = job.rowsRead;
    /** Rows this run read and did not abandon: what `--rate` paces. */
    let readRows = 0;
    let loggedAt = startedAt;
    const report = () => {
      const elapsed = (Date.now() - startedAt) / 1000;
      const rate = elapsed > 0 ? (progress.read - readBefore) / elapsed : 0;
      const etaSeconds = rate > 0 ? Math.max(0, total - progress.read) / rate : null;
      this.options.observer?.backfillProgress({ id: job.id, object: job.object, rowsRead: progress.read, rowsSent: progress.sent, rowsSuperseded: progress.superseded, rowsTotal: total, etaSeconds });
      return etaSeconds;
    };
    report();
    const chunkSize = Math.max(1, Math.min(this.options.chunkSize, job.rate ?? Infinity));
    const describe = memoized((tableIndex: number) => this.describe(tables[tableIndex]!));
    /** This run's chunks not saved yet, in the order read (the stream's order): placed ones first, then those waiting to be. */
    const chunks: RunChunk[] = [];
    /** Where the next chunk is read; after an abandoned chunk, back to where the last placed one ended. */
    let next: ReadPosition = { tableIndex: job.tableIndex, cursor: job.cursor };
    let placedUpTo = next;
    const unplacedRows = () => chunks.reduce((sum, chunk) => sum + (chunk.outcome === null ? chunk.rows : 0), 0);

    /** Saves the oldest chunk's progress once it is settled; false when there is none, or (`wait` false) it is not settled yet, or walhook stops first. */
    const saveOldest = async (wait: boolean): Promise<boolean> => {
      const oldest = chunks[0];
      if (oldest?.outcome?.kind !== 'placed' || (!wait && !oldest.isSettled)) return false;
      const outcome = oldest.outcome;
      await Promise.race([outcome.settled, this.stopping]);
      if (!oldest.isSettled) return false;
      chunks.shift();
      const after = await saveChunkProgress(this.options.state, job.id, {
        tableIndex: oldest.after.tableIndex,
        cursor: oldest.after.cursor,
        read: oldest.rows,
        sent: outcome.sent,
        superseded: outcome.superseded,
        finished: oldest.finished,
      });
      progress.read += oldest.rows;
      progress.sent += outcome.sent;
      progress.superseded += outcome.superseded;
      const etaSeconds = report();
      log.debug({ table: oldest.table, rows: oldest.rows, sent: outcome.sent, superseded: outcome.superseded }, 'backfill chunk delivered');
      if (Date.now() - loggedAt >= PROGRESS_LOG_MS) {
        loggedAt = Date.now();
        log.info({ rowsRead: progress.read, rowsSent: progress.sent, rowsSuperseded: progress.superseded, rowsTotal: total, etaSeconds }, 'backfill progress');
      }
      if (oldest.finished) log.info({ rowsRead: progress.read, rowsSent: progress.sent, rowsSuperseded: progress.superseded, status: after }, 'backfill done');
      return true;
    };
    const ended = (status: string | null) => {
      log.info({ status, rowsRead: progress.read }, status === 'running' ? 'backfill interrupted by shutdown' : `backfill ${status}`);
      this.options.observer?.backfillEnded(job.id);
    };

    for (;;) {
      const abandoned = chunks.find((chunk) => chunk.outcome?.kind === 'aborted');
      if (abandoned) {
        // Every chunk after it was abandoned with it: reading starts again after the last one placed.
        log.info({ reason: (abandoned.outcome as { reason: string }).reason }, 'backfill chunk abandoned; reading it again');
        for (const chunk of chunks.splice(chunks.indexOf(abandoned))) readRows -= chunk.rows;
        next = placedUpTo;
        await this.sleep(RETRY_DELAY_MS);
      }
      while (await saveOldest(false));
      const allRead = next.tableIndex >= tables.length;
      if (allRead && chunks.length === 0) break;
      if (this.stopped) {
        ended('running');
        return;
      }
      const fits = chunks.length === 0 || this.unsettled + unplacedRows() + chunkSize <= this.options.maxUnsettled;
      if (allRead || !fits) {
        // Something to wait for: the oldest chunk's placement, or its deliveries.
        const oldest = chunks[0]!;
        await Promise.race([oldest.outcome?.kind === 'placed' ? oldest.outcome.settled : oldest.placement, this.stopping]);
        continue;
      }
      const status = await backfillStatus(this.options.state, job.id);
      if (status !== 'running') {
        // Stopped by an operator: it stays where its placed chunks end.
        this.apply({ kind: 'abandoned', reason: `the backfill is ${status}` });
        while (await saveOldest(true));
        ended(status);
        return;
      }
      if (job.rate !== null) await this.sleep(startedAt + (readRows / job.rate) * 1000 - Date.now());
      const table = tables[next.tableIndex]!;
      const { shape, keyColumns } = await describe(next.tableIndex);
      const { rows, placement } = await this.readChunk(job, shape, keyColumns, table, next.cursor, chunkSize);
      const last = rows.at(-1);
      const tableDone = rows.length < chunkSize;
      const after: ReadPosition = tableDone
        ? { tableIndex: next.tableIndex + 1, cursor: null }
        : { tableIndex: next.tableIndex, cursor: last ? keyColumns.map((column) => String(last.row[column])) : next.cursor };
      const chunk: RunChunk = {
        table: `${table.schema}.${table.table}`,
        rows: rows.length,
        after,
        finished: after.tableIndex >= tables.length,
        placement,
        outcome: null,
        isSettled: false,
      };
      void placement.then((outcome) => {
        chunk.outcome = outcome;
        if (outcome.kind !== 'placed') return;
        placedUpTo = after;
        void outcome.settled.then(() => (chunk.isSettled = true));
      });
      chunks.push(chunk);
      readRows += rows.length;
      next = after;
    }
    this.options.observer?.backfillEnded(job.id);
  }

  /** One attempt at a chunk: low watermark, select, high watermark; `placement` settles when the stream placed it or it was abandoned. */
  private async readChunk(
    job: BackfillRow,
    shape: TableShape,
    keyColumns: string[],
    table: BackfillTable,
    cursor: string[] | null,
    limit: number,
  ): Promise<{ rows: ChunkRow<RawTuple>[]; placement: Promise<ChunkOutcome> }> {
    const token = `${job.id}/${this.nonce}/${++this.sequence}`;
    const placement = new Promise<ChunkOutcome>((done) => {
      this.inFlight.set(token, { job, shape, keyColumns, done });
    });
    // Open before the low watermark is written: the stream may reach it before the write returns.
    this.apply({ kind: 'lowWritten', chunk: { token, table: `${table.schema}.${table.table}` } });
    let rows: ChunkRow<RawTuple>[] = [];
    try {
      await this.emitWatermark(token, 'low');
      await this.commitsBeforeLowVisible();
      rows = await this.select(table, keyColumns, job.whereSql, cursor, limit);
      this.apply({ kind: 'rowsRead', token, rows });
      await this.emitWatermark(token, 'high');
    } catch (error) {
      this.apply({ kind: 'abandoned', reason: 'a chunk could not be read' });
      throw error;
    }
    return { rows, placement };
  }

  private async emitWatermark(token: string, mark: 'low' | 'high'): Promise<void> {
    // Transactional: decoded in commit order with the live changes, which is what places the window.
    await this.crm.query('SELECT pg_logical_emit_message(true, $1, $2)', [WATERMARK_PREFIX, JSON.stringify({ token, mark })]);
  }

  /**
   * A transaction whose commit record precedes the low watermark can still be
   * invisible to a snapshot taken just after it (its commit is in the WAL, the
   * server has not yet marked it done): the chunk would then miss its change,
   * and the change, streamed before the window, would not supersede the row.
   * So the select waits until every transaction in progress once the low
   * watermark committed is no longer in progress for a new snapshot. A
   * transaction still running after COMMIT_VISIBILITY_WAIT_MS commits, if ever,
   * after the low watermark, inside the window.
   */
  private async commitsBeforeLowVisible(): Promise<void> {
    const { rows } = await this.crm.query<{ snapshot: string }>('SELECT pg_current_snapshot()::text AS snapshot');
    const snapshot = rows[0]!.snapshot;
    const deadline = Date.now() + COMMIT_VISIBILITY_WAIT_MS;
    for (let waitMs = 1; Date.now() < deadline; waitMs = Math.min(waitMs * 2, 50)) {
      const { rows: left } = await this.crm.query<{ running: number }>(
        `SELECT count(*)::int AS running FROM pg_snapshot_xip($1::pg_snapshot) AS x
          WHERE x IN (SELECT pg_snapshot_xip(pg_current_snapshot()))`,
        [snapshot],
      );
      if (left[0]!.running === 0) return;
      await new Promise((resolve) => setTimeout(resolve, waitMs));
    }
  }

  /** The next chunk after `cursor`, as PostgreSQL's text output (the stream's form), in key order. */
  private async select(table: BackfillTable, keyColumns: string[], whereSql: string | null, cursor: string[] | null, limit: number): Promise<ChunkRow<RawTuple>[]> {
    const keys = keyColumns.map(quoteIdent).join(', ');
    const values: unknown[] = [];
    const conditions: string[] = [];
    if (whereSql) conditions.push(`(${whereSql})`);
    if (cursor) {
      conditions.push(`(${keys}) > (${cursor.map((value) => `$${values.push(value)}`).join(', ')})`);
    }
    const where = conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : '';
    const text = `SELECT * FROM ${quotedTable(table)} ${where} ORDER BY ${keys} LIMIT $${values.push(limit)}`;
    const rows = await this.readOnly((client) => client.query<RawTuple>({ text, values, types: TEXT_VALUES }));
    return rows.rows.map((row) => ({ key: rowKey(row, keyColumns)!, row }));
  }

  /** A filter is the operator's SQL: it runs read-only, as one statement (parameters make it the extended protocol). */
  private async readOnly<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.crm.connect();
    try {
      await client.query('BEGIN READ ONLY');
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      const code = (error as { code?: string }).code;
      if (code && REQUEST_ERROR_CLASSES.has(code.slice(0, 2))) throw new BackfillFailure((error as Error).message);
      throw error;
    } finally {
      client.release();
    }
  }

  /** The object's tables in scope and how many rows each will send; saved, so a resumed backfill covers the same. */
  private async planTables(job: BackfillRow): Promise<BackfillTable[]> {
    const inScope = this.options
      .tables()
      .filter((table) => objectName(table.schema, table.table, this.options.mapping) === job.object)
      .filter((table) => !job.onlyTables || job.onlyTables.includes(`${table.schema}.${table.table}`));
    if (inScope.length === 0) throw new BackfillFailure(`no table in source scope is object ${JSON.stringify(job.object)}`);
    const tables: BackfillTable[] = [];
    for (const table of inScope) {
      const where = job.whereSql ? `WHERE (${job.whereSql})` : '';
      const { rows } = await this.readOnly((client) =>
        client.query<{ count: string }>({ text: `SELECT count(*) AS count FROM ${quotedTable(table)} ${where} LIMIT $1`, values: [1] }),
      );
      tables.push({ schema: table.schema, table: table.table, total: Number(rows[0]!.count) });
    }
    await setBackfillTables(this.options.state, job.id, tables);
    return tables;
  }

  /** The table's shape as the stream describes it, and its primary key. */
  private async describe(table: BackfillTable): Promise<{ shape: TableShape; keyColumns: string[] }> {
    const known = this.options.tables().find((t) => t.schema === table.schema && t.table === table.table);
    if (!known) throw new BackfillFailure(`table ${table.schema}.${table.table} is no longer in source scope`);
    const { rows } = await this.crm.query<{ name: string }>(
      `SELECT a.attname AS name
         FROM pg_index i JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n) ON true
         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
        WHERE i.indrelid = $1::regclass AND i.indisprimary ORDER BY k.n`,
      [quotedTable(table)],
    );
    if (rows.length === 0) throw new BackfillFailure(`table ${table.schema}.${table.table} has no primary key to read it in chunks by`);
    const replicaIdentity = known.identity === 'full' ? 'full' : known.identity === 'none' ? 'nothing' : 'default';
    return { shape: { schema: known.schema, table: known.table, columns: known.columns, replicaIdentity }, keyColumns: rows.map((row) => row.name) };
  }

  private sleep(ms: number): Promise<void> {
    if (ms <= 0 || this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = () => {
        this.wake = null;
        done();
      };
    });
  }
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** `compute` once per argument: a table's shape and key are looked up once per run. */
function memoized<A, R>(compute: (argument: A) => Promise<R>): (argument: A) => Promise<R> {
  const known = new Map<A, Promise<R>>();
  return (argument) => {
    let value = known.get(argument);
    if (!value) known.set(argument, (value = compute(argument)));
    return value;
  };
}
