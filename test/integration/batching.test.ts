/**
 * Batching (a webhook's `batch` policy) against real receivers on 127.0.0.1
 * and a real PostgreSQL: requests of several events in commit order, each
 * event with the id it has without batching, signed once over the whole body;
 * a failed batch stored, retried and dead-lettered as one row while the slot
 * moves on; bodies within maxBytes; wrong values named in the config file and
 * the API.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { currentWalLsn, deliveryRows, insertPersons, useCrmTestBed, waitForSlotAt, type InsertedPerson } from '../harness/crm.js';
import { startDaemon, writeConfig, type DaemonProcess } from '../harness/daemon.js';
import { graphqlClient } from '../harness/graphql.js';
import { apiUrlOf, scrapeMetrics } from '../harness/operations.js';
import { waitFor, type ReceivedRequest, type Receiver } from '../harness/receiver.js';

const bed = useCrmTestBed('batching');

interface BatchEvent {
  id: string;
  body: { id: string; record: { id: string; position: number } };
}

interface Batch {
  batchId: string;
  webhookId: string;
  count: number;
  events: BatchEvent[];
}

function batchOf(request: ReceivedRequest): Batch {
  return request.json as unknown as Batch;
}

/** The batches the receiver answered with a 2xx, in arrival order. */
function delivered(receiver: Receiver, statusOf: (index: number) => number = () => 200): Batch[] {
  return receiver.requests.filter((_, index) => statusOf(index) < 300).map(batchOf);
}

function positionsOf(batches: readonly Batch[]): number[] {
  return batches.flatMap((batch) => batch.events.map((event) => event.body.record.position));
}

function expectEach(persons: readonly InsertedPerson[], batches: readonly Batch[]): void {
  const positions = positionsOf(batches);
  expect([...positions].sort((a, b) => a - b), 'every event exactly once').toEqual(persons.map((person) => person.index));
}

