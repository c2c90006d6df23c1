/**
 * The retry worker on a real PostgreSQL with a real receiver on 127.0.0.1:
 * it claims stored deliveries within its memory budget (body bytes, not only
 * row counts), measured two ways while it works a large backlog off: its own
 * accounting, and the bodies of the rows leased and not yet recorded, read
 * from the state table by the test.
 */
import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Dispatcher } from '../../src/delivery/dispatcher.js';
import { HttpSender } from '../../src/delivery/http.js';
import { toWebhook, WebhookRegistry } from '../../src/delivery/registry.js';
import { ByteBudget, RetryWorker } from '../../src/delivery/retry-worker.js';
import { SIGNATURE_SCHEMES } from '../../src/common/verify.js';
import { StateWriter } from '../../src/delivery/state-writer.js';
import { openStateDb, type StateDb } from '../../src/state/db.js';
import { insertDeliveries, type NewDelivery } from '../../src/state/deliveries.js';
import { migrate } from '../../src/state/migrations.js';
import { upsertConfigWebhooks } from '../../src/state/webhooks.js';
import { createTestDatabase, type TestDatabase } from '../harness/database.js';
import { startReceiver, waitFor, type Receiver } from '../harness/receiver.js';

const SCHEMA = 'walhook_budget';
const logger = pino({ level: 'silent' });
let db: TestDatabase;
let state: StateDb;
let receiver: Receiver;

beforeAll(async () => {
  db = await createTestDatabase('budget');
  state = openStateDb(db.url, SCHEMA);
  await migrate(state);
  // Slow enough that claimed rows pile up in memory if the worker claims more than its budget.
  receiver = await startReceiver({ respond: () => ({ status: 200, delayMs: 50 }) });
});
afterAll(async () => {
  await receiver?.close();
  await state?.pool.end();
  await db?.drop();
});

function failedDelivery(webhookId: string, body: string, index: number): NewDelivery {
  return {
    id: randomUUID(),
    webhookId,
    eventId: randomUUID(),
    operation: 'person.created',
    body,
    state: 'retrying',
    attempts: 1,
    nextAttemptAt: new Date(Date.now() - 1_000),
    lastAttempt: { attemptedAt: new Date(), status: 503, error: 'HTTP 503', durationMs: 1 },
    deadReason: null,
    commitLsn: `0/${(index + 1).toString(16)}`,
    commitTime: new Date().toISOString(),
  };
}

/** Stores `rows` failed deliveries of `bodyBytes` each, lets a worker with `budget` bytes work them off, and measures. */
async function workOff(rows: number, bodyBytes: number, budget: number) {
  const webhookId = randomUUID();
  const definition = {
    id: webhookId,
    targetUrl: receiver.url,
    operations: ['person.created'],
    description: '',
    format: 'record' as const,
    signatures: [...SIGNATURE_SCHEMES],
  };
  await upsertConfigWebhooks(state, state.pool, [{ ...definition, source: 'config', secretSealed: null }]);
  const body = JSON.stringify({ pad: 'x'.repeat(bodyBytes - 10) });
  await insertDeliveries(state, Array.from({ length: rows }, (_, i) => failedDelivery(webhookId, body, i)));

  const registry = new WebhookRegistry();
  registry.set(toWebhook({ ...definition, secrets: ['budget-test-secret'], source: 'config' }));
  const sender = new HttpSender({ ssrf: { enabled: true, allowList: ['127.0.0.1/32'] } });
  const settings = {
    retryScheduleMs: [60_000],
    concurrency: 2,
    maxQueuedPerEndpoint: 10_000,
    spillAfterMs: 60_000,
    maxPayloadBytes: 1_000_000,
    userAgent: 'walhook-test',
    retryAfterDefaultMs: 30_000,
    breakerFailures: 5,
    breakerProbeIntervalMs: 30_000,
    disableAfterMs: 5 * 86_400_000,
  };
  const dispatcher = new Dispatcher(registry, sender, new StateWriter(state, logger), state, settings, logger);
  const worker = new RetryWorker(
    state,
    registry,
    dispatcher,
    { pollIntervalMs: 20, leaseMs: 60_000, batchSize: 100, budget: new ByteBudget(budget), orderedThrough: () => null },
    logger,
  );

  let mostHeldByWorker = 0;
  let mostLeasedInTable = 0;
  const sampler = setInterval(() => {
    mostHeldByWorker = Math.max(mostHeldByWorker, worker.heldBytes);
  }, 1);
  const requestsBefore = receiver.requests.length;
  worker.start();
  try {
    await waitFor(
      async () => {
        const [row] = await db.sql<{ leased: string; delivered: number }>(
          `SELECT coalesce(sum(octet_length(body)) FILTER (WHERE state IN ('pending', 'retrying') AND lease_until > now()), 0) AS leased,
                  count(*) FILTER (WHERE state = 'delivered')::int AS delivered
             FROM ${SCHEMA}.deliveries WHERE webhook_id = $1`,
          [webhookId],
        );
        mostLeasedInTable = Math.max(mostLeasedInTable, Number(row!.leased));
        return row!.delivered === rows;
      },
      `all ${rows} stored deliveries delivered`,
      60_000,
      5,
    );
  } finally {
    clearInterval(sampler);
    await worker.stop();
    await sender.close();
  }
  return { mostHeldByWorker, mostLeasedInTable, heldAfter: worker.heldBytes, sent: receiver.requests.length - requestsBefore };
}

describe('retry worker memory budget', () => {
  it('never holds more body bytes than its budget, however large the backlog', async () => {
    const BODY_BYTES = 200_000;
    const BUDGET = 1_000_000;
    // 12 MB stored, a 1 MB budget: before the fix the worker leased all 60 rows at once.
    const measured = await workOff(60, BODY_BYTES, BUDGET);
    console.info('retry budget: 60 x 200 kB under 1 MB', measured);

    expect(measured.sent).toBe(60);
    // Not vacuous: the worker did hold several bodies at once.
    expect(measured.mostHeldByWorker).toBeGreaterThanOrEqual(2 * BODY_BYTES);
    expect(measured.mostHeldByWorker).toBeLessThanOrEqual(BUDGET);
    expect(measured.mostLeasedInTable).toBeGreaterThan(0);
    expect(measured.mostLeasedInTable).toBeLessThanOrEqual(BUDGET);
    expect(measured.heldAfter).toBe(0);
  });

  it('still sends a body larger than the whole budget, one at a time', async () => {
    const measured = await workOff(3, 200_000, 100_000);

    expect(measured.sent).toBe(3);
    expect(measured.mostHeldByWorker).toBeLessThanOrEqual(200_000);
    expect(measured.mostLeasedInTable).toBeLessThanOrEqual(200_000);
    expect(measured.heldAfter).toBe(0);
  });
});
