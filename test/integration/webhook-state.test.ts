/**
 * What becomes of config-file webhooks and their deliveries over time, with
 * `walhook start` processes on a real PostgreSQL and receivers on 127.0.0.1:
 * a 410 Gone disables a config webhook on every instance and across
 * restarts, what it would have received is kept as dead letters, and an
 * operator (or an edit of its entry) enables it again; a config webhook
 * edited into a new id or removed leaves no retries stranded.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { deliveryRows, insertPersons, useCrmTestBed, waitForDelivery, type WalhookSetup } from '../harness/crm.js';
import { graphqlClient } from '../harness/graphql.js';
import { scrapeMetrics, useInstances, withConfig } from '../harness/operations.js';
import { waitFor, type ReceivedRequest } from '../harness/receiver.js';

const bed = useCrmTestBed('hookstate');
const instances = useInstances();

const positionOf = (request: ReceivedRequest) => (request.json.record as { position: number }).position;
const positions = (requests: ReceivedRequest[]) => [...new Set(requests.map(positionOf))].sort((a, b) => a - b);

/** A copy of `setup` whose first webhook entry `edit` changed. */
function withFirstWebhook(setup: WalhookSetup, edit: (entry: Record<string, unknown>) => void): WalhookSetup {
  const copy = withConfig(setup, {});
  const config = parse(readFileSync(copy.file, 'utf8')) as { webhooks: Record<string, unknown>[] };
  edit(config.webhooks[0]!);
  writeFileSync(copy.file, stringify(config));
  return copy;
}

describe('a config webhook disabled by 410 Gone', () => {
  it('is disabled on every instance and across restarts, keeps what it would have received, and can be enabled again', async () => {
    let gone = true;
    const target = await bed.receiver(() => ({ status: gone ? 410 : 200 }));
    const control = await bed.receiver();
    const hookId = randomUUID();
    const token = randomBytes(16).toString('hex');
    const setup = withConfig(
      bed.setup({ webhooks: [{ id: hookId, targetUrl: target.url }, { id: randomUUID(), targetUrl: control.url }], delivery: { leaseDuration: '3s' } }),
      { api: { token } },
    );
    const first = await instances.start(setup.file, { streaming: true });
    const second = await instances.start(setup.file);

    await insertPersons(bed.db, 1, 1);
    await waitForDelivery(bed.db, setup, hookId, (row) => row.dead_reason === 'gone', 'the 410 to dead-letter person 1');
    await waitFor(() => second.logs.some((line) => line.msg === 'webhook disabled' && line.webhookId === hookId), 'the standby to hear of the 410');

    // The standby takes over: it must not send to the gone receiver, and must record what it would have sent.
    await first.kill9();
    await waitFor(() => second.logs.some((line) => line.msg === 'replication streaming'), 'the standby to take over the slot', 30_000);
    await insertPersons(bed.db, 2, 2);
    await waitFor(() => [2, 3].every((n) => positions(control.requests).includes(n)), 'persons 2 and 3 at the control receiver');
    const disabledRows = async (count: number) =>
      waitFor(
        async () => (await deliveryRows(bed.db, setup, hookId)).filter((row) => row.dead_reason === 'webhook_disabled').length === count,
        `${count} dead letters with reason webhook_disabled`,
      );
    await disabledRows(2);
    expect(target.requests).toHaveLength(1);

    // A restart changes nothing: the receiver said it is gone.
    await second.stop();
    const third = await instances.start(setup.file, { streaming: true });
    expect(third.logs.some((line) => line.webhookId === hookId && String(line.msg).startsWith('config webhook stays disabled'))).toBe(true);
    await insertPersons(bed.db, 1, 4);
    await disabledRows(3);
    expect(target.requests).toHaveLength(1);

    // The operator re-enables it through the API and sends what it missed.
    gone = false;
    const api = graphqlClient(third.api, token);
    const { updateWebhook } = await api.data<{ updateWebhook: { status: string } }>(
      'mutation ($id: ID!) { updateWebhook(input: { id: $id, enabled: true }) { status } }',
      { id: hookId },
    );
    expect(updateWebhook.status).toBe('active');
    await insertPersons(bed.db, 1, 5);
    await waitFor(() => positions(target.requests).includes(5), 'person 5 at the re-enabled webhook');
    const { redeliverDeadLetters } = await api.data<{ redeliverDeadLetters: number }>(
      'mutation ($id: ID!) { redeliverDeadLetters(webhookId: $id) }',
      { id: hookId },
    );
    expect(redeliverDeadLetters).toBe(4);
    await waitFor(() => [1, 2, 3, 4, 5].every((n) => positions(target.requests).includes(n)), 'persons 1 to 5 at the re-enabled webhook');
  });

  it('is enabled again when its entry in the config file changes', async () => {
    let gone = true;
    const target = await bed.receiver(() => ({ status: gone ? 410 : 200 }));
    const hookId = randomUUID();
    const setup = bed.setup({ webhooks: [{ id: hookId, targetUrl: target.url }] });
    const first = await bed.walhook(setup);
    await insertPersons(bed.db, 1, 1);
    await waitForDelivery(bed.db, setup, hookId, (row) => row.dead_reason === 'gone', 'the 410 to dead-letter person 1');
    await first.stop();

    gone = false;
    const edited = withFirstWebhook(setup, (entry) => (entry.description = 'receiver is back'));
    const second = await bed.walhook(edited);
    expect(second.logs.some((line) => String(line.msg).startsWith('config webhook stays disabled'))).toBe(false);
    await insertPersons(bed.db, 1, 2);
    await waitFor(() => positions(target.requests).includes(2), 'person 2 at the edited webhook');
  });
});

