/** Per-test-file databases on the shared throwaway cluster. */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';

export interface TestDatabase {
  url: string;
  name: string;
  /** Runs SQL as the superuser in this database. */
  sql<T extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<T[]>;
  /** Drops the replication slots of this database and the database itself. */
  drop(): Promise<void>;
}

export function clusterUrl(): string {
  return inject('pgUrl');
}

export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

export async function createTestDatabase(prefix = 'test'): Promise<TestDatabase> {
  return createDatabase(clusterUrl(), prefix);
}

/** A new database `<prefix>_<random>` on the cluster at `cluster` (the bench's own clusters too). */
export async function createDatabase(cluster: string, prefix: string, poolSize = 4): Promise<TestDatabase> {
  const name = `${prefix}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client(cluster);
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = withDatabase(cluster, name);
  const pool = new pg.Pool({ connectionString: url, max: poolSize });
  // A server restart or DROP DATABASE … WITH (FORCE) may end an idle client: the next query reconnects.
  pool.on('error', () => undefined);
  return {
    url,
    name,
    async sql(text, values) {
      return (await pool.query(text, values)).rows;
    },
    async drop() {
      await pool.end();
      const client = new pg.Client(cluster);
      await client.connect();
      try {
        await client.query(
          `SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE database = $1 AND active_pid IS NOT NULL`,
          [name],
        );
        await client.query(`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = $1`, [name]);
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}
