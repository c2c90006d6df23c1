/**
 * The replication connection: streams the slot, hands each decoded message to
 * the pipeline synchronously and in order, confirms only the positions the
 * pipeline says are settled, and reconnects with backoff after any loss.
 *
 * pg-logical-replication is used with acknowledgement fully manual
 * (`auto: false, timeoutSeconds: 0`): its defaults would confirm data that
 * was received but not yet delivered. Every (re)connection builds a new
 * service that starts from the slot's confirmed position, so a transaction
 * that was streamed but not settled before a disconnect is streamed again.
 */
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { LogicalReplicationService } from 'pg-logical-replication';
import type { Logger } from 'pino';
import { OperatorError } from '../common/operator-error.js';
import { formatLsn, parseLsn, type Lsn } from './lsn.js';
import { createPgoutputPlugin, PgoutputDecoder } from './pgoutput.js';
import { identifyServer } from './server-identity.js';
import type { TableInScope } from './setup.js';
import type { SourceMessage } from './types.js';
import { createWal2JsonPlugin, Wal2JsonDecoder } from './wal2json.js';

export interface ReplicationOptions {
  connectionString: string;
  /** The walsender's application_name (pg_stat_activity); the server's default when absent. */
  applicationName?: string;
  slot: string;
  plugin: 'pgoutput' | 'wal2json';
  /** pgoutput: publications to stream. */
  publications: string[];
  /** wal2json: tables to stream (wal2json has no publications), with their columns. */
  tables: () => TableInScope[];
  /** Decodes wal2json's commit timestamp text the same way as any timestamptz value. */
  decodeTimestamp: (text: string) => string;
  /** How often the confirmed position is reported even when nothing changes. */
  statusIntervalMs: number;
  reconnect: { minDelayMs: number; maxDelayMs: number };
  /**
   * A connection not streaming this long after it was opened is given up and made again: a server or
   * network that accepts the connection but never answers would otherwise hold the stream forever.
   */
  startTimeoutMs: number;
  logger: Logger;
  /**
   * Create the slot on each connection as TEMPORARY (`walhook tail`): the server drops it when the
   * connection ends, however the process ends, so nothing is left retaining WAL. What is committed
   * while a lost connection is re-established is not streamed.
   */
  temporarySlot?: boolean;
}

/** Session settings that make PostgreSQL's text output stable for `events/values`. */
export const OUTPUT_SETTINGS = '-c DateStyle=ISO -c TimeZone=UTC -c IntervalStyle=iso_8601 -c extra_float_digits=3 -c bytea_output=hex';

/** How long a connection may take to close before its socket is destroyed. */
const STOP_BOUND_MS = 5_000;

/** Confirmed positions reach the server at most this often (and at once when it asks). */
const STATUS_BATCH_MS = 50;

/** A replication connection that did not start streaming within source.stallTimeout; the stream tries again. */
export class ReplicationStartTimeoutError extends OperatorError {
  override readonly name = 'ReplicationStartTimeoutError';
  readonly code = 'REPLICATION_START_TIMEOUT';

  constructor(slot: string, timeoutMs: number) {
    super(
      `the replication connection for slot ${slot} did not start streaming within ${timeoutMs} ms`,
      'check that the server answers on database.url (a proxy or firewall that accepts connections but forwards nothing, a walsender limit reached, a slot held by another reader), or raise source.stallTimeout',
    );
  }
}

export interface ReplicationEvents {
  connected: [];
  disconnected: [error: Error | null];
}

