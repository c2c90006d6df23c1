/**
 * Endpoint health through `walhook start` on a real PostgreSQL with real
 * receivers on 127.0.0.1: 429 and Retry-After slow an endpoint down instead
 * of burning its retries, maxPerSecond paces it, and the circuit breaker
 * probes a failing endpoint with one request at a time.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { attemptRows, deliveryRows, insertPersons, useCrmTestBed } from '../harness/crm.js';
import { graphqlClient } from '../harness/graphql.js';
import { scrapeMetrics, useInstances } from '../harness/operations.js';
import { waitFor } from '../harness/receiver.js';

const bed = useCrmTestBed('health');
const instances = useInstances();

/** The persons (their `position`) of these requests, sorted and without repeats. */
function persons(requests: { json: Record<string, unknown> }[]): number[] {
  return [...new Set(requests.map((request) => Number((request.json.record as { position: unknown }).position)))].sort((a, b) => a - b);
}

describe('Retry-After', () => {
  it('429 with Retry-After: 1 defers the deliveries without counting an attempt; they are delivered later, none dead-lettered', async () => {
    const throttled = 2;
    const receiver = await bed.receiver((_, index) => (index < throttled ? { status: 429, headers: { 'retry-after': '1' } } : { status: 200 }));
    const id = randomUUID();
    // One retry only: were a 429 an attempt, two of them would dead-letter the delivery. One request at a time,
    // so that none is already in flight when a 429 arrives.
    const setup = bed.setup({ webhooks: [{ id, targetUrl: receiver.url }], delivery: { retrySchedule: ['200ms'], concurrency: 1 } });
    await bed.walhook(setup);
    await insertPersons(bed.db, 3);

    await waitFor(() => persons(receiver.requests.slice(throttled)).length === 3, 'the 3 persons to be delivered');
    // After each 429 nothing is sent to the endpoint until its Retry-After has passed (less a little for timer granularity).
    for (let index = 1; index <= throttled; index++) {
      expect(receiver.requests[index]!.at - receiver.requests[index - 1]!.at, `request ${index}`).toBeGreaterThanOrEqual(900);
    }
    expect(persons(receiver.requests.slice(throttled))).toEqual([1, 2, 3]);
    await waitFor(async () => (await deliveryRows(bed.db, setup, id)).every((row) => row.state === 'delivered'), 'the stored deliveries to be marked delivered');
    const rows = await deliveryRows(bed.db, setup, id);
    expect(rows.length).toBeGreaterThanOrEqual(1);
    for (const row of rows) {
      expect(row).toMatchObject({ state: 'delivered', attempts: 1, dead_reason: null });
      // The attempt history holds only the counted attempt, the one that was delivered.
      expect(await attemptRows(bed.db, setup, row.id)).toEqual([{ attempt: 1, status: 200, error: null }]);
    }
  });
});

describe('maxPerSecond', () => {
  it('paces requests to the rate: no 1 s window holds much more than the rate plus its burst, and every delivery arrives', async () => {
    const rate = 20;
    const count = 100;
    const receiver = await bed.receiver();
    const id = randomUUID();
    const setup = bed.setup({ webhooks: [{ id, targetUrl: receiver.url, maxPerSecond: rate }] });
    await bed.walhook(setup);
    await insertPersons(bed.db, count);

    await waitFor(() => persons(receiver.requests).length === count, `the ${count} persons to be delivered`, 40_000);
    const times = receiver.requests.map((request) => request.at).sort((a, b) => a - b);
    // Counted per window of the receiver's own clock: a loaded machine may send slower, never faster.
    let busiest = 0;
    for (let first = 0, last = 0; first < times.length; first++) {
      while (last < times.length && times[last]! < times[first]! + 1_000) last++;
      busiest = Math.max(busiest, last - first);
    }
    // A bucket holds a second's worth (the burst) and refills at the rate: at most 2 × rate in any second.
    expect(busiest).toBeLessThanOrEqual(2 * rate + 5);
    // Past the first burst the rest leave at the rate: (count - rate) / rate seconds at least, less timer slack.
    expect(times.at(-1)! - times[0]!).toBeGreaterThanOrEqual(((count - rate) / rate) * 1_000 * 0.9);
  });
});

