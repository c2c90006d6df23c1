/**
 * The delivery path end to end: `walhook start` as a child process on a real
 * PostgreSQL, Twenty-like workspace tables, real HTTP receivers on 127.0.0.1
 * that verify every signature with walhook/verify. Each test has a slot and
 * state schema of its own, so it only sees the rows it writes.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it, onTestFinished } from 'vitest';
import { PAYLOAD_FORMATS } from '../../src/common/webhook.js';
import { SIGNATURE_HEADERS, SIGNATURE_SCHEMES, verifyWebhook } from '../../src/common/verify.js';
import {
  attemptRows,
  confirmedFlushLsn,
  currentWalLsn,
  deliveryRows,
  insertPersons,
  insertPersonsOneByOne,
  useCrmTestBed,
  waitForDelivery,
  waitForSlotAt,
  WORKSPACE_ID,
  WORKSPACE_SCHEMA,
  type WalhookOverrides,
  type WalhookSetup,
} from '../harness/crm.js';
import { apiUrlOf, scrapeMetrics } from '../harness/operations.js';
import { waitFor } from '../harness/receiver.js';

const bed = useCrmTestBed('delivery');

/** One webhook on `person.created` to `targetUrl`. */
function personWebhook(targetUrl: string, overrides: Omit<WalhookOverrides, 'webhooks'> = {}): { id: string; setup: WalhookSetup } {
  const id = randomUUID();
  return { id, setup: bed.setup({ webhooks: [{ id, targetUrl }], ...overrides }) };
}

function rowIdOf(body: Record<string, unknown>): string {
  return (body.record as { id: string }).id;
}

describe('payload formats and signatures', () => {
  // Values a careless serialiser breaks: beyond 2^53, trailing zeros, astral
  // characters, HTML breakers, line separators, integer-like jsonb keys (which
  // JSON.parse moves to the front) and nesting.
  const company = {
    name: 'Zoë Ångström 日本語 👩‍💻🚀 </script><script>alert("x")</script> \u2028 "quoted" \\ back',
    revenueMicros: '9007199254740993',
    rating: '1.50',
    address: {
      addressStreet1: "1 rue de l'Église",
      '10': 'integer-like key',
      geo: { lat: 48.8566, tags: ['hq', { floor: 3, note: null, emoji: '🏢' }], empty: {} },
    },
  };

  it('delivers every format with every signature scheme, bodies unchanged by JSON.stringify(JSON.parse(body))', async () => {
    const hooks = await bed.receiver();
    const combinations = PAYLOAD_FORMATS.flatMap((format) => SIGNATURE_SCHEMES.map((scheme) => ({ format, scheme, path: `/hook/${format}/${scheme}` })));
    const setup = bed.setup({
      webhooks: combinations.map(({ format, scheme, path }) => ({
        targetUrl: new URL(path, hooks.url).toString(),
        operations: ['company.*'],
        secret: bed.secret,
        format,
        signatures: [scheme],
      })),
    });
    await bed.walhook(setup);

    const [inserted] = await bed.db.sql<{ id: string }>(
      `INSERT INTO ${WORKSPACE_SCHEMA}.company (name, "annualRecurringRevenueAmountMicros", rating, address)
       VALUES ($1, $2, $3, $4) RETURNING id`,
      [company.name, company.revenueMicros, company.rating, company.address],
    );
    await bed.db.sql(`UPDATE ${WORKSPACE_SCHEMA}.company SET rating = 2.5 WHERE id = $1`, [inserted!.id]);
    await waitFor(() => hooks.requests.length >= combinations.length * 2, 'a created and an updated event per webhook');

    for (const { format, scheme, path } of combinations) {
      const requests = hooks.requests.filter((request) => request.path === path);
      expect(requests, path).toHaveLength(2);
      for (const request of requests) {
        expect(request.verificationError, path).toBeNull();
        expect(verifyWebhook({ body: request.body, headers: request.headers, secret: bed.secret, schemes: [scheme] }).scheme).toBe(scheme);
        for (const other of SIGNATURE_SCHEMES.filter((s) => s !== scheme)) {
          expect(request.headers[SIGNATURE_HEADERS[other].signature], `${path} sends only ${scheme}`).toBeUndefined();
        }
        expect(JSON.stringify(JSON.parse(request.body)), path).toBe(request.body);
        expect(request.body).toContain('</script>');
      }
      const rowOf = (body: Record<string, unknown> | undefined) => (format === 'event' ? body?.data : body?.record);
      const operationOf = (body: Record<string, unknown> | undefined) =>
        format === 'record' ? body?.operation : format === 'event' ? body?.event : body?.eventName;
      // Without `ordering: record` both changes of the row may be in flight at once: they can arrive either way round.
      expect(requests.map((request) => operationOf(request.json)).sort()).toEqual(['company.created', 'company.updated']);
      const createdRequest = requests.find((request) => operationOf(request.json) === 'company.created')!;
      const created = createdRequest.json;
      const updated = requests.find((request) => operationOf(request.json) === 'company.updated')!.json;
      expect(rowOf(created)).toMatchObject({
        id: inserted!.id,
        name: company.name,
        annualRecurringRevenueAmountMicros: company.revenueMicros,
        rating: company.rating,
        address: company.address,
      });
      expect(rowOf(updated)).toMatchObject({ id: inserted!.id, rating: '2.50', address: company.address });
      if (format !== 'event') expect(created?.workspaceId).toBe(WORKSPACE_ID);
      if (format === 'record') {
        expect(created?.id).toBe(createdRequest.headers['webhook-id']);
        expect(updated?.previousRecord).toMatchObject({ rating: '1.50', name: company.name });
        expect(updated?.updatedFields).toEqual(['rating']);
      }
    }
  });
});