describe('a config webhook edited into a new id, or removed', () => {
  it('dead-letters its waiting retries (webhook_removed) instead of stranding them, across a restart', async () => {
    const failing = await bed.receiver(() => ({ status: 503 }));
    const moved = await bed.receiver();
    // No `id:`: the id derives from targetUrl, so editing the URL makes it another webhook.
    const setup = bed.setup({ webhooks: [{ targetUrl: failing.url }], delivery: { retrySchedule: ['1h'] } });
    const first = await bed.walhook(setup);
    await insertPersons(bed.db, 2, 1);
    await waitFor(async () => {
      const rows = await bed.db.sql<{ count: number }>(`SELECT count(*)::int AS count FROM ${setup.stateSchema}.deliveries WHERE state = 'retrying' OR state = 'pending'`);
      return rows[0]!.count === 2;
    }, 'two deliveries waiting for their retry');
    const [{ webhook_id: oldId }] = (await bed.db.sql<{ webhook_id: string }>(`SELECT webhook_id FROM ${setup.stateSchema}.deliveries LIMIT 1`)) as [
      { webhook_id: string },
    ];
    await first.stop();

    const edited = withFirstWebhook(setup, (entry) => (entry.targetUrl = moved.url));
    const second = await bed.walhook(edited);

    const rows = await deliveryRows(bed.db, setup, oldId);
    expect(rows.map((row) => [row.state, row.dead_reason])).toEqual([
      ['dead', 'webhook_removed'],
      ['dead', 'webhook_removed'],
    ]);
    expect(second.logs.some((line) => line.webhookId === oldId && line.deadLettered === 2)).toBe(true);
    const apiPort = second.logs.find((line) => line.msg === 'HTTP API listening')?.port as number;
    const metrics = await scrapeMetrics(`http://127.0.0.1:${apiPort}`);
    expect(metrics.value('walhook_retry_backlog', { webhook_id: oldId, state: 'retrying' }) ?? 0).toBe(0);
    expect(metrics.value('walhook_retry_backlog', { webhook_id: oldId, state: 'pending' }) ?? 0).toBe(0);

    // Liveness: the edited webhook gets fresh changes.
    await insertPersons(bed.db, 1, 3);
    await waitFor(() => positions(moved.requests).includes(3), 'person 3 at the edited webhook');
  });
});
