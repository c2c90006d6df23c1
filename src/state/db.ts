/** The state database: a pool and the (quoted) schema walhook's tables live in. */
import pg from 'pg';

export interface StateDb {
  readonly pool: pg.Pool;
  /** Schema name, already quoted for SQL text. */
  readonly schema: string;
  /** Unquoted name, for messages and catalog lookups. */
  readonly schemaName: string;
}

export function openStateDb(connectionString: string, schemaName: string, max = 5): StateDb {
  const pool = new pg.Pool({ connectionString, max, application_name: 'walhook' });
  // An idle client's error (server restart) must not crash the process; the next query reports it.
  pool.on('error', () => undefined);
  return { pool, schema: pg.Client.prototype.escapeIdentifier(schemaName), schemaName };
}

export async function inTransaction<T>(db: StateDb, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await db.pool.connect();
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}
