/**
 * Migrations of the state schema when several replicas start at once on a
 * fresh database: each migration runs once, every replica starts.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { openStateDb, type StateDb } from '../../src/state/db.js';
import { LATEST_VERSION, migrate } from '../../src/state/migrations.js';
import { createTestDatabase, type TestDatabase } from '../harness/database.js';

let db: TestDatabase | undefined;
const states: StateDb[] = [];

afterAll(async () => {
  await Promise.all(states.map((state) => state.pool.end()));
  await db?.drop();
});

describe('state schema migrations', () => {
  it('four replicas migrating a fresh schema at once: each version applied once, none fails', async () => {
    db = await createTestDatabase('migrate');
    for (let index = 0; index < 4; index++) states.push(openStateDb(db.url, 'walhook_fresh'));
    const applied = await Promise.all(states.map((state) => migrate(state)));
    const versions = applied.flat();
    expect(new Set(versions).size, JSON.stringify(applied)).toBe(versions.length);
    expect(Math.max(...versions)).toBe(LATEST_VERSION);
    const rows = await db.sql<{ version: number }>('SELECT version FROM walhook_fresh.migrations ORDER BY version');
    expect(rows.map((row) => row.version)).toEqual(versions.sort((a, b) => a - b));
  });
});
