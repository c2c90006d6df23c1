/** The state database: a pool and the (quoted) schema walhook's tables live in. */
import pg from 'pg';
import { openPool } from '../common/pg-pool.js';

export interface StateDb {
  readonly pool: pg.Pool;
  /** Schema name, already quoted for SQL text. */
  readonly schema: string;
  /** Unquoted name, for messages and catalog lookups. */
  readonly schemaName: string;
}

/**
 * How long the state database may keep walhook waiting. Without these a
 * silent partition (packets dropped, no reset) stalls every query for the
 * TCP retransmission time, about 15 minutes on Linux: the writer, the retry
 * worker and a shutdown all hang on it.
 */
export interface StateDbTimeouts {
  connectMs: number;
  statementMs: number;
  queryMs: number;
  keepAliveIdleMs: number;
}

export const STATE_DB_TIMEOUTS: StateDbTimeouts = {
  /** Opening a connection (TCP, TLS, authentication). */
  connectMs: 10_000,
  /** A statement running on the server (statement_timeout); the writer's largest batch takes well under it. */
  statementMs: 60_000,
  /** No answer at all from the server: a bit beyond statementMs, so the server's own error comes first. */
  queryMs: 75_000,
  /** An idle connection is probed after this, so a dead peer is noticed before the next query hangs on it. */
  keepAliveIdleMs: 10_000,
};

export function openStateDb(connectionString: string, schemaName: string, max = 5, timeouts: StateDbTimeouts = STATE_DB_TIMEOUTS): StateDb {
  const pool = openPool({
    connectionString,
    max,
    application_name: 'walhook',
    connectionTimeoutMillis: timeouts.connectMs,
    statement_timeout: timeouts.statementMs,
    query_timeout: timeouts.queryMs,
    keepAlive: true,
    keepAliveInitialDelayMillis: timeouts.keepAliveIdleMs,
  });
  return { pool, schema: pg.Client.prototype.escapeIdentifier(schemaName), schemaName };
}

export async function inTransaction<T>(db: StateDb, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await db.pool.connect();
  let result: T;
  try {
    await client.query('BEGIN');
    result = await work(client);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    // A client whose query timed out may still be busy on the server: it is discarded, not reused.
    client.release(true);
    throw error;
  }
  client.release();
  return result;
}
