/**
 * The bounded chaos run of `npm test` (the full one is `npm run chaos`):
 * each scenario streams single-row transactions through the real CLI while
 * a fault hits — kill -9 twice, the walsender terminated, the receiver down
 * through the whole (compressed) retry schedule then its dead letters
 * redelivered through the API, a burst while a receiver recovers from an
 * outage, hostile rows, poison rows, one of two replicas sharing four
 * partitions killed and brought back — and every committed change must reach
 * the receiver with a verified signature, under one id. Every scenario ends
 * with the liveness probe (chaos/lib/liveness.ts): fresh rows arrive, the
 * slot reaches the WAL end, and /readyz says ready.
 * Restarting PostgreSQL is left to the full run: this suite's cluster is
 * shared with the other test files.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { createCrmSchema } from '../harness/crm.js';
import { createTestDatabase, type TestDatabase } from '../harness/database.js';
import type { ChaosOutcome } from '../../chaos/lib/audit.js';
import type { ChaosEnv } from '../../chaos/lib/bed.js';
import {
  hostileRows,
  killWalhook,
  partitionsOverReplicas,
  poisonRow,
  receiverDown,
  receiverRecoveryBurst,
  terminateWalsender,
} from '../../chaos/scenarios/index.js';

const databases: TestDatabase[] = [];

const env: ChaosEnv = {
  scale: 'ci',
  secret: randomBytes(24).toString('hex'),
  async crmDatabase(prefix) {
    const db = await createTestDatabase(prefix);
    databases.push(db);
    await createCrmSchema(db);
    return db;
  },
  progress: () => undefined,
};

afterAll(async () => {
  await Promise.all(databases.map((db) => db.drop()));
});

function expectNothingLost(outcome: ChaosOutcome): void {
  expect(outcome.problems, outcome.notes.join('\n')).toEqual([]);
  expect(outcome.written).toBeGreaterThan(100);
  expect(outcome.lost).toBe(0);
  expect(outcome.delivered).toBe(outcome.written);
  expect(outcome.idStability).toBe(1);
  expect(outcome.liveness?.problems).toEqual([]);
}

describe('chaos, bounded', () => {
  it('kill -9 twice under load: nothing lost, ids stable', async () => {
    expectNothingLost(await killWalhook.run(env));
  }, 180_000);

  it('walsender terminated twice: the stream comes back by itself and skips nothing', async () => {
    expectNothingLost(await terminateWalsender.run(env));
  }, 180_000);

  it('receiver down through the retry schedule: dead letters, redelivered through the API, all arrive', async () => {
    const outcome = await receiverDown.run(env);
    expectNothingLost(outcome);
    expect(outcome.notes.join('\n')).toMatch(/(\d+) dead letters, \1 redelivered through the API/);
  }, 180_000);

  it('receiver outage, then a burst while the retries drain: everything arrives and the stream keeps moving', async () => {
    expectNothingLost(await receiverRecoveryBurst.run(env));
  }, 300_000);

  it('poison rows are set aside and the stream moves on without restarting', async () => {
    const outcome = await poisonRow.run(env);
    expectNothingLost(outcome);
    expect(outcome.notes.join('\n')).toMatch(/2 change\(s\) set aside as nested_too_deep/);
  }, 180_000);

  it('hostile rows (every type, TOAST, no primary key, ALTER TABLE, TRUNCATE, a large transaction) all arrive', async () => {
    expectNothingLost(await hostileRows.run(env));
  }, 240_000);

  it('4 partitions over 2 replicas, one killed under load: the other streams all 4 within 10 s, 2 each again once it is back', async () => {
    const outcome = await partitionsOverReplicas.run(env);
    expectNothingLost(outcome);
    expect(outcome.notes.join('\n')).toMatch(/survivor led all 4 \d+ ms and streamed partitions \d+, \d+ \d+ ms after kill -9/);
  }, 180_000);
});
