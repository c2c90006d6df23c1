/**
 * What an SRE sees of `walhook start` (a real child process on a real
 * PostgreSQL, receivers on 127.0.0.1): /metrics compared exactly with what the
 * receivers got and the state table holds, /healthz and /readyz on a leader
 * and a standby and after the slot is dropped, and logs that are JSON lines
 * with ids as fields and never a secret.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { currentWalLsn, deliveryRows, insertPersonsOneByOne, useCrmTestBed, waitForSlotAt } from '../harness/crm.js';
import { graphqlClient } from '../harness/graphql.js';
import { probe, scrapeMetrics, useInstances, withConfig, type MetricsSnapshot } from '../harness/operations.js';
import { waitFor, type ReceivedRequest } from '../harness/receiver.js';

const bed = useCrmTestBed('operations');
const instances = useInstances();

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i;

function personIndexOf(request: ReceivedRequest): number {
  return (request.json.record as { position: number }).position;
}

/**
 * A receiver that fails every first attempt of a delivery, and its retry too
 * for odd persons: with one retry in the schedule, even persons end delivered
 * and odd ones dead. Every answer is counted by status.
 */
async function flakyReceiver() {
  const seen = new Set<unknown>();
  const answered = { success: 0, failure: 0 };
  const receiver = await bed.receiver((request) => {
    const retry = seen.has(request.json.id);
    seen.add(request.json.id);
    const ok = retry && personIndexOf(request) % 2 === 0;
    answered[ok ? 'success' : 'failure']++;
    return { status: ok ? 200 : 500 };
  });
  return { receiver, answered };
}

describe('/metrics', () => {
  it('counts exactly what the receivers and the state table saw, with Prometheus names and bounded labels', async () => {
    const count = 40;
    const ok = await bed.receiver();
    const flaky = await flakyReceiver();
    const okId = randomUUID();
    const flakyId = randomUUID();
    const setup = bed.setup({
      webhooks: [
        { id: okId, targetUrl: ok.url },
        { id: flakyId, targetUrl: flaky.receiver.url },
      ],
      // The flaky receiver fails every first attempt, which a circuit breaker takes for an outage: kept shut here, so
      // that every retry is sent and counted (endpoint-health.test.ts covers the breaker).
      delivery: { retrySchedule: ['100ms'], breakerFailures: 1_000 },
    });
    const walhook = await instances.start(setup.file, { streaming: true });

    await insertPersonsOneByOne(bed.db, count);
    // Every change settled for both webhooks: the OK one's 2xx counted, the flaky one's rows stored.
    await waitForSlotAt(bed.db, setup.slot, await currentWalLsn(bed.db), 'the slot to pass every change');
    await waitFor(async () => {
      const rows = await deliveryRows(bed.db, setup, flakyId);
      return rows.length === count && rows.every((row) => row.state === 'delivered' || row.state === 'dead');
    }, 'every flaky delivery to be delivered or dead');
    const dead = (await deliveryRows(bed.db, setup, flakyId)).filter((row) => row.state === 'dead').length;
    const metrics = await scrapeMetrics(walhook.api);

    expect(ok.requests).toHaveLength(count);
    expect(flaky.answered.success).toBeGreaterThan(0);
    expect(dead).toBeGreaterThan(0);
    expect(metrics.value('walhook_changes_total', { object: 'person', action: 'created' })).toBe(count);
    expect(metrics.value('walhook_deliveries_total', { webhook_id: okId, outcome: 'success' })).toBe(ok.requests.length);
    expect(metrics.value('walhook_deliveries_total', { webhook_id: okId, outcome: 'failure' }) ?? 0).toBe(0);
    expect(metrics.value('walhook_deliveries_total', { webhook_id: flakyId, outcome: 'success' })).toBe(flaky.answered.success);
    expect(metrics.value('walhook_deliveries_total', { webhook_id: flakyId, outcome: 'failure' })).toBe(flaky.answered.failure);
    expect(metrics.value('walhook_deliveries_total', { webhook_id: flakyId, outcome: 'dead' })).toBe(dead);
    expect(metrics.value('walhook_retry_backlog', { webhook_id: flakyId, state: 'dead' })).toBe(dead);
    expect(metrics.value('walhook_delivery_duration_seconds_count', { webhook_id: okId })).toBe(ok.requests.length);
    expect(metrics.value('walhook_delivery_duration_seconds_count', { webhook_id: flakyId })).toBe(flaky.receiver.requests.length);
    expect(metrics.value('walhook_event_latency_seconds_count')).toBe(ok.requests.length + flaky.answered.success);
    expect(metrics.value('walhook_queue_depth', { webhook_id: okId })).toBe(0);
    expect(metrics.value('walhook_queue_depth', { webhook_id: flakyId })).toBe(0);
    expect(metrics.value('walhook_endpoint_mode', { webhook_id: okId })).toBe(0);
    expect(metrics.value('walhook_leader')).toBe(1);
    expect(metrics.value('walhook_replication_connected')).toBe(1);
    expect(metrics.value('walhook_slot_wal_status', { status: 'reserved' })).toBe(1);
    expect(metrics.value('walhook_slot_wal_status', { status: 'missing' })).toBe(0);
    expect(metrics.value('walhook_slot_retained_wal_bytes')).toBeGreaterThan(0);
    expect(metrics.value('walhook_slot_lag_bytes')).toBeGreaterThanOrEqual(0);
    expect(metrics.value('walhook_process_cpu_user_seconds_total')).toBeGreaterThan(0);

    expectPrometheusNaming(metrics);
    expectBoundedLabels(metrics, [okId, flakyId]);
  });
});

