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
  const name = `${prefix}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client(clusterUrl());
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = withDatabase(clusterUrl(), name);
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  // DROP DATABASE … WITH (FORCE) may end an idle client that is still closing: not an error of the test.
  pool.on('error', () => undefined);
  return {
    url,
    name,
    async sql(text, values) {
      return (await pool.query(text, values)).rows;
    },
    async drop() {
      await pool.end();
      const client = new pg.Client(clusterUrl());
      await client.connect();
      await client.query(
        `SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE database = $1 AND active_pid IS NOT NULL`,
        [name],
      );
      await client.query(`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = $1`, [
        name,
      ]);
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
    },
  };
}