export class ReplicationStream extends EventEmitter<ReplicationEvents> {
  private service: LogicalReplicationService | null = null;
  private confirmed: Lsn = 0n;
  private stopped = false;
  private connected = false;
  private statusTimer: NodeJS.Timeout | null = null;
  private statusSoon: NodeJS.Timeout | null = null;
  /** The wait before the next reconnection, grown by each connection that ends without having been healthy. */
  private retryDelayMs: number;
  /** When the current connection started streaming (epoch ms), null before. */
  private streamingSince: number | null = null;
  private readonly running: Promise<void>[] = [];
  /** Ends the wait before the next reconnection early (stop). */
  private wakeFromBackoff: (() => void) | null = null;
  /** Ends the current connection's lifetime from this side: one still connecting would never settle on its own. */
  private endStreaming: (() => void) | null = null;
  /** Connections being closed (replaced or stopped): stop() waits for them all. */
  private readonly closing = new Set<Promise<void>>();

  constructor(
    private readonly options: ReplicationOptions,
    private readonly onMessage: (message: SourceMessage) => void,
  ) {
    super();
    this.retryDelayMs = options.reconnect.minDelayMs;
  }

  get isConnected(): boolean {
    return this.connected;
  }

  get confirmedLsn(): Lsn {
    return this.confirmed;
  }

  start(): void {
    this.stopped = false;
    this.running.push(this.connectLoop());
    this.statusTimer = setInterval(() => this.sendStatus(), this.options.statusIntervalMs);
  }

  /**
   * Records that every transaction ending at or before `lsn` is settled and
   * tells the server, which may then recycle that WAL. Never moves backwards.
   */
  confirm(lsn: Lsn): void {
    if (lsn <= this.confirmed) return;
    this.confirmed = lsn;
    // One status message per transaction would cost the walsender (and us) a message per commit: batch them.
    this.statusSoon ??= setTimeout(() => {
      this.statusSoon = null;
      this.sendStatus();
    }, STATUS_BATCH_MS);
  }

  /** Ends the current connection; the stream reconnects (e.g. to pick up a new wal2json table list). */
  reconnect(): void {
    this.markDisconnected(null);
  }

  /**
   * Stops reading from the server (TCP backpressure) until `resume()`. Only
   * a streaming connection is paused: one still starting would time out
   * for it, and the stream applies flow control afresh once it is connected.
   */
  pause(): void {
    if (this.connected && this.service) socketOf(this.service)?.pause();
  }

  resume(): void {
    if (this.service) socketOf(this.service)?.resume();
  }

