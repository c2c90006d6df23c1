/**
 * Retention on a real state table: what is past its period goes, in bounded
 * batches; what is still waiting for delivery never does.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStateDb, type StateDb } from '../../src/state/db.js';
import { migrate } from '../../src/state/migrations.js';
import { purgeExpired, type RetentionPolicy } from '../../src/state/retention.js';
import { createTestDatabase, type TestDatabase } from '../harness/database.js';

const DAY_MS = 24 * 60 * 60 * 1000;
const POLICY: RetentionPolicy = { deliveredMs: 7 * DAY_MS, deadMs: 30 * DAY_MS, attemptsMs: 30 * DAY_MS, batchSize: 250 };

let db: TestDatabase;
let state: StateDb;

beforeAll(async () => {
  db = await createTestDatabase('retention');
  state = openStateDb(db.url, 'walhook');
  await migrate(state);
});

afterAll(async () => {
  await state?.pool.end();
  await db?.drop();
});

/** `count` deliveries in `state`, last changed `ageDays` ago, each with one attempt of the same age; returns their ids. */
async function insertDeliveries(count: number, deliveryState: string, ageDays: number): Promise<string[]> {
  const rows = await db.sql<{ id: string }>(
    `INSERT INTO walhook.deliveries (id, webhook_id, event_id, operation, body, state, attempts, commit_lsn, commit_time, created_at, updated_at)
     SELECT gen_random_uuid(), $1, gen_random_uuid(), 'person.updated', '{"record":{"email":"ada@example.com"}}', $2, 1, '0/1', now(),
            now() - $3 * interval '1 day', now() - $3 * interval '1 day'
     FROM generate_series(1, $4)
     RETURNING id`,
    [randomUUID(), deliveryState, ageDays, count],
  );
  await db.sql(
    `INSERT INTO walhook.delivery_attempts (delivery_id, attempt, attempted_at, status)
     SELECT id, 1, updated_at, 500 FROM walhook.deliveries WHERE id = ANY($1::uuid[])`,
    [rows.map((row) => row.id)],
  );
  return rows.map((row) => row.id);
}

async function countBy(): Promise<Record<string, number>> {
  const rows = await db.sql<{ state: string; n: string }>(`SELECT state, count(*) AS n FROM walhook.deliveries GROUP BY state`);
  return Object.fromEntries(rows.map((row) => [row.state, Number(row.n)]));
}

describe('retention', () => {
  it('deletes delivered and dead rows past their period with their attempts, in batches, and keeps everything else', async () => {
    await insertDeliveries(1_100, 'delivered', 8);
    const freshDelivered = await insertDeliveries(30, 'delivered', 6);
    await insertDeliveries(600, 'dead', 31);
    const keptDead = await insertDeliveries(20, 'dead', 29);
    // Waiting deliveries are never deleted, however old; only their oldest attempt history goes.
    const waiting = [...(await insertDeliveries(10, 'retrying', 90)), ...(await insertDeliveries(10, 'pending', 90))];

    const counts = await purgeExpired(state, POLICY);

    expect(counts).toEqual({ delivered: 1_100, dead: 600, attempts: 20 });
    expect(await countBy()).toEqual({ delivered: 30, dead: 20, retrying: 10, pending: 10 });
    const remaining = await db.sql<{ id: string }>(`SELECT id FROM walhook.deliveries`);
    expect(new Set(remaining.map((row) => row.id))).toEqual(new Set([...freshDelivered, ...keptDead, ...waiting]));
    const attempts = await db.sql<{ n: string }>(`SELECT count(*) AS n FROM walhook.delivery_attempts`);
    expect(Number(attempts[0]?.n)).toBe(50);
    expect(await purgeExpired(state, POLICY)).toEqual({ delivered: 0, dead: 0, attempts: 0 });
  });

  it('keeps the table bounded under a steady inflow: after each pass only the last period is left', async () => {
    await db.sql(`TRUNCATE walhook.deliveries CASCADE`);
    const sizes: number[] = [];
    // Ten rounds of 200 expired dead letters and 50 recent ones, each followed by a pass: only the recent ones are ever left.
    for (let day = 0; day < 10; day++) {
      await insertDeliveries(200, 'dead', 40 - day);
      await insertDeliveries(50, 'dead', 10);
      await purgeExpired(state, POLICY);
      sizes.push((await countBy()).dead ?? 0);
    }
    expect(sizes).toEqual(Array.from({ length: 10 }, (_, day) => 50 * (day + 1)));
  });
});
