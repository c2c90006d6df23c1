/**
 * The limits of the delivery path, through `walhook start` on a real
 * PostgreSQL with receivers on 127.0.0.1: the SSRF guard, redirects, the
 * payload limit, timeouts, 410 Gone and Retry-After.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  deliveryRows,
  insertPersons,
  insertPersonsOneByOne,
  useCrmTestBed,
  waitForDelivery,
  waitForSlotAt,
  WORKSPACE_SCHEMA,
} from '../harness/crm.js';
import { waitFor } from '../harness/receiver.js';

const bed = useCrmTestBed('limits');

/** Starts walhook with these webhooks (on person.created unless they say otherwise) and delivery settings. */
async function walhook(webhooks: { id: string; targetUrl: string; operations?: string[] }[], delivery: Record<string, unknown> = {}) {
  const setup = bed.setup({ webhooks, delivery });
  return { setup, daemon: await bed.walhook(setup) };
}

describe('SSRF guard', () => {
  it('refuses loopback targets, by address, by name and as IPv4-mapped IPv6, without sending anything', async () => {
    const target = await bed.receiver();
    const hooks = [
      { id: randomUUID(), targetUrl: `http://127.0.0.1:${target.port}/literal` },
      { id: randomUUID(), targetUrl: `http://localhost:${target.port}/name` },
      { id: randomUUID(), targetUrl: `http://[::ffff:127.0.0.1]:${target.port}/mapped` },
    ];
    const { setup } = await walhook(hooks, { allowList: [] });
    await insertPersons(bed.db, 1);

    for (const hook of hooks) {
      const row = await waitForDelivery(bed.db, setup, hook.id, (r) => r.state === 'dead', `${hook.targetUrl} to be dead-lettered`);
      expect(row, hook.targetUrl).toMatchObject({ dead_reason: 'refused', attempts: 1, last_status: null });
      expect(row.last_error, hook.targetUrl).toMatch(/loopback/);
    }
    expect(target.requests).toEqual([]);
  });
});

describe('responses that are not a plain 2xx', () => {
  it('does not follow a redirect: a failed attempt, and the redirect target gets nothing', async () => {
    const elsewhere = await bed.receiver();
    const redirecting = await bed.receiver(() => ({ status: 302, headers: { location: elsewhere.url } }));
    const id = randomUUID();
    const { setup } = await walhook([{ id, targetUrl: redirecting.url }], { retrySchedule: ['200ms'] });
    await insertPersons(bed.db, 1);

    const row = await waitForDelivery(bed.db, setup, id, (r) => r.state === 'dead', 'the redirected delivery to be dead-lettered');
    expect(row).toMatchObject({ dead_reason: 'retries_exhausted', attempts: 2, last_status: 302, last_error: 'redirect (302) not followed' });
    expect(redirecting.requests).toHaveLength(2);
    expect(elsewhere.requests).toEqual([]);
  });

  it('counts a response slower than delivery.timeout as a failed attempt', async () => {
    const slow = await bed.receiver(() => ({ status: 200, delayMs: 1_500 }));
    const id = randomUUID();
    const { setup } = await walhook([{ id, targetUrl: slow.url }], { timeout: '300ms', retrySchedule: ['1m'] });
    await insertPersons(bed.db, 1);

    const row = await waitForDelivery(bed.db, setup, id, (r) => r.attempts === 1, 'the timed-out attempt to be recorded');
    expect(row).toMatchObject({ state: 'retrying', last_status: null });
    expect(row.last_error).toMatch(/timeout/);
  });

  it('defers a delivery answered 429 by its Retry-After, without counting an attempt', async () => {
    const busy = await bed.receiver(() => ({ status: 429, headers: { 'retry-after': '30' } }));
    const id = randomUUID();
    const { setup } = await walhook([{ id, targetUrl: busy.url }], { retrySchedule: ['200ms'] });
    await insertPersons(bed.db, 1);

    const row = await waitForDelivery(bed.db, setup, id, (r) => r.last_status === 429, 'the throttled delivery to be stored');
    const askedAt = busy.requests[0]!.at;
    // A throttling answer is not an attempt: the delivery waits, pending, and a one-retry schedule cannot dead-letter it.
    expect(row).toMatchObject({ state: 'pending', attempts: 0, last_status: 429 });
    expect(row.next_attempt_at!.getTime()).toBeGreaterThanOrEqual(askedAt + 30_000);
    expect(row.next_attempt_at!.getTime()).toBeLessThan(askedAt + 40_000);
    expect(busy.requests).toHaveLength(1);
  });

  it('disables a webhook whose receiver answers 410 Gone, and sends it nothing more', async () => {
    const gone = await bed.receiver(() => ({ status: 410 }));
    const control = await bed.receiver();
    const goneId = randomUUID();
    const { setup, daemon } = await walhook([
      { id: goneId, targetUrl: gone.url },
      { id: randomUUID(), targetUrl: control.url },
    ]);
    await insertPersons(bed.db, 1);

    const row = await waitForDelivery(bed.db, setup, goneId, (r) => r.state === 'dead', 'the 410 delivery to be dead-lettered');
    expect(row).toMatchObject({ dead_reason: 'gone', attempts: 1, last_status: 410 });
    const [status] = await bed.db.sql<{ disabled_reason: string }>(
      `SELECT disabled_reason FROM ${setup.stateSchema}.webhook_status WHERE webhook_id = $1 AND disabled_at IS NOT NULL`,
      [goneId],
    );
    expect(status?.disabled_reason).toMatch(/410/);
    // The log line is written after the disabling commits, and read through a pipe: wait for it rather than expect it at once.
    await waitFor(() => daemon.logs.some((line) => line.msg === 'webhook disabled' && line.webhookId === goneId), "walhook's 'webhook disabled' log line");

    // Once the slot passes a later change, every delivery made for it is settled: none went to the disabled webhook,
    // and what it would have received is kept as a dead letter.
    const [, next] = await insertPersonsOneByOne(bed.db, 2, { from: 2 });
    await waitForSlotAt(bed.db, setup.slot, next!.walLsn, 'the slot to pass the later change');
    expect(control.requests.length).toBeGreaterThanOrEqual(2);
    expect(gone.requests).toHaveLength(1);
    const rows = await deliveryRows(bed.db, setup, goneId);
    expect(rows.map((r) => [r.state, r.dead_reason])).toEqual([
      ['dead', 'gone'],
      ['dead', 'webhook_disabled'],
      ['dead', 'webhook_disabled'],
    ]);
  });
});

describe('payload limit', () => {
  it('dead-letters a body above delivery.maxPayloadBytes without sending it', async () => {
    const target = await bed.receiver();
    const id = randomUUID();
    const { setup } = await walhook([{ id, targetUrl: target.url, operations: ['opportunity.created'] }], { maxPayloadBytes: '2kB' });
    await bed.db.sql(`INSERT INTO ${WORKSPACE_SCHEMA}.opportunity (name, stage) VALUES ($1, 'NEW'), ('Small deal', 'NEW')`, ['x'.repeat(3_000)]);

    const row = await waitForDelivery(bed.db, setup, id, (r) => r.state === 'dead', 'the oversized delivery to be dead-lettered');
    expect(row).toMatchObject({ dead_reason: 'payload_too_large', attempts: 0 });
    expect(Buffer.byteLength(row.body)).toBeGreaterThan(2_048);
    await waitFor(() => target.requests.length === 1, 'the small delivery');
    expect((target.requests[0]!.json.record as { name: string }).name).toBe('Small deal');
    expect(target.requests.every((request) => Buffer.byteLength(request.body) <= 2_048)).toBe(true);
  });
});
