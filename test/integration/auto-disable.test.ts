/**
 * delivery.disableAfter through `walhook start` on a real PostgreSQL with a
 * real receiver on 127.0.0.1, on a compressed clock (1 s instead of 5 days):
 * a webhook that only fails is disabled with its reason, logged and counted;
 * enableWebhook(redeliverMissed: true) brings back what it missed, with the
 * original ids, and fresh changes flow again.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { deliveryRows, insertPersons, useCrmTestBed } from '../harness/crm.js';
import { graphqlClient } from '../harness/graphql.js';
import { scrapeMetrics, useInstances } from '../harness/operations.js';
import { waitFor } from '../harness/receiver.js';

const bed = useCrmTestBed('autodisable');
const instances = useInstances();

const REASON = 'failing for 1s without a success (delivery.disableAfter)';
const ENABLE = 'mutation ($id: ID!, $redeliverMissed: Boolean) { enableWebhook(id: $id, redeliverMissed: $redeliverMissed) { id status disabledReason } }';

/** The persons (their `position`) of these requests, sorted and without repeats. */
function persons(requests: { json: Record<string, unknown> }[]): number[] {
  return [...new Set(requests.map((request) => Number((request.json.record as { position: unknown }).position)))].sort((a, b) => a - b);
}

describe('delivery.disableAfter', () => {
  it('disables a webhook that fails for disableAfter without a success; enableWebhook(redeliverMissed) sends what it missed with the original ids, then a fresh row', async () => {
    const count = 5;
    let healthy = false;
    const receiver = await bed.receiver(() => ({ status: healthy ? 200 : 500 }));
    const id = randomUUID();
    const token = randomBytes(16).toString('hex');
    const setup = bed.setup({
      webhooks: [{ id, targetUrl: receiver.url }],
      // Retries for longer than disableAfter: the webhook is disabled while its deliveries still wait.
      delivery: { disableAfter: '1s', breakerFailures: 2, breakerProbeInterval: '100ms', retrySchedule: Array.from({ length: 30 }, () => '200ms') },
      api: { token },
    });
    const walhook = await instances.start(setup.file, { streaming: true });
    const api = graphqlClient(walhook.api, token);
    const shown = async () =>
      (await api.data<{ webhook: { status: string; disabledReason: string | null } }>('query ($id: ID!) { webhook(id: $id) { status disabledReason } }', { id })).webhook;
    await insertPersons(bed.db, count);

    await waitFor(async () => (await shown()).disabledReason !== null, 'the webhook to be disabled', 15_000);
    expect(await shown()).toEqual({ status: 'disabled', disabledReason: REASON });
    // It failed for at least disableAfter before it was disabled, and never got a success.
    expect(receiver.requests.length).toBeGreaterThan(0);
    const disabledLog = walhook.logs.find((line) => line.msg === 'webhook failing without a success for delivery.disableAfter: disabling it');
    expect(disabledLog).toMatchObject({ webhookId: id });
    expect(walhook.logs.find((line) => line.msg === 'webhook disabled')).toMatchObject({ webhookId: id, reason: REASON });
    expect((await scrapeMetrics(walhook.api)).value('walhook_webhooks_auto_disabled_total')).toBe(1);
    // What waited for it is now dead letters, none lost.
    await waitFor(async () => {
      const rows = await deliveryRows(bed.db, setup, id);
      return rows.length === count && rows.every((row) => row.state === 'dead');
    }, 'every delivery to be a dead letter');
    const missed = new Set((await deliveryRows(bed.db, setup, id)).map((row) => row.id));
    const [failing] = await bed.db.sql<{ failing_since: Date | null }>(`SELECT failing_since FROM ${setup.stateSchema}.webhooks WHERE id = $1`, [id]);
    expect(failing?.failing_since).toBeInstanceOf(Date);

    // The receiver is fixed: one call enables it and redelivers what it missed.
    healthy = true;
    const before = receiver.requests.length;
    const { enableWebhook } = await api.data<{ enableWebhook: { id: string; status: string; disabledReason: string | null } }>(ENABLE, { id, redeliverMissed: true });
    expect(enableWebhook).toEqual({ id, status: 'active', disabledReason: null });
    const redelivered = () => receiver.requests.slice(before);
    await waitFor(() => persons(redelivered()).length === count, () => `the ${count} missed persons to be redelivered (${persons(redelivered()).length})`, 15_000);
    expect(persons(redelivered())).toEqual(Array.from({ length: count }, (_, i) => i + 1));
    // With their original ids (receivers dedupe on them).
    expect(new Set(redelivered().map((request) => String(request.headers['webhook-id'])))).toEqual(missed);
    await waitFor(async () => (await deliveryRows(bed.db, setup, id)).every((row) => row.state === 'delivered'), 'the redelivered rows to be marked delivered');
    const [cleared] = await bed.db.sql<{ failing_since: Date | null }>(`SELECT failing_since FROM ${setup.stateSchema}.webhooks WHERE id = $1`, [id]);
    expect(cleared?.failing_since).toBeNull();
    expect(await shown()).toEqual({ status: 'active', disabledReason: null });

    // Liveness: a fresh change goes through once it is enabled again.
    const fresh = receiver.requests.length;
    await insertPersons(bed.db, 1, count + 1);
    await waitFor(() => persons(receiver.requests.slice(fresh)).includes(count + 1), 'the fresh person to be delivered', 10_000);
    expect((await shown()).disabledReason).toBeNull();
  });

  it('enableWebhook of an unknown id is a GraphQL error that names it', async () => {
    const token = randomBytes(16).toString('hex');
    const setup = bed.setup({ webhooks: [], api: { token } });
    const walhook = await instances.start(setup.file, { streaming: true });
    const unknown = randomUUID();
    const response = await graphqlClient(walhook.api, token).request(ENABLE, { id: unknown, redeliverMissed: true });
    expect(response.data).toBeNull();
    expect(response.errors?.[0]).toMatchObject({ message: `no webhook with id "${unknown}"`, extensions: { code: 'NOT_FOUND' } });
  });
});
