/**
 * The state database's edges, on a real PostgreSQL: a webhook deleted while
 * the writer stores its deliveries leaves none waiting, and the pool gives up
 * on a server that does not answer instead of hanging on it.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deleteDeliveriesOf } from '../../src/state/delivery-admin.js';
import { inTransaction, openStateDb, STATE_DB_TIMEOUTS, type StateDb } from '../../src/state/db.js';
import { insertDeliveries, type NewDelivery } from '../../src/state/deliveries.js';
import { migrate } from '../../src/state/migrations.js';
import { deleteWebhook, lockWebhook, upsertConfigWebhooks } from '../../src/state/webhooks.js';
import { createTestDatabase, type TestDatabase } from '../harness/database.js';
import { waitFor } from '../harness/receiver.js';

const SCHEMA = 'walhook_tables';
let db: TestDatabase;
let state: StateDb;

beforeAll(async () => {
  db = await createTestDatabase('tables');
  state = openStateDb(db.url, SCHEMA);
  await migrate(state);
});
afterAll(async () => {
  await state?.pool.end();
  await db?.drop();
});

function waitingDelivery(webhookId: string): NewDelivery {
  return {
    id: randomUUID(),
    webhookId,
    eventId: randomUUID(),
    operation: 'person.created',
    body: '{}',
    state: 'retrying',
    attempts: 1,
    nextAttemptAt: new Date(),
    lastAttempt: { attemptedAt: new Date(), status: 503, error: 'HTTP 503', durationMs: 1 },
    deadReason: null,
    commitLsn: '0/1',
    commitTime: new Date().toISOString(),
  };
}

describe('a webhook deleted while its deliveries are being stored', () => {
  it('leaves no delivery waiting for it', async () => {
    const webhookId = randomUUID();
    await upsertConfigWebhooks(state, state.pool, [
      { id: webhookId, targetUrl: 'https://example.com/hook', operations: ['*.*'], description: '', format: 'record', signatures: ['standard'], source: 'config', secretSealed: null },
    ]);

    let insert: Promise<void> | undefined;
    let inserted = false;
    // The API's delete, held open at its end while the writer stores a delivery for the webhook.
    await inTransaction(state, async (client) => {
      await lockWebhook(state, client, webhookId);
      await deleteDeliveriesOf(state, client, webhookId);
      await deleteWebhook(state, client, webhookId);
      insert = insertDeliveries(state, [waitingDelivery(webhookId)]).then(() => {
        inserted = true;
      });
      await waitFor(async () => {
        if (inserted) return true;
        const waiting = await db.sql(`SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'`, [db.name]);
        return waiting.length > 0;
      }, 'the insert to finish or to wait for the deleting transaction');
    });
    await insert;

    const rows = await db.sql<{ state: string; dead_reason: string | null }>(
      `SELECT state, dead_reason FROM ${SCHEMA}.deliveries WHERE webhook_id = $1`,
      [webhookId],
    );
    // Kept as a record at most, never waiting for a webhook that no longer exists.
    expect(rows.filter((row) => row.state === 'pending' || row.state === 'retrying')).toEqual([]);
    expect(rows.every((row) => row.dead_reason === 'webhook_removed')).toBe(true);
  });
});

describe('a state database that does not answer', () => {
  let silent: Server;
  const sockets = new Set<Socket>();

  beforeAll(async () => {
    // Accepts connections and never says a word, like a server behind a silent partition.
    silent = createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
  });

  /** Settles with the query's error, or 'hung' when it neither succeeded nor failed within a generous bound. */
  async function outcome(query: Promise<unknown>): Promise<string> {
    const hung = new Promise<string>((resolve) => setTimeout(() => resolve('hung'), 30_000).unref());
    return Promise.race([query.then(() => 'answered', (error: Error) => error.message), hung]);
  }

  it('gives up connecting after the connect timeout', async () => {
    const url = new URL(db.url);
    url.host = `127.0.0.1:${(silent.address() as AddressInfo).port}`;
    const unreachable = openStateDb(url.toString(), SCHEMA, 1, { ...STATE_DB_TIMEOUTS, connectMs: 500 });
    try {
      expect(await outcome(unreachable.pool.query('SELECT 1'))).toMatch(/timeout/i);
    } finally {
      await unreachable.pool.end();
    }
  });

  it('cancels a statement that runs past the statement timeout', async () => {
    const slow = openStateDb(db.url, SCHEMA, 1, { ...STATE_DB_TIMEOUTS, statementMs: 200 });
    try {
      expect(await outcome(slow.pool.query('SELECT pg_sleep(20)'))).toMatch(/statement timeout/);
    } finally {
      await slow.pool.end();
    }
  });
});