  /**
   * Confirms what is settled and closes the connection, without waiting out
   * a reconnection backoff (up to source.reconnect.maxDelay, longer than a
   * pod's grace period).
   */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.statusTimer) clearInterval(this.statusTimer);
    if (this.statusSoon) clearTimeout(this.statusSoon);
    this.sendStatus();
    this.wakeFromBackoff?.();
    const service = this.service;
    this.service = null;
    this.endStreaming?.();
    if (service) this.close(service);
    const closed = Promise.all([...this.closing, ...this.running]);
    if (!(await settlesWithin(closed, 2 * STOP_BOUND_MS))) {
      this.options.logger.error({ slot: this.options.slot }, 'the replication connection still did not close; left to the process exit');
    }
  }

  /**
   * Ends one connection. Flow control may have paused reading, and between
   * queries (connected, not yet streaming) the library ends the connection
   * gracefully: a paused socket would never see the server's end behind
   * bytes it has not read. So reading resumes (what arrives now is dropped,
   * never handled: `guarded` ignores a connection that is no longer current),
   * and a socket still open after STOP_BOUND_MS is destroyed.
   */
  private close(service: LogicalReplicationService): void {
    const closing = this.destroyWithinBound(service);
    this.closing.add(closing);
    void closing.finally(() => this.closing.delete(closing));
  }

  private async destroyWithinBound(service: LogicalReplicationService): Promise<void> {
    const socket = socketOf(service);
    socket?.resume();
    if (await settlesWithin(service.destroy().catch(() => undefined), STOP_BOUND_MS)) return;
    this.options.logger.warn({ slot: this.options.slot, boundMs: STOP_BOUND_MS }, 'the replication connection did not close in time; destroying it');
    socket?.destroy();
  }

  private async connectLoop(): Promise<void> {
    const log = this.options.logger;
    while (!this.stopped) {
      let failure: Error | null = null;
      this.streamingSince = null;
      try {
        await this.streamOnce();
      } catch (error) {
        failure = error as Error;
      }
      this.markDisconnected(failure);
      if (this.stopped) return;
      const streamedMs = this.streamingSince === null ? 0 : Date.now() - this.streamingSince;
      const { waitMs, nextMs } = reconnectDelay(this.retryDelayMs, streamedMs, this.options.reconnect);
      this.retryDelayMs = nextMs;
      log.warn({ err: failure, slot: this.options.slot, retryInMs: waitMs }, 'replication connection lost; reconnecting');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, waitMs);
        this.wakeFromBackoff = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wakeFromBackoff = null;
    }
  }

  /** One connection's lifetime: resolves or rejects when it ends. */
  private async streamOnce(): Promise<void> {
    const { plugin: pluginName, slot, logger } = this.options;
    const service = new LogicalReplicationService(
      {
        connectionString: this.options.connectionString,
        options: OUTPUT_SETTINGS,
        ...(this.options.applicationName !== undefined && { application_name: this.options.applicationName }),
      },
      { acknowledge: { auto: false, timeoutSeconds: 0 } },
    );
    this.service = service;
    const decode = this.createDecoder();
    const plugin =
      pluginName === 'pgoutput' ? createPgoutputPlugin(this.options.publications) : createWal2JsonPlugin(this.options.tables());
    const startBoundMs = this.options.startTimeoutMs;
    let startTimer: NodeJS.Timeout | undefined;
    let boundTheStart = () => {};
    const startStreaming = plugin.start.bind(plugin);
    plugin.start = async (client, slotName, lsn) => {
      const server = await identifyServer(client);
      if (this.service !== service) return;
      // Event ids depend on which WAL this is (it may have failed over): asked on every connection, on the
      // replication connection itself right before it streams, so that no promotion can fall in between.
      this.onMessage({ type: 'server', server });
      if (this.options.temporarySlot) {
        // A temporary slot belongs to the connection that made it: only this one can stream it. Making it
        // waits for the transactions running now to end, however long they take: no bound on that wait.
        clearTimeout(startTimer);
        await client.query(`CREATE_REPLICATION_SLOT "${slotName}" TEMPORARY LOGICAL ${pluginName} NOEXPORT_SNAPSHOT`);
        boundTheStart();
      }
      return startStreaming(client, slotName, lsn);
    };
    const ended = new Promise<void>((resolve, reject) => {
      this.endStreaming = resolve;
      service.on('error', reject);
      boundTheStart = () => {
        startTimer = setTimeout(() => reject(new ReplicationStartTimeoutError(slot, startBoundMs)), startBoundMs);
      };
      boundTheStart();
      service.on('start', () => {
        clearTimeout(startTimer);
        if (this.service !== service) return;
        this.connected = true;
        this.streamingSince = Date.now();
        // Before anything is confirmed on this run the server resumes at the slot's own position, which this side does not know.
        const from = this.confirmed === 0n ? {} : { confirmedLsn: formatLsn(this.confirmed) };
        logger.info({ slot, plugin: pluginName, ...from }, 'replication streaming');
        this.emit('connected');
      });
      // A message that cannot be handled ends this connection at once: the rest of the chunk already
      // received (later changes, the COMMIT) is dropped, and the open transaction is abandoned before
      // anything else runs, so it can never be confirmed. The next connection streams it again.
      let failed = false;
      const guarded = (handle: () => void) => {
        if (failed || this.stopped || this.service !== service) return;
        try {
          handle();
        } catch (error) {
          failed = true;
          // Rejected first, so that this error (not the end markDisconnected signals) is what ends the connection.
          reject(error);
          this.markDisconnected(error as Error);
        }
      };
      service.on('data', (lsn: string, message: unknown) =>
        guarded(() => {
          const decoded = decode(message, parseLsn(lsn));
          if (decoded) this.onMessage(decoded);
        }),
      );
      service.on('heartbeat', (lsn: string, _timestamp: number, replyRequested: boolean) =>
        guarded(() => {
          this.onMessage({ type: 'keepalive', walEnd: parseLsn(lsn), replyRequested });
          if (replyRequested) this.sendStatus();
        }),
      );
    });
    // Starting from 0/0 makes the server resume at the slot's confirmed_flush_lsn.
    const streaming = service.subscribe(plugin, slot, '0/0');
    try {
      await Promise.race([streaming, ended]);
    } finally {
      clearTimeout(startTimer);
    }
    if (!this.stopped) throw new Error('replication stream ended');
  }

  private createDecoder(): (message: unknown, lsn: Lsn) => SourceMessage | null {
    if (this.options.plugin === 'pgoutput') {
      const decoder = new PgoutputDecoder();
      return (message, lsn) => decoder.decode(message as Parameters<PgoutputDecoder['decode']>[0], lsn);
    }
    // Rebuilt only when the daemon refreshed its table list (a new array).
    let source: TableInScope[] | null = null;
    let byName = new Map<string, TableInScope>();
    const decoder = new Wal2JsonDecoder(this.options.decodeTimestamp, (schema, table) => {
      const tables = this.options.tables();
      if (tables !== source) {
        source = tables;
        byName = new Map(tables.map((t) => [`${t.schema}.${t.table}`, t]));
      }
      return byName.get(`${schema}.${table}`);
    });
    return (message) => decoder.decode(message as Parameters<Wal2JsonDecoder['decode']>[0]);
  }

  private markDisconnected(error: Error | null): void {
    const service = this.service;
    this.service = null;
    this.endStreaming?.();
    this.endStreaming = null;
    if (service) this.close(service);
    if (this.connected) {
      this.connected = false;
      this.emit('disconnected', error);
    }
  }

  /**
   * Standby status update with the confirmed position. The library reports
   * `lsn + 1` as flushed, so it is given `confirmed - 1`: the server then
   * records exactly `confirmed`, as pg_recvlogical does.
   */
  private sendStatus(): void {
    if (!this.service || this.confirmed === 0n) return;
    void this.service.acknowledge(formatLsn(this.confirmed - 1n)).catch(() => undefined);
  }
}