describe('retries and dead letters', () => {
  it('delivers on the third attempt after two 500s, with the same ids every time', async () => {
    const hooks = await bed.receiver((_request, index) => ({ status: index < 2 ? 500 : 200 }));
    const { id: webhookId, setup } = personWebhook(hooks.url, { delivery: { retrySchedule: ['300ms', '300ms'] } });
    await bed.walhook(setup);
    const [person] = await insertPersons(bed.db, 1);

    const row = await waitForDelivery(bed.db, setup, webhookId, (r) => r.state === 'delivered', 'the delivery to be marked delivered');
    expect(hooks.requests).toHaveLength(3);
    expect(hooks.verified()).toHaveLength(3);
    expect(new Set(hooks.requests.map((request) => request.json.id))).toEqual(new Set([row.id]));
    expect(new Set(hooks.requests.map((request) => request.headers['webhook-id']))).toEqual(new Set([row.id]));
    expect(hooks.requests.map((request) => rowIdOf(request.json))).toEqual([person!.id, person!.id, person!.id]);
    expect(hooks.requests[1]!.at - hooks.requests[0]!.at).toBeGreaterThanOrEqual(250);
    expect(row).toMatchObject({ state: 'delivered', attempts: 3, last_status: 200, dead_reason: null });
    expect(await attemptRows(bed.db, setup, row.id)).toEqual([
      { attempt: 1, status: 500, error: 'HTTP 500' },
      { attempt: 2, status: 500, error: 'HTTP 500' },
      { attempt: 3, status: 200, error: null },
    ]);
  });

  it('dead-letters a delivery that never gets a 2xx after 1 + schedule length attempts', async () => {
    const hooks = await bed.receiver(() => ({ status: 503 }));
    const schedule = ['200ms', '200ms', '200ms'];
    const { id: webhookId, setup } = personWebhook(hooks.url, { delivery: { retrySchedule: schedule } });
    await bed.walhook(setup);
    await insertPersons(bed.db, 1);

    const row = await waitForDelivery(bed.db, setup, webhookId, (r) => r.state === 'dead', 'a dead letter');
    expect(row).toMatchObject({ state: 'dead', dead_reason: 'retries_exhausted', attempts: schedule.length + 1, last_status: 503, next_attempt_at: null });
    expect(hooks.requests).toHaveLength(schedule.length + 1);
    expect(await attemptRows(bed.db, setup, row.id)).toHaveLength(schedule.length + 1);
  });
});

