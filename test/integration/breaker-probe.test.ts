/**
 * The circuit breaker's probe can fail without an answer from the endpoint:
 * refused by the payload limit (or the SSRF guard), or impossible to sign.
 * Such a probe must open the breaker again for the next probe, never leave it
 * probing with every later delivery held forever. A real receiver on
 * 127.0.0.1 and a real state database; the dispatcher is driven attempt by
 * attempt.
 */
import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SIGNATURE_SCHEMES } from '../../src/common/verify.js';
import type { AttemptJob } from '../../src/delivery/attempt.js';
import { Dispatcher } from '../../src/delivery/dispatcher.js';
import { HttpSender } from '../../src/delivery/http.js';
import { toWebhook, WebhookRegistry } from '../../src/delivery/registry.js';
import { StateWriter } from '../../src/delivery/state-writer.js';
import { openStateDb, type StateDb } from '../../src/state/db.js';
import { migrate } from '../../src/state/migrations.js';
import { createTestDatabase, type TestDatabase } from '../harness/database.js';
import { startReceiver, waitFor, type Receiver } from '../harness/receiver.js';

const logger = pino({ level: 'silent' });
const PROBE_INTERVAL_MS = 100;
const MAX_PAYLOAD_BYTES = 1_000;
let db: TestDatabase;
let state: StateDb;
let receiver: Receiver;
let failing = true;

beforeAll(async () => {
  db = await createTestDatabase('breakerprobe');
  state = openStateDb(db.url, 'walhook_breaker_probe');
  await migrate(state);
  receiver = await startReceiver({ respond: () => ({ status: failing ? 500 : 200 }) });
});

afterAll(async () => {
  await receiver?.close();
  await state?.pool.end();
  await db?.drop();
});

function job(bodyBytes: number): AttemptJob {
  return {
    id: randomUUID(),
    eventId: randomUUID(),
    body: JSON.stringify({ pad: 'x'.repeat(bodyBytes) }),
    commitTime: new Date().toISOString(),
    commitTimeMs: Date.now(),
    commitLsn: '0/1',
  };
}

describe('a probe that fails without an answer', () => {
  it('opens the breaker again (payload limit), and the next probe closes it once the endpoint answers', async () => {
    const registry = new WebhookRegistry();
    const webhook = toWebhook({
      id: randomUUID(),
      targetUrl: receiver.url,
      operations: ['person.created'],
      description: '',
      format: 'record',
      signatures: [...SIGNATURE_SCHEMES],
      secrets: ['breaker-probe-test-secret'],
      source: 'config',
    });
    registry.set(webhook);
    const sender = new HttpSender({ ssrf: { enabled: true, allowList: ['127.0.0.1/32'] } });
    const dispatcher = new Dispatcher(
      registry,
      sender,
      new StateWriter(state, logger),
      state,
      {
        retryScheduleMs: [60_000],
        concurrency: 1,
        maxQueuedPerEndpoint: 100,
        spillAfterMs: 60_000,
        maxPayloadBytes: MAX_PAYLOAD_BYTES,
        userAgent: 'walhook-test',
        retryAfterDefaultMs: 30_000,
        breakerFailures: 2,
        breakerProbeIntervalMs: PROBE_INTERVAL_MS,
        disableAfterMs: 5 * 86_400_000,
      },
      logger,
    );
    const mode = () => dispatcher.endpointModes().get(webhook.id);
    try {
      for (let attempt = 1; attempt <= 2; attempt++) await dispatcher.tryDelivery(webhook, job(10), 1);
      expect(mode()).toBe('open');
      const sentBefore = receiver.requests.length;

      await new Promise((resolve) => setTimeout(resolve, PROBE_INTERVAL_MS * 2));
      const refused = await dispatcher.tryDelivery(webhook, job(MAX_PAYLOAD_BYTES * 2), 1);
      expect(refused.delivered).toBe(false);
      expect(receiver.requests.length, 'the oversized probe was not sent').toBe(sentBefore);
      expect(mode(), 'a refused probe opens the breaker again instead of leaving it probing').toBe('open');

      failing = false;
      await waitFor(async () => (await dispatcher.tryDelivery(webhook, job(10), 1)).delivered, 'a later probe to be delivered', 5_000, PROBE_INTERVAL_MS);
      expect(mode()).toBe('closed');
    } finally {
      await sender.close();
    }
  });
});
