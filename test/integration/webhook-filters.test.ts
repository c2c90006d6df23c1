/**
 * Webhook filters end to end, with `walhook start` on a real PostgreSQL and
 * receivers on 127.0.0.1: `changedFields` and a CEL `filter` get exactly the
 * matching events, a filter that fails on some events is logged and counted
 * while the stream goes on, and events kept out still settle (the slot moves
 * past them).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { currentWalLsn, insertPersons, useCrmTestBed, waitForSlotAt, WORKSPACE_SCHEMA } from '../harness/crm.js';
import { graphqlClient } from '../harness/graphql.js';
import { scrapeMetrics, useInstances, withConfig } from '../harness/operations.js';
import { waitFor, type ReceivedRequest } from '../harness/receiver.js';

const bed = useCrmTestBed('hookfilter');
const instances = useInstances();

/** `<operation> <position>` of each request, in arrival order. */
const seen = (requests: ReceivedRequest[]) =>
  requests.map((request) => `${String(request.json.operation)} ${(request.json.record as { position: number }).position}`).sort();

describe('webhook filters', () => {
  it('send each webhook exactly what its changedFields and filter let in; a failing filter is counted and the stream goes on', async () => {
    const everything = await bed.receiver();
    const byJobTitle = await bed.receiver();
    const inBerlin = await bed.receiver();
    const failsOnThree = await bed.receiver();
    const ids = { everything: randomUUID(), byJobTitle: randomUUID(), inBerlin: randomUUID(), failsOnThree: randomUUID() };
    const operations = ['person.created', 'person.updated'];
    const token = randomBytes(16).toString('hex');
    const setup = withConfig(bed.setup({
      webhooks: [
        { id: ids.everything, targetUrl: everything.url, operations },
        { id: ids.byJobTitle, targetUrl: byJobTitle.url, operations, changedFields: ['jobTitle'] },
        { id: ids.inBerlin, targetUrl: inBerlin.url, operations, filter: 'record.city == "Berlin" && operation == "person.updated"' },
        // Integer division by zero for person 3: a run-time error on that person's events only.
        { id: ids.failsOnThree, targetUrl: failsOnThree.url, operations, filter: '100 / (int(record.position) - 3) != 0' },
      ],
    }), { api: { token } });
    const walhook = await instances.start(setup.file, { streaming: true });

    await insertPersons(bed.db, 3, 1);
    const update = (set: string, position: number) => bed.db.sql(`UPDATE ${WORKSPACE_SCHEMA}.person SET ${set} WHERE position = $1`, [position]);
    await update(`city = 'Berlin'`, 1);
    await update(`"jobTitle" = 'CTO'`, 2);
    await update(`city = 'Berlin'`, 3);
    // Liveness after the failures: a fresh write arrives.
    await insertPersons(bed.db, 1, 4);

    const all = ['person.created 1', 'person.created 2', 'person.created 3', 'person.created 4', 'person.updated 1', 'person.updated 2', 'person.updated 3'];
    await waitFor(() => seen(everything.requests).length >= all.length, `all 7 events at the unfiltered webhook (seen ${seen(everything.requests).join(', ')})`);
    await waitFor(() => seen(byJobTitle.requests).includes('person.created 4'), 'person 4 at the changedFields webhook');
    await waitFor(() => seen(failsOnThree.requests).includes('person.created 4'), 'person 4 at the webhook whose filter fails on person 3');
    await waitFor(() => seen(inBerlin.requests).includes('person.updated 3'), "person 3's move to Berlin at the filtered webhook");
    // Everything kept out settled too: the slot moves past the last write.
    await waitForSlotAt(bed.db, setup.slot, await currentWalLsn(bed.db), 'the slot to pass every event, filtered ones included', 15_000);

    expect(seen(everything.requests)).toEqual(all);
    expect(seen(byJobTitle.requests)).toEqual(['person.created 1', 'person.created 2', 'person.created 3', 'person.created 4', 'person.updated 2']);
    expect(seen(inBerlin.requests)).toEqual(['person.updated 1', 'person.updated 3']);
    expect(seen(failsOnThree.requests)).toEqual(['person.created 1', 'person.created 2', 'person.created 4', 'person.updated 1', 'person.updated 2']);
    for (const receiver of [everything, byJobTitle, inBerlin, failsOnThree]) expect(receiver.verified()).toHaveLength(receiver.requests.length);

    const metrics = await scrapeMetrics(walhook.api);
    expect(metrics.value('walhook_filter_errors_total', { webhook_id: ids.failsOnThree })).toBe(2);
    expect(metrics.value('walhook_filtered_total', { webhook_id: ids.inBerlin })).toBe(5);
    expect(metrics.value('walhook_filtered_total', { webhook_id: ids.byJobTitle })).toBe(2);
    expect(metrics.value('walhook_filter_errors_total', { webhook_id: ids.everything })).toBeUndefined();

    const failures = walhook.logs.filter((line) => line.msg === 'webhook filter failed on this event; not sent to this webhook');
    expect(failures).toHaveLength(2);
    for (const line of failures) {
      expect(line).toMatchObject({ webhookId: ids.failsOnThree, eventId: expect.any(String), error: expect.stringMatching(/division by zero/) });
    }
    expect(walhook.output()).not.toContain(bed.secret);

    // Trying a filter before saving it: every recent event of the webhook, judged as delivery would judge it.
    const api = graphqlClient(walhook.api, token);
    type Trial = { operation: string; matched: boolean; error: string | null };
    const trials = async (filter: string) =>
      (
        await api.data<{ tryFilter: Trial[] }>(
          'query ($id: ID!, $filter: String) { tryFilter(webhookId: $id, filter: $filter) { operation matched error } }',
          { id: ids.everything, filter },
        )
      ).tryFilter;
    const berlin = await trials('operation == "person.updated" && record.city == "Berlin"');
    expect(berlin).toHaveLength(7);
    expect(berlin.filter((trial) => trial.matched)).toHaveLength(2);
    const failing = await trials('100 / (int(record.position) - 3) != 0');
    expect(failing.filter((trial) => trial.error !== null).map((trial) => trial.error)).toEqual([
      expect.stringMatching(/division by zero/),
      expect.stringMatching(/division by zero/),
    ]);
    const refused = await api.request('query ($id: ID!) { tryFilter(webhookId: $id, filter: "record.city ==") { matched } }', { id: ids.everything });
    expect(refused.errors?.[0]).toMatchObject({ message: expect.stringMatching(/^filter: .*not valid CEL/), extensions: { code: 'BAD_USER_INPUT', field: 'filter' } });
  });

  it('refuses to start on a filter that does not compile, naming the key', async () => {
    const receiver = await bed.receiver();
    const setup = bed.setup({ webhooks: [{ targetUrl: receiver.url, filter: 'record.city ==' }] });
    await expect(instances.start(setup.file)).rejects.toThrow(/webhooks\[0\]\.filter.*is not valid CEL/s);
  });
});