describe('endpoints in isolation', () => {
  /** A slow receiver and a fast one, both taking every person.created. */
  async function slowBesideFast(respond: Parameters<typeof bed.receiver>[0], delivery: WalhookOverrides['delivery']) {
    const slow = await bed.receiver(respond);
    const fast = await bed.receiver();
    const slowId = randomUUID();
    const setup = bed.setup({
      webhooks: [
        { id: slowId, targetUrl: slow.url, operations: ['person.created'], secret: bed.secret },
        { targetUrl: fast.url, operations: ['person.created'], secret: bed.secret },
      ],
      delivery,
    });
    return { slow, fast, slowId, setup };
  }

  it('keeps a fast endpoint fast and the slot moving while another endpoint takes 5 s per request', async () => {
    const count = 200;
    const perEndpoint = 20;
    // The slow endpoint answers nothing until every fast delivery has arrived: the fast one cannot be waiting
    // for it, however slow the machine. After that it takes 5 s per request.
    let releaseSlow!: () => void;
    const slowHeld = new Promise<void>((resolve) => (releaseSlow = resolve));
    const { slow, fast, slowId, setup } = await slowBesideFast(() => ({ status: 200, heldUntil: slowHeld, delayMs: 5_000 }), {
      concurrency: perEndpoint,
      maxQueuedPerEndpoint: perEndpoint,
      timeout: '60s',
    });
    await bed.walhook(setup);

    const persons = await insertPersonsOneByOne(bed.db, count);
    await waitFor(() => fast.verified().length >= count, () => `every fast delivery (${fast.verified().length} of ${count} arrived)`, 30_000);
    releaseSlow();
    expect(new Set(fast.requests.map((request) => rowIdOf(request.json))).size).toBe(count);
    // Only the requests in flight reached the slow endpoint; once it shows itself slow, the rest waits in the state table.
    expect(slow.requests.length).toBeLessThanOrEqual(perEndpoint);
    // Two rounds of requests at most went out from memory (the first, and the one started as it ended, before the spill).
    await waitFor(async () => (await deliveryRows(bed.db, setup, slowId)).length >= count - 2 * perEndpoint, 'the slow endpoint’s deliveries in the state table', 8_000);
    const stored = await deliveryRows(bed.db, setup, slowId);
    expect(stored.every((row) => row.state === 'pending')).toBe(true);

    // Once the in-memory requests are answered, the slot passes the changes while most still wait in the state table.
    // Those are the two rounds above, 5 s each from the release: 10 s, then a confirmation; 10 s of waiting was too tight.
    await waitForSlotAt(bed.db, setup.slot, persons.at(-1)!.walLsn, 'the slot to pass the changes', 20_000);
    const waiting = (await deliveryRows(bed.db, setup, slowId)).filter((row) => row.state === 'pending');
    expect(waiting.length).toBeGreaterThan(count / 2);

    // The retry worker refills the slow endpoint's queue only up to the bound.
    const leasedCount = async () =>
      (
        await bed.db.sql<{ n: number }>(
          `SELECT count(*)::int AS n FROM ${setup.stateSchema}.deliveries WHERE webhook_id = $1 AND state = 'pending' AND lease_until > now()`,
          [slowId],
        )
      )[0]!.n;
    await waitFor(async () => (await leasedCount()) > 0, 'the retry worker to feed the slow endpoint', 12_000);
    expect(await leasedCount()).toBeLessThanOrEqual(perEndpoint);
  });

  it('moves a slow endpoint’s waiting deliveries to the state table after delivery.spillAfter, so the slot passes them', async () => {
    const count = 200;
    // Slow for the first requests only, so the spilled rest can drain quickly afterwards.
    // The default in-memory bound (1000) holds all 200: only the spill lets the slot move before ~250 s.
    const { slow, fast, slowId, setup } = await slowBesideFast((_request, index) => ({ status: 200, delayMs: index < 4 ? 5_000 : 0 }), {
      concurrency: 4,
      spillAfter: '1s',
      timeout: '10s',
    });
    await bed.walhook(setup);
    const persons = await insertPersonsOneByOne(bed.db, count);
    // Four requests are in flight for 5 s; everything behind them is spilled after 1 s and settled.
    await waitForSlotAt(bed.db, setup.slot, persons.at(-1)!.walLsn, 'the slot to pass all changes', 9_000);
    const stored = await deliveryRows(bed.db, setup, slowId);
    expect(stored.length).toBeGreaterThanOrEqual(count - 4 * 2);
    await waitFor(() => new Set(slow.verified().map((r) => rowIdOf(r.json))).size === count, 'every delivery to arrive in the end', 20_000);
    expect(new Set(fast.verified().map((r) => rowIdOf(r.json))).size).toBe(count);
  });

  it('keeps a single busy endpoint on the fast path: reading waits for it instead of filling the state table', async () => {
    const count = 300;
    const only = await bed.receiver((_request, index) => ({ status: 200, delayMs: index % 50 === 0 ? 200 : 0 }));
    const id = randomUUID();
    const setup = bed.setup({
      webhooks: [{ id, targetUrl: only.url, operations: ['person.created'], secret: bed.secret }],
      delivery: { concurrency: 2, maxQueuedPerEndpoint: 10 },
    });
    await bed.walhook(setup);
    await insertPersons(bed.db, count);
    await waitFor(() => new Set(only.verified().map((r) => rowIdOf(r.json))).size === count, 'every delivery', 20_000);
    // Far past its bound of 10, yet nothing went through the state table: the slot held the rest.
    expect(await deliveryRows(bed.db, setup, id)).toHaveLength(0);
  });

  it('reads only its read-ahead for a single endpoint that holds every request, far under its bound, and loses nothing', async () => {
    const count = 300;
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const only = await bed.receiver(() => ({ status: 200, heldUntil: held }));
    const id = randomUUID();
    // Concurrency 1: a read-ahead of 16, against the default bound of 1,000 (which 300 changes never reach).
    const setup = bed.setup({ webhooks: [{ id, targetUrl: only.url, operations: ['person.created'], secret: bed.secret }], delivery: { concurrency: 1 } });
    const walhook = await bed.walhook(setup);
    const paused = async () => (await scrapeMetrics(apiUrlOf(walhook))).value('walhook_stream_paused');
    await insertPersons(bed.db, count);
    await waitFor(async () => (await paused()) === 1, 'reading to pause at the read-ahead');
    expect(only.requests).toHaveLength(1);
    release();
    await waitFor(() => new Set(only.verified().map((r) => rowIdOf(r.json))).size === count, 'every delivery', 30_000);
    expect(await paused()).toBe(0);
    expect(await deliveryRows(bed.db, setup, id)).toHaveLength(0);
  });

  it('pauses reading once every endpoint holds its read-ahead, far under its bound, so none of them waits in memory for the spill', async () => {
    // Before, an endpoint counted as busy only at its bound (1,000): two endpoints that held every request kept
    // reading going, each queued every change in memory, and a queue that waited past delivery.spillAfter went
    // to the state table although it was no slower than the others (the bench's isolation run, 2026-12-04).
    const count = 300;
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const endpoints = await Promise.all([0, 1].map(async () => ({ id: randomUUID(), receiver: await bed.receiver(() => ({ status: 200, heldUntil: held })) })));
    // Concurrency 1: a read-ahead of 16 each, against the default bound of 1,000 (which 300 changes never reach).
    const setup = bed.setup({
      webhooks: endpoints.map(({ id, receiver }) => ({ id, targetUrl: receiver.url, operations: ['person.created'], secret: bed.secret })),
      delivery: { concurrency: 1, spillAfter: '60s' },
    });
    const walhook = await bed.walhook(setup);
    const metrics = () => scrapeMetrics(apiUrlOf(walhook));
    // One transaction each: a transaction's changes are routed together at its commit.
    await insertPersonsOneByOne(bed.db, count);
    await waitFor(async () => (await metrics()).value('walhook_stream_paused') === 1, 'reading to pause with both endpoints at their read-ahead');
    const depths = await metrics().then((scraped) => endpoints.map(({ id }) => scraped.value('walhook_queue_depth', { webhook_id: id }) ?? 0));
    expect(depths.every((depth) => depth >= 16 && depth < count), `queue depths ${depths.join(', ')}`).toBe(true);
    release();
    for (const { id, receiver } of endpoints) {
      await waitFor(() => new Set(receiver.verified().map((r) => rowIdOf(r.json))).size === count, 'every delivery to each endpoint', 30_000);
      expect(await deliveryRows(bed.db, setup, id)).toHaveLength(0);
    }
    expect((await metrics()).value('walhook_stream_paused')).toBe(0);
  });

  it('keeps confirming the slot while only tables outside the publication change', async () => {
    await bed.db.sql('CREATE TABLE IF NOT EXISTS public.unrelated (id serial PRIMARY KEY, note text)');
    const { setup } = personWebhook('http://127.0.0.1:9/unused', { source: { statusInterval: '200ms' } });
    await bed.walhook(setup);

    for (let round = 1; round <= 2; round++) {
      await bed.db.sql(`INSERT INTO public.unrelated (note) SELECT 'noise ' || i FROM generate_series(1, 50) AS i`);
      await waitForSlotAt(bed.db, setup.slot, await currentWalLsn(bed.db), `the slot to pass unrelated writes (round ${round})`);
    }
  });
});