/** Prometheus conventions for walhook's own metrics (prom-client's runtime defaults keep their historical names). */
function expectPrometheusNaming(metrics: MetricsSnapshot): void {
  const own = [...metrics.types].filter(([name]) => !/^walhook_(process|nodejs)_/.test(name));
  expect(own.length).toBeGreaterThanOrEqual(10);
  for (const [name, type] of metrics.types) {
    expect(name).toMatch(/^walhook_[a-z0-9]+(_[a-z0-9]+)*$/);
    expect(name, 'time in seconds, sizes in bytes').not.toMatch(/_(ms|milliseconds|minutes|hours|kb|mb|kilobytes|megabytes)(_|$)/);
    if (type === 'counter') expect(name).toMatch(/_total$/);
    // A histogram ends in its unit: time in seconds, sizes in bytes, a count in what it counts (events per batch).
    if (type === 'histogram') expect(name).toMatch(/_(seconds|bytes|events)$/);
  }
  for (const [name, type] of own) {
    if (type !== 'counter') expect(name, `${name} is a ${type}`).not.toMatch(/_total$/);
  }
}

/** No label carries an event or record id: the only UUIDs are the webhooks'. */
function expectBoundedLabels(metrics: MetricsSnapshot, webhookIds: string[]): void {
  for (const { name, labels } of metrics.samples) {
    for (const [key, value] of Object.entries(labels)) {
      if (key === 'webhook_id') expect(webhookIds, `${name}{webhook_id}`).toContain(value);
      else expect(value, `${name}{${key}}`).not.toMatch(UUID);
    }
  }
}

/** Drops the slot, terminating the walsender that holds it (the daemon reconnects, so until the drop wins). */
async function dropSlot(slot: string): Promise<void> {
  await waitFor(async () => {
    await bed.db.sql('SELECT pg_terminate_backend(active_pid, 5000) FROM pg_replication_slots WHERE slot_name = $1 AND active_pid IS NOT NULL', [slot]);
    const [dropped] = await bed.db.sql<{ ok: boolean }>(
      `SELECT count(pg_drop_replication_slot(slot_name)) = 1 AS ok FROM pg_replication_slots WHERE slot_name = $1 AND active_pid IS NULL`,
      [slot],
    );
    return dropped?.ok === true;
  }, `slot ${slot} to be dropped`, 10_000);
}

