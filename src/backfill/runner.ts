/**
 * Runs backfills on the leader, beside the live stream: claims a backfill
 * from the state table, reads its tables in primary-key chunks between two
 * watermarks written into the WAL (`pg_logical_emit_message`), and delivers
 * each chunk where the stream reaches its high watermark, without the rows
 * the stream changed in between (see window.ts). Progress is saved once a
 * chunk's deliveries are settled, so a crash repeats at most the chunk in
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
import { IDLE, rowKey, step, type ChunkRow, type ChunkWindow, type WindowInput } from './window.js';

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
  pollIntervalMs: number;
  logger: Logger;
  observer?: BackfillObserver;
}

/** Where a chunk's high watermark sits in the stream. */
export interface StreamPosition {
  commitLsn: Lsn;
  commitTime: string;
}

type ChunkOutcome = { kind: 'settled'; sent: number; superseded: number } | { kind: 'aborted'; reason: string };

interface ChunkInFlight {
  token: string;
  job: BackfillRow;
  shape: TableShape;
  keyColumns: string[];
  done: (outcome: ChunkOutcome) => void;
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
  private window: ChunkWindow<RawTuple> = IDLE;
  private chunk: ChunkInFlight | null = null;
  private readonly crm: pg.Pool;
  /** Tells this process's watermarks from those of an earlier one, streamed again after a restart. */
  private readonly nonce = randomUUID();
  private sequence = 0;
  private stopped = false;
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
    this.wake?.();
    this.abort('walhook is stopping');
    await this.running;
    await this.crm.end();
  }

  /** Every live change, in stream order. */
  change(change: RowChange): void {
    if (this.window.mode !== 'open' || !this.chunk) return;
    const table = `${change.table.schema}.${change.table.table}`;
    if (table !== this.window.chunk.table) return;
    const keys: string[] = [];
    for (const image of [change.newRow, change.oldRow]) {
      const key = image && rowKey(image, this.chunk.keyColumns);
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

  private abort(reason: string): void {
    const chunk = this.chunk;
    this.window = IDLE;
    this.chunk = null;
    chunk?.done({ kind: 'aborted', reason });
  }

  private apply(input: WindowInput<RawTuple>, at?: StreamPosition): void {
    const { window, output } = step(this.window, input);
    this.window = window;
    const chunk = this.chunk;
    if (output.kind === 'none' || !chunk || chunk.token !== output.token) return;
    this.chunk = null;
    if (output.kind === 'abort') chunk.done({ kind: 'aborted', reason: output.reason });
    else this.deliverChunk(chunk, output.rows, output.dropped, at!);
  }

  /** Delivers the chunk's rows here, in the stream; settled once every delivery is. */
  private deliverChunk(chunk: ChunkInFlight, rows: ChunkRow<RawTuple>[], superseded: number, at: StreamPosition): void {
    const { job, shape } = chunk;
    let pending = 1;
    const release = () => {
      if (--pending === 0) chunk.done({ kind: 'settled', sent: rows.length, superseded });
    };
    const hold = () => {
      pending++;
      let settled = false;
      return () => {
        if (settled) return;
        settled = true;
        release();
      };
    };
    for (const { key, row } of rows) {
      const event = toBackfillEvent({ backfillId: job.id, action: job.action, table: shape, row, key }, at, this.options.mapping, this.options.catalog());
      this.options.deliver(event, job.webhookId, hold);
    }
    release();
  }

  private async loop(): Promise<void> {
    const log = this.options.logger;
    while (!this.stopped) {
      let job: BackfillRow | null = null;
      try {
        job = await claimBackfill(this.options.state);
        if (job) await this.run(job);
      } catch (error) {
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

  private async run(job: BackfillRow): Promise<void> {
    const log = this.options.logger.child({ backfillId: job.id, object: job.object });
    const tables = job.tables ?? (await this.planTables(job));
    const total = tables.reduce((sum, table) => sum + table.total, 0);
    log.info({ tables: tables.length, rowsTotal: total, rowsRead: job.rowsRead, webhookId: job.webhookId, rate: job.rate }, job.chunks > 0 ? 'backfill resumed' : 'backfill started');
    const progress = { read: job.rowsRead, sent: job.rowsSent, superseded: job.rowsSuperseded };
    const startedAt = Date.now();
    const readBefore = job.rowsRead;
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
    for (let tableIndex = job.tableIndex; tableIndex < tables.length; tableIndex++) {
      const table = tables[tableIndex]!;
      const { shape, keyColumns } = await this.describe(table);
      let cursor = tableIndex === job.tableIndex ? job.cursor : null;
      for (;;) {
        const status = await backfillStatus(this.options.state, job.id);
        if (status !== 'running' || this.stopped) {
          log.info({ status, rowsRead: progress.read }, status === 'running' ? 'backfill interrupted by shutdown' : `backfill ${status}`);
          this.options.observer?.backfillEnded(job.id);
          return;
        }
        if (job.rate !== null) await this.sleep(startedAt + ((progress.read - readBefore) / job.rate) * 1000 - Date.now());
        const { rows, outcome } = await this.chunkOnce(job, shape, keyColumns, table, cursor, chunkSize);
        if (outcome.kind === 'aborted') {
          log.info({ reason: outcome.reason }, 'backfill chunk abandoned; reading it again');
          await this.sleep(RETRY_DELAY_MS);
          continue;
        }
        const tableDone = rows.length < chunkSize;
        const last = rows.at(-1);
        cursor = last ? keyColumns.map((column) => String(last.row[column])) : cursor;
        progress.read += rows.length;
        progress.sent += outcome.sent;
        progress.superseded += outcome.superseded;
        const finished = tableDone && tableIndex === tables.length - 1;
        const after = await saveChunkProgress(this.options.state, job.id, {
          tableIndex: tableDone ? tableIndex + 1 : tableIndex,
          cursor: tableDone ? null : cursor,
          read: rows.length,
          sent: outcome.sent,
          superseded: outcome.superseded,
          finished,
        });
        const etaSeconds = report();
        log.debug({ table: `${table.schema}.${table.table}`, rows: rows.length, sent: outcome.sent, superseded: outcome.superseded }, 'backfill chunk delivered');
        if (Date.now() - loggedAt >= PROGRESS_LOG_MS) {
          loggedAt = Date.now();
          log.info({ rowsRead: progress.read, rowsSent: progress.sent, rowsSuperseded: progress.superseded, rowsTotal: total, etaSeconds }, 'backfill progress');
        }
        if (finished) {
          log.info({ rowsRead: progress.read, rowsSent: progress.sent, rowsSuperseded: progress.superseded, status: after }, 'backfill done');
          this.options.observer?.backfillEnded(job.id);
          return;
        }
        if (tableDone) break;
      }
    }
  }

  /** One attempt at a chunk: low watermark, select, high watermark, then wait for the stream to deliver it. */
  private async chunkOnce(
    job: BackfillRow,
    shape: TableShape,
    keyColumns: string[],
    table: BackfillTable,
    cursor: string[] | null,
    limit: number,
  ): Promise<{ rows: ChunkRow<RawTuple>[]; outcome: ChunkOutcome }> {
    const token = `${job.id}/${this.nonce}/${++this.sequence}`;
    const outcome = new Promise<ChunkOutcome>((done) => {
      this.chunk = { token, job, shape, keyColumns, done };
    });
    // Open before the low watermark is written: the stream may reach it before the write returns.
    this.window = step(this.window, { kind: 'lowWritten', chunk: { token, table: `${table.schema}.${table.table}` } }).window;
    let rows: ChunkRow<RawTuple>[] = [];
    try {
      await this.emitWatermark(token, 'low');
      await this.commitsBeforeLowVisible();
      rows = await this.select(table, keyColumns, job.whereSql, cursor, limit);
      this.apply({ kind: 'rowsRead', token, rows });
      await this.emitWatermark(token, 'high');
    } catch (error) {
      if (this.chunk?.token === token) this.abort('the chunk could not be read');
      throw error;
    }
    return { rows, outcome: await outcome };
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