/** A connection that streamed this long was healthy: the next failure starts the backoff over. */
export const HEALTHY_CONNECTION_MS = 30_000;

/**
 * The wait before reconnecting after a connection that streamed for
 * `streamedMs` ended, and the wait after that. Only a healthy connection
 * starts over from `minDelayMs`: a start that fails again soon — a change
 * that breaks every connection, a server that drops it — keeps doubling up
 * to `maxDelayMs`. (Confirmed progress is no sign of health: keepalives
 * confirm positions even while the same change fails each time.)
 */
export function reconnectDelay(
  currentMs: number,
  streamedMs: number,
  settings: { minDelayMs: number; maxDelayMs: number },
): { waitMs: number; nextMs: number } {
  const healthy = streamedMs >= HEALTHY_CONNECTION_MS;
  const waitMs = healthy ? settings.minDelayMs : currentMs;
  return { waitMs, nextMs: Math.min(waitMs * 2, settings.maxDelayMs) };
}

/** The socket under the library's replication client, for flow control and for closing a connection that hangs. */
function socketOf(service: LogicalReplicationService): Pick<Socket, 'pause' | 'resume' | 'destroy'> | undefined {
  // The client's connection (and its socket) exists from the start, before the server answered anything.
  const internals = service as unknown as { _client?: { connection?: { stream?: Socket } } | null };
  return internals._client?.connection?.stream;
}

/** Whether `work` settles within `ms`; it goes on either way. */
async function settlesWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const overdue = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  const settled = await Promise.race([work.then(() => true), overdue]);
  clearTimeout(timer);
  return settled;
}
