/**
 * A connection that dies while its client is checked out of a pool (a
 * failover, a server restart, a terminated backend) must fail only the work
 * on it. pg raises an `error` event on such a client; without a listener it
 * ends the process, which is how a database failover once killed walhook.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStateDb, type StateDb } from '../../src/state/db.js';
import { createTestDatabase, type TestDatabase } from '../harness/database.js';
import { waitFor } from '../harness/receiver.js';

let database: TestDatabase;
let stateDb: StateDb;

beforeAll(async () => {
  database = await createTestDatabase('pgpool');
  stateDb = openStateDb(database.url, 'public');
});
afterAll(async () => {
  await stateDb?.pool.end();
  await database?.drop();
});

describe('a pool client whose connection dies while checked out', () => {
  it('fails the query in flight and the next one, the process lives on, and the pool serves fresh work', async () => {
    const held = await stateDb.pool.connect();
    const { rows: [{ pid } = { pid: 0 }] } = await held.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    const inFlight = held.query('SELECT pg_sleep(30)').then(
      () => null,
      (error: unknown) => error,
    );
    const killer = await stateDb.pool.connect();
    await killer.query('SELECT pg_terminate_backend($1)', [pid]);
    killer.release();

    expect(await inFlight, 'the query in flight fails with the lost connection').toBeInstanceOf(Error);
    // The event pg raises after the socket closes comes a moment later: an unhandled one would fail this file.
    await new Promise((resolve) => setTimeout(resolve, 200));
    await expect(held.query('SELECT 1'), 'a dead client refuses further work').rejects.toThrow();
    held.release();

    await waitFor(async () => (await stateDb.pool.query<{ one: number }>('SELECT 1 AS one')).rows[0]?.one === 1, 'the pool to serve a fresh query');
  });
});