describe('circuit breaker', () => {
  it('opens after breakerFailures failures and probes one request at a time, closes when the receiver recovers: all delivered, then a fresh row at once', async () => {
    const count = 40;
    let healthy = false;
    const statuses: number[] = [];
    const receiver = await bed.receiver((_, index) => {
      statuses[index] = healthy ? 200 : 500;
      return { status: statuses[index] };
    });
    const id = randomUUID();
    const token = randomBytes(16).toString('hex');
    const setup = bed.setup({
      webhooks: [{ id, targetUrl: receiver.url }],
      // Twenty retries a second apart: without the breaker, 40 deliveries would make about 40 requests a second.
      delivery: { breakerFailures: 3, breakerProbeInterval: '200ms', concurrency: 1, retrySchedule: Array.from({ length: 20 }, () => '1s') },
      api: { token },
    });
    const walhook = await instances.start(setup.file, { streaming: true });
    const mode = async () => (await scrapeMetrics(walhook.api)).value('walhook_endpoint_mode', { webhook_id: id });
    const api = graphqlClient(walhook.api, token);
    const modeShown = async () =>
      (await api.data<{ webhook: { stats: { endpointMode: string } } }>('query ($id: ID!) { webhook(id: $id) { stats { endpointMode } } }', { id })).webhook.stats
        .endpointMode;
    await insertPersons(bed.db, count);

    await waitFor(async () => (await mode()) === 1 || (await mode()) === 2, 'the circuit breaker to open');
    expect(['open', 'probing']).toContain(await modeShown());
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const failingMs = Date.now() - receiver.requests[0]!.at;
    const whileFailing = receiver.requests.length;
    healthy = true;
    // The 3 failures that opened it, then one probe per interval at most (with a little slack for timers).
    expect(whileFailing).toBeLessThan(count);
    expect(whileFailing).toBeLessThanOrEqual(3 + Math.ceil(failingMs / 200) + 3);
    expect(walhook.logs.some((line) => line.msg === 'endpoint failing: circuit open, probing it with one request at a time')).toBe(true);

    const delivered = () => persons(receiver.requests.filter((_, index) => statuses[index] === 200));
    await waitFor(() => delivered().length === count, () => `every person to be delivered (${delivered().length} of ${count})`, 30_000);
    expect(delivered()).toEqual(Array.from({ length: count }, (_, i) => i + 1));
    await waitFor(async () => (await deliveryRows(bed.db, setup, id)).every((row) => row.state === 'delivered'), 'the stored deliveries to be marked delivered');
    expect((await deliveryRows(bed.db, setup, id)).filter((row) => row.state === 'dead')).toEqual([]);
    expect(await mode()).toBe(0);
    expect(await modeShown()).toBe('closed');
    expect(walhook.logs.some((line) => line.msg === 'endpoint answers again: circuit closed')).toBe(true);

    // Liveness: a fresh change goes straight through.
    const before = receiver.requests.length;
    const insertedAt = Date.now();
    await insertPersons(bed.db, 1, count + 1);
    await waitFor(() => persons(receiver.requests.slice(before)).includes(count + 1), 'the fresh person to be delivered', 5_000);
    expect(receiver.requests.at(-1)!.at - insertedAt).toBeLessThan(5_000);
  });

  it('due retries of an endpoint that stays down still reach their dead letter, most of them counted as "not sent: circuit open"', async () => {
    const count = 10;
    const attemptsEach = 3;
    const receiver = await bed.receiver(() => ({ status: 500 }));
    const id = randomUUID();
    // The first failure opens the breaker. Its probe interval is cut to the first retry wait (100 ms): one probe per
    // 100 ms goes out, and the retries that come due meanwhile are kept back, counted, without a request.
    const setup = bed.setup({
      webhooks: [{ id, targetUrl: receiver.url }],
      delivery: { breakerFailures: 1, breakerProbeInterval: '1h', concurrency: 1, retrySchedule: ['100ms', '100ms'] },
    });
    await bed.walhook(setup);
    await insertPersons(bed.db, count);

    await waitFor(async () => {
      const rows = await deliveryRows(bed.db, setup, id);
      return rows.length === count && rows.every((row) => row.state === 'dead');
    }, 'every delivery to be dead-lettered');
    const rows = await deliveryRows(bed.db, setup, id);
    for (const row of rows) expect(row).toMatchObject({ dead_reason: 'retries_exhausted' });
    expect(rows.filter((row) => row.last_error === 'not sent: circuit open').length, 'deliveries whose last attempt was kept back').toBeGreaterThan(0);
    expect(receiver.requests.length, 'requests, against the attempts made without a breaker').toBeLessThan(count * attemptsEach);
    // Every request sent is one counted attempt of its delivery.
    const histories = await Promise.all(rows.map((row) => attemptRows(bed.db, setup, row.id)));
    expect(histories.flat().filter((attempt) => attempt.status === 500)).toHaveLength(receiver.requests.length);
  });
});
