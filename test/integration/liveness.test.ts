/**
 * The stream keeps moving after faults that leave nothing to reconnect: a
 * receiver outage that sends thousands of deliveries to the state table, then
 * a burst while the retry worker drains them. Fresh rows written afterwards
 * must arrive, and the slot must reach the WAL end.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { currentWalLsn, insertPersons, silenceWalsender, useCrmTestBed, waitForSlotAt } from '../harness/crm.js';
import { probe, scrapeMetrics, type Probe } from '../harness/operations.js';
import { waitFor } from '../harness/receiver.js';

const bed = useCrmTestBed('liveness');

function rowIdOf(body: Record<string, unknown>): string {
  return (body.record as { id: string }).id;
}

describe('receiver outage, then a burst during recovery', () => {
  it('keeps streaming: the backlog, the burst and fresh rows all arrive, and the slot reaches the WAL end', async () => {
    let failing = true;
    const hooks = await bed.receiver(() => (failing ? { status: 503 } : { status: 200 }));
    const webhookId = randomUUID();
    const setup = bed.setup({
      webhooks: [{ id: webhookId, targetUrl: hooks.url }],
      delivery: { retrySchedule: ['200ms', '500ms', '1s', '2s', '5s', '10s'], retryPollInterval: '100ms' },
    });
    await bed.walhook(setup);
    const { db } = bed;
    const stored = async () => {
      const [row] = await db.sql<{ count: number }>(`SELECT count(*)::int AS count FROM ${setup.stateSchema}.deliveries`);
      return row?.count ?? 0;
    };

    const outage = await insertPersons(db, 2_500, 1);
    await waitFor(async () => (await stored()) >= outage.length, `the ${outage.length} deliveries of the outage in the state table`, 60_000, 200);
    failing = false;
    const burst = await insertPersons(db, 3_000, 10_001);
    const received = new Set<string>();
    let read = 0;
    const delivered = () => {
      const verified = hooks.verified();
      for (; read < verified.length; read++) received.add(rowIdOf(verified[read]!.json));
      return received;
    };
    await waitFor(() => burst.some((person) => delivered().has(person.id)), 'the first delivery of the burst', 180_000, 200);

    const fresh = await insertPersons(db, 10, 20_001);
    const everyone = [...outage, ...burst, ...fresh];
    await waitFor(
      () => everyone.every((person) => delivered().has(person.id)),
      () => `every person of the outage, the burst and the fresh batch (received ${delivered().size} of ${everyone.length})`,
      180_000,
      250,
    );
    const walEnd = await currentWalLsn(db);
    await waitForSlotAt(db, setup.slot, walEnd, 'the slot to be confirmed up to the WAL end', 30_000);
    expect(hooks.verified().every((request) => request.verificationError === null)).toBe(true);
  }, 360_000);
});

describe('a walsender that goes silent (SIGSTOP: a hung server process or a dead network path)', () => {
  it('is found stalled by the watchdog, reported on /readyz and /metrics, and recovered by reconnecting', async () => {
    const hooks = await bed.receiver();
    const setup = bed.setup({ webhooks: [{ id: randomUUID(), targetUrl: hooks.url }], source: { stallTimeout: '2s' } });
    const daemon = await bed.walhook(setup);
    const api = `http://127.0.0.1:${String(daemon.logs.find((line) => line.msg === 'HTTP API listening')?.port)}`;
    const { db } = bed;
    const ids = () => new Set(hooks.verified().map((request) => rowIdOf(request.json)));
    const [first] = await insertPersons(db, 1, 1);
    await waitFor(() => ids().has(first!.id), 'the first person');
    await waitFor(async () => (await probe(api, '/readyz')).status === 200, 'walhook to be ready');

    const { resume } = await silenceWalsender(db, setup.slot);
    let stalled: Probe | null = null;
    try {
      const during = await insertPersons(db, 5, 2);
      await waitFor(
        async () => {
          const readiness = await probe(api, '/readyz');
          if (readiness.status === 503 && readiness.body.problems?.some((problem) => problem.includes('stream is stalled'))) stalled = readiness;
          return stalled !== null;
        },
        '/readyz to report the stalled stream',
        30_000,
        200,
      );
      const metrics = await scrapeMetrics(api);
      expect(metrics.samples.find((sample) => sample.name === 'walhook_stream_stalled')?.value).toBe(1);
      await waitFor(
        () => daemon.logs.some((line) => line.msg === 'the stream is still stalled; reconnecting'),
        'the watchdog to reconnect',
        30_000,
      );
      resume();
      await waitFor(() => during.every((person) => ids().has(person.id)), 'the persons written while the walsender was stopped', 60_000);
    } finally {
      resume();
    }
    const [fresh] = await insertPersons(db, 1, 10);
    await waitFor(() => ids().has(fresh!.id), 'a person written after the recovery', 30_000);
    await waitFor(async () => (await probe(api, '/readyz')).status === 200, 'walhook to be ready again', 30_000);
    expect((await scrapeMetrics(api)).samples.find((sample) => sample.name === 'walhook_stream_stalled')?.value).toBe(0);
    expect(stalled).not.toBeNull();
  }, 180_000);
});
