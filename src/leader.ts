/**
 * Leadership of the slot among replicas: the instance holding a PostgreSQL
 * session advisory lock keyed on the slot name streams it; the others wait
 * and try again. The lock lives as long as its connection, so a leader that
 * dies (kill -9, lost network) frees it at once for a standby, and a leader
 * whose lock connection fails is told to stop streaming immediately — there
 * are never two readers.
 */
import { EventEmitter } from 'node:events';
import pg from 'pg';
import type { Logger } from 'pino';

export interface LeaderEvents {
  elected: [];
  /** The lock is gone (its connection failed): stop streaming now. */
  lost: [error: Error];
}

export interface LeaderOptions {
  connectionString: string;
  slot: string;
  /** How often a standby tries to take the lock, and a leader checks its connection. */
  intervalMs: number;
}

export class LeaderElection extends EventEmitter<LeaderEvents> {
  private client: pg.Client | null = null;
  private timer: NodeJS.Timeout | null = null;
  private leading = false;
  private stopped = true;
  private busy = false;
  /** After resigning, the lock is not tried again before this time (ms since epoch). */
  private notBefore = 0;

  constructor(
    private readonly options: LeaderOptions,
    private readonly logger: Logger,
  ) {
    super();
  }

  get isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    this.stopped = false;
    void this.tick();
    this.timer = setInterval(() => void this.tick(), this.options.intervalMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.leading = false;
    const client = this.client;
    this.client = null;
    // Closing the session releases the lock.
    await client?.end().catch(() => undefined);
  }

  private async tick(): Promise<void> {
    if (this.busy || this.stopped) return;
    this.busy = true;
    try {
      if (this.leading) await this.checkConnection();
      else await this.tryAcquire();
    } finally {
      this.busy = false;
    }
  }

  /**
   * Gives the lock up (e.g. this instance could not prepare the slot) and
   * waits `cooldownMs` before trying again, so another replica gets a turn.
   */
  resign(cooldownMs: number): void {
    if (!this.leading) return;
    this.leading = false;
    this.notBefore = Date.now() + cooldownMs;
    this.logger.warn({ slot: this.options.slot, cooldownMs }, 'leader: resigned the slot lock');
    this.dropClient();
  }

  private async tryAcquire(): Promise<void> {
    if (Date.now() < this.notBefore) return;
    try {
      const client = this.client ?? (await this.connect());
      const { rows } = await client.query<{ acquired: boolean }>(
        `SELECT pg_try_advisory_lock(hashtext('walhook'), hashtext($1)) AS acquired`,
        [this.options.slot],
      );
      if (rows[0]?.acquired && !this.stopped) {
        this.leading = true;
        this.logger.info({ slot: this.options.slot }, 'leader: holding the slot lock');
        this.emit('elected');
      }
    } catch (error) {
      this.dropClient();
      this.logger.warn({ err: error, slot: this.options.slot }, 'could not try the slot lock; will retry');
    }
  }

  private async checkConnection(): Promise<void> {
    try {
      await this.client?.query('SELECT 1');
    } catch (error) {
      this.demote(error as Error);
    }
  }

  private async connect(): Promise<pg.Client> {
    const client = new pg.Client({
      connectionString: this.options.connectionString,
      application_name: 'walhook leader lock',
      keepAlive: true,
      // A silent network cut must end the session quickly, or a standby could not take over.
      query_timeout: Math.max(this.options.intervalMs * 3, 3_000),
    });
    client.on('error', (error) => this.demote(error));
    client.on('end', () => this.demote(new Error('lock connection closed')));
    await client.connect();
    this.client = client;
    return client;
  }

  private demote(error: Error): void {
    this.dropClient();
    if (!this.leading) return;
    this.leading = false;
    this.logger.error({ err: error, slot: this.options.slot }, 'leader: lost the slot lock; stopped streaming');
    this.emit('lost', error);
  }

  private dropClient(): void {
    const client = this.client;
    this.client = null;
    client?.removeAllListeners('end');
    client?.on('error', () => undefined);
    void client?.end().catch(() => undefined);
  }
}