describe('SIGTERM', () => {
  it('exits 0, confirms its position, and delivers nothing again after a restart', async () => {
    const hooks = await bed.receiver();
    const { setup } = personWebhook(hooks.url);
    const first = await bed.walhook(setup);
    const persons = await insertPersons(bed.db, 20);
    await waitFor(() => hooks.requests.length >= persons.length, 'the first deliveries');

    expect(await first.stop()).toBe(0);
    expect(((await confirmedFlushLsn(bed.db, setup.slot)) ?? 0n) > persons.at(-1)!.walLsn).toBe(true);

    await bed.walhook(setup);
    const [later] = await insertPersons(bed.db, 1, persons.length + 1);
    await waitFor(() => hooks.requests.some((request) => rowIdOf(request.json) === later!.id), 'the delivery after the restart');
    const delivered = hooks.requests.map((request) => rowIdOf(request.json));
    expect(delivered).toHaveLength(persons.length + 1);
    expect(new Set(delivered)).toEqual(new Set([...persons, later!].map((person) => person.id)));
  });

  it('exits 0 within the shutdown timeout with a request still in flight, which is sent again after a restart', async () => {
    // The first request is never answered while walhook runs: stopping can only finish by abandoning it.
    let releaseFirst!: () => void;
    const firstHeld = new Promise<void>((resolve) => (releaseFirst = resolve));
    const hooks = await bed.receiver((_request, index) => (index === 0 ? { status: 200, heldUntil: firstHeld } : { status: 200 }));
    onTestFinished(() => releaseFirst());
    const { id: webhookId, setup } = personWebhook(hooks.url, { delivery: { shutdownTimeout: '1s', timeout: '10m' } });
    const first = await bed.walhook(setup);
    const [person] = await insertPersons(bed.db, 1);
    await waitFor(() => hooks.requests.length === 1, 'the request that hangs');

    expect(await first.stop()).toBe(0);
    // The abandoned request is neither a settled delivery nor a failed attempt: only the slot holds it.
    expect(await deliveryRows(bed.db, setup, webhookId)).toEqual([]);

    await bed.walhook(setup);
    await waitFor(() => hooks.requests.length === 2, 'the unsettled delivery to be sent again');
    expect(rowIdOf(hooks.requests[1]!.json)).toBe(person!.id);
    expect(hooks.requests[1]!.json.id).toBe(hooks.requests[0]!.json.id);
  });
});