describe('batching', () => {
  it('sends 50 inserts in a few signed requests of at most 10 events in commit order, each event with its unbatched id', async () => {
    const batched = await bed.receiver();
    const single = await bed.receiver();
    // One webhook id in two deployments of their own (each its slot): the same events, with and without batching.
    const webhookId = randomUUID();
    const batchedSetup = bed.setup({ webhooks: [{ id: webhookId, targetUrl: batched.url, batch: { maxEvents: 10, linger: '200ms' } }] });
    const singleSetup = bed.setup({ webhooks: [{ id: webhookId, targetUrl: single.url }] });
    const batchedWalhook = await bed.walhook(batchedSetup);
    await bed.walhook(singleSetup);

    const persons = await insertPersons(bed.db, 50);
    await waitFor(() => positionsOf(delivered(batched)).length >= 50 && single.requests.length >= 50, 'both receivers to get the 50 events', 30_000);

    const batches = delivered(batched);
    expect(batched.requests.length, 'fewer requests than events').toBeLessThanOrEqual(10);
    expect(batched.requests.length).toBeGreaterThanOrEqual(5);
    expect(batched.verified(), 'each request signed once over its whole body').toHaveLength(batched.requests.length);
    for (const [index, batch] of batches.entries()) {
      expect(batch.events.length).toBeLessThanOrEqual(10);
      expect(batch.count).toBe(batch.events.length);
      expect(batch.webhookId).toBe(webhookId);
      expect(batched.requests[index]!.headers['webhook-id'], 'the batch id where a single delivery carries its id').toBe(batch.batchId);
      const positions = batch.events.map((event) => event.body.record.position);
      expect(positions, 'commit order inside a batch').toEqual([...positions].sort((a, b) => a - b));
      for (const event of batch.events) expect(event.body.id).toBe(event.id);
    }
    // Batches may arrive out of order (concurrency), but each takes the next events in commit order.
    const byFirst = [...batches].sort((a, b) => a.events[0]!.body.record.position - b.events[0]!.body.record.position);
    expect(positionsOf(byFirst)).toEqual(persons.map((person) => person.index));
    expectEach(persons, batches);

    const metrics = await scrapeMetrics(apiUrlOf(batchedWalhook));
    expect(metrics.value('walhook_batch_events_count', { webhook_id: webhookId }), 'one batch observed per request').toBe(batched.requests.length);
    expect(metrics.value('walhook_batch_events_sum', { webhook_id: webhookId })).toBe(50);

    const unbatchedIds = new Map(single.requests.map((request) => [(request.json.record as { position: number }).position, request.headers['webhook-id']]));
    for (const event of batches.flatMap((batch) => batch.events)) {
      expect(event.id, `event at position ${event.body.record.position}`).toBe(unbatchedIds.get(event.body.record.position));
    }
  });

  it('retries a failed batch as a unit from the state table while the slot moves on, and delivers every event once the endpoint recovers', async () => {
    let failing = true;
    const statuses: number[] = [];
    const receiver = await bed.receiver(() => {
      const status = failing ? 500 : 200;
      statuses.push(status);
      return { status };
    });
    const setup = bed.setup({
      webhooks: [{ targetUrl: receiver.url, batch: { maxEvents: 10, linger: '200ms' } }],
      delivery: { retrySchedule: Array.from({ length: 20 }, () => '200ms') },
    });
    await bed.walhook(setup);
    const persons = await insertPersons(bed.db, 30);
    const afterInsert = await currentWalLsn(bed.db);
    await waitForSlotAt(bed.db, setup.slot, afterInsert, 'the slot to pass the changes while their batches fail', 30_000);
    await waitFor(() => statuses.length >= 3, 'the failing endpoint to be tried');
    const failed = receiver.requests.filter((_, index) => statuses[index] === 500).map((request) => request.body);
    expect(failed.length).toBeGreaterThan(0);
    const [webhookId] = (await bed.db.sql<{ id: string }>(`SELECT id FROM ${setup.stateSchema}.webhooks`)).map((row) => row.id);
    const stored = await deliveryRows(bed.db, setup, webhookId!);
    expect(stored.length, 'the failed batches are rows of the state table').toBeGreaterThan(0);
    expect(stored.every((row) => JSON.parse(row.body).count > 0)).toBe(true);

    failing = false;
    await waitFor(() => positionsOf(delivered(receiver, (index) => statuses[index]!)).length >= 30, 'every event to be delivered after recovery', 30_000);
    const succeeded = receiver.requests.filter((_, index) => statuses[index] === 200);
    expectEach(persons, succeeded.map(batchOf));
    const succeededBodies = new Map(succeeded.map((request) => [batchOf(request).batchId, request.body]));
    for (const body of failed) {
      const batch = JSON.parse(body) as Batch;
      expect(succeededBodies.get(batch.batchId), `batch ${batch.batchId} retried whole: same id, same events`).toBe(body);
    }

    const [fresh] = await insertPersons(bed.db, 1, 1_000);
    await waitFor(() => positionsOf(delivered(receiver, (index) => statuses[index]!)).includes(fresh!.index), 'a write after recovery to arrive', 30_000);
  });

  it('dead-letters a batch that always fails as one row holding all its events, and redelivers it whole', async () => {
    let answer = 500;
    const receiver = await bed.receiver(() => ({ status: answer }));
    const token = 'batching-test-token-0123456789';
    const setup = bed.setup({
      webhooks: [{ targetUrl: receiver.url, batch: { maxEvents: 5, linger: '2s' } }],
      delivery: { retrySchedule: ['100ms', '100ms'] },
      api: { token },
    });
    const daemon = await bed.walhook(setup);
    await insertPersons(bed.db, 5);
    await waitFor(async () => {
      const rows = await bed.db.sql<{ state: string }>(`SELECT state FROM ${setup.stateSchema}.deliveries`);
      return rows.length > 0 && rows.every((row) => row.state === 'dead');
    }, 'the batch to be dead-lettered', 30_000);
    const rows = await bed.db.sql<{ id: string; state: string; operation: string; attempts: number; body: string }>(
      `SELECT id, state, operation, attempts, body FROM ${setup.stateSchema}.deliveries`,
    );
    expect(rows).toHaveLength(1);
    const row = rows[0]!;
    expect(row).toMatchObject({ state: 'dead', operation: 'batch', attempts: 3 });
    const batch = JSON.parse(row.body) as Batch;
    expect(batch.batchId).toBe(row.id);
    expect(batch.count).toBe(5);
    expect(new Set(batch.events.map((event) => event.id)).size).toBe(5);
    expect(receiver.requests.every((request) => request.body === row.body), 'every attempt sent the same batch').toBe(true);

    answer = 200;
    const sentBefore = receiver.requests.length;
    await graphqlClient(apiUrlOf(daemon), token).data('mutation ($id: ID!) { redeliver(deliveryId: $id) { id } }', { id: row.id });
    await waitFor(() => receiver.requests.length > sentBefore, 'the dead batch to be redelivered');
    expect(receiver.requests.slice(sentBefore).map((request) => request.body), 'the same batch, whole').toEqual([row.body]);
    await waitFor(async () => (await bed.db.sql<{ state: string }>(`SELECT state FROM ${setup.stateSchema}.deliveries`))[0]?.state === 'delivered', 'the row to be delivered');
  });

  it('splits batches so that no body passes maxBytes', async () => {
    const receiver = await bed.receiver();
    const maxBytes = 2_048;
    const setup = bed.setup({ webhooks: [{ targetUrl: receiver.url, batch: { maxEvents: 1_000, maxBytes, linger: '300ms' } }] });
    await bed.walhook(setup);
    const persons = await insertPersons(bed.db, 40);
    await waitFor(() => positionsOf(delivered(receiver)).length >= 40, 'the 40 events to arrive', 30_000);
    expect(receiver.requests.length, 'split into several requests').toBeGreaterThan(1);
    for (const request of receiver.requests) expect(Buffer.byteLength(request.body)).toBeLessThanOrEqual(maxBytes);
    expect(receiver.verified()).toHaveLength(receiver.requests.length);
    expectEach(persons, delivered(receiver));
  });

  it('sends what it gathered when stopped instead of waiting out the linger', async () => {
    const receiver = await bed.receiver();
    const setup = bed.setup({ webhooks: [{ targetUrl: receiver.url, batch: { maxEvents: 100, linger: '60s' } }] });
    const daemon = await bed.walhook(setup);
    const persons = await insertPersons(bed.db, 3);
    await waitFor(
      async () => ((await scrapeMetrics(apiUrlOf(daemon))).value('walhook_changes_total', { object: 'person', action: 'created' }) ?? 0) >= 3,
      'walhook to read the 3 changes',
    );
    expect(receiver.requests, 'the batch lingers').toHaveLength(0);
    expect(await daemon.stop()).toBe(0);
    expect(receiver.requests).toHaveLength(1);
    expect(receiver.verified()).toHaveLength(1);
    expectEach(persons, [batchOf(receiver.requests[0]!)]);
    const afterInsert = persons.at(-1)!.walLsn;
    await waitForSlotAt(bed.db, setup.slot, afterInsert, 'the slot to be confirmed past the batch sent at shutdown');
  });

  it('loses nothing gathered when killed: the events come again from the slot after a restart', async () => {
    const receiver = await bed.receiver();
    const setup = bed.setup({ webhooks: [{ targetUrl: receiver.url, batch: { maxEvents: 100, linger: '60s' } }] });
    const read = async (daemon: DaemonProcess) =>
      ((await scrapeMetrics(apiUrlOf(daemon))).value('walhook_changes_total', { object: 'person', action: 'created' }) ?? 0) >= 3;
    const first = await bed.walhook(setup);
    const persons = await insertPersons(bed.db, 3);
    await waitFor(() => read(first), 'walhook to read the 3 changes');
    await first.kill9();
    expect(receiver.requests).toHaveLength(0);

    const second = await bed.walhook(setup);
    await waitFor(() => read(second), 'the restarted walhook to read the 3 changes again');
    expect(await second.stop()).toBe(0);
    expect(receiver.verified()).toHaveLength(1);
    expectEach(persons, [batchOf(receiver.requests[0]!)]);
  });

  it('names a wrong batch field: the config key on start, the input field in GraphQL', async () => {
    const file = writeConfig({
      database: { url: bed.db.url },
      webhooks: [{ targetUrl: 'https://example.com/hook', operations: ['person.created'], secret: bed.secret, batch: { maxEvents: 0, linger: 'soon' } }],
    });
    const refused = startDaemon(file);
    expect(await refused.exited).not.toBe(0);
    expect(refused.output()).toMatch(/webhooks\[0\]\.batch\.maxEvents/);
    expect(refused.output()).toMatch(/webhooks\[0\]\.batch\.linger/);

    const token = 'batching-test-token-0123456789';
    const setup = bed.setup({ webhooks: [{ targetUrl: 'https://example.com/hook' }], api: { token } });
    const daemon = await bed.walhook(setup);
    const port = daemon.logs.find((line) => line.msg === 'HTTP API listening')?.port;
    const api = graphqlClient(`http://127.0.0.1:${String(port)}`, token);
    const wrong = await api.request(
      'mutation { createWebhook(input: { targetUrl: "https://example.com/b", operations: ["person.*"], batch: { maxEvents: 20000, linger: "5m" } }) { id } }',
    );
    expect(wrong.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(wrong.errors?.[0]?.extensions?.fields?.map(({ field }) => field)).toEqual(['batch.maxEvents', 'batch.linger']);
    expect(wrong.errors?.[0]?.message).toMatch(/batch\.maxEvents: a whole number of events from 1 to 10000; got 20000/);
    const ordered = await api.request(
      'mutation { createWebhook(input: { targetUrl: "https://example.com/c", operations: ["person.*"], ordering: record, batch: {} }) { id } }',
    );
    expect(ordered.errors?.[0]?.extensions?.fields).toEqual([{ field: 'batch', reason: expect.stringMatching(/ordering is record/) }]);
  });
});