describe('/healthz and /readyz', () => {
  it('are served without auth: ready on a streaming leader and on a standby, unready while the slot is missing', async () => {
    const hooks = await bed.receiver();
    // With a management token configured, the probes still need none.
    const setup = withConfig(bed.setup({ webhooks: [{ targetUrl: hooks.url }] }), { api: { token: randomBytes(16).toString('hex') } });
    const leader = await instances.start(setup.file, { streaming: true });
    const standby = await instances.start(setup.file);

    expect(await probe(leader.api, '/healthz')).toEqual({ status: 200, body: { status: 'ok' } });
    expect(await probe(leader.api, '/readyz')).toMatchObject({ status: 200, body: { status: 'ready', role: 'leader', problems: [] } });
    expect(await probe(standby.api, '/readyz')).toMatchObject({ status: 200, body: { status: 'ready', role: 'standby', problems: [] } });

    await dropSlot(setup.slot);
    const droppedAt = leader.logs.length;
    for (const instance of [leader, standby]) {
      await waitFor(async () => (await probe(instance.api, '/readyz')).status === 503, 'both instances to turn unready');
      const { body } = await probe(instance.api, '/readyz');
      expect(body.problems).toContainEqual(expect.stringMatching(new RegExp(`slot '${setup.slot}' no longer exists.*restart walhook.*backfill`)));
      expect((await scrapeMetrics(instance.api)).value('walhook_slot_wal_status', { status: 'missing' })).toBe(1);
    }
    expect(leader.logs).toContainEqual(expect.objectContaining({ level: 'error', component: 'slot', slot: setup.slot, msg: expect.stringMatching(/dropped/) }));

    // It keeps trying to stream without recreating the slot (changes made meanwhile would be skipped silently), and does not exit.
    const retries = () => leader.logs.slice(droppedAt).filter((line) => line.msg === 'replication connection lost; reconnecting').length;
    await waitFor(() => retries() >= 3, 'the leader to try the missing slot again');
    expect(await bed.db.sql('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [setup.slot])).toEqual([]);
    expect(await probe(leader.api, '/healthz')).toMatchObject({ status: 200 });
    expect(leader.child.exitCode).toBeNull();

    // Once the operator recreates it, the leader streams again and both are ready.
    await bed.db.sql(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [setup.slot]);
    for (const instance of [leader, standby]) {
      await waitFor(async () => (await probe(instance.api, '/readyz')).status === 200, 'both instances to be ready again');
    }
  });
});

describe('logs', () => {
  it('are JSON lines with a component and ids as fields, and never carry a secret', async () => {
    const secrets = {
      webhookSecret: bed.secret,
      apiWebhookSecret: `api-made-${randomBytes(16).toString('hex')}`,
      apiToken: randomBytes(20).toString('hex'),
      wrongToken: randomBytes(20).toString('hex'),
      encryptionKey: randomBytes(32).toString('base64'),
      databasePassword: `pw${randomBytes(12).toString('hex')}`,
    };
    const databaseUrl = new URL(bed.db.url);
    databaseUrl.password = secrets.databasePassword;
    const failing = await bed.receiver(() => ({ status: 500 }));
    const hooks = await bed.receiver();
    const setup = withConfig(bed.setup({ webhooks: [{ targetUrl: hooks.url }], delivery: { retrySchedule: ['100ms'] } }), {
      database: { url: databaseUrl.toString() },
      api: { token: secrets.apiToken },
      log: { level: 'trace' },
    });
    // The encryption key comes from the environment, as in production.
    const walhook = await instances.start(setup.file, { streaming: true, env: { WALHOOK_ENCRYPTION_KEY: secrets.encryptionKey } });

    const api = graphqlClient(walhook.api, secrets.apiToken);
    const refused = await api.request('{ webhooks { id } }', {}, secrets.wrongToken);
    expect(refused.status).toBe(401);
    const { createWebhook } = await api.data<{ createWebhook: { id: string } }>(
      'mutation ($input: CreateWebhookInput!) { createWebhook(input: $input) { id } }',
      { input: { targetUrl: failing.url, operations: ['person.created'], secret: secrets.apiWebhookSecret } },
    );
    await waitFor(() => walhook.logs.some((line) => line.msg === 'webhook changed' && line.webhookId === createWebhook.id), 'the new webhook to be live');
    await insertPersonsOneByOne(bed.db, 3);
    await waitFor(
      async () => (await deliveryRows(bed.db, setup, createWebhook.id)).filter((row) => row.state === 'dead').length === 3,
      'the failing deliveries to be dead-lettered',
    );
    await waitFor(() => hooks.requests.length === 3, 'the other deliveries');

    const output = walhook.output();
    for (const [name, value] of Object.entries(secrets)) expect(output.includes(value), `${name} in the log output`).toBe(false);
    expect(output).not.toMatch(/authorization/i);

    expect(walhook.logs.every((line) => typeof line.level === 'string' && typeof line.time === 'string')).toBe(true);
    const lineWith = (msg: string) => walhook.logs.find((line) => line.msg === msg);
    // Nothing confirmed yet on this run: no made-up 0/0 position.
    expect(lineWith('replication streaming')).toMatchObject({ component: 'source', slot: setup.slot });
    expect(lineWith('replication streaming')).not.toHaveProperty('confirmedLsn');
    expect(lineWith('delivery attempt failed')).toMatchObject({
      component: 'delivery',
      webhookId: createWebhook.id,
      deliveryId: expect.stringMatching(UUID),
      eventId: expect.stringMatching(UUID),
      status: 500,
    });
    expect(lineWith('delivery dead-lettered')).toMatchObject({ component: 'delivery', webhookId: createWebhook.id, deliveryId: expect.stringMatching(UUID) });
    expect(lineWith('HTTP API listening')).toMatchObject({ component: 'api' });
    const withoutComponent = walhook.logs.filter((line) => typeof line.component !== 'string');
    expect(withoutComponent.map((line) => line.msg)).toEqual([]);
  });
});
