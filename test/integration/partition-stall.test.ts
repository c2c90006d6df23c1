/**
 * The stall watchdog watches each partition on its own. With two partitions
 * in one process, the walsender of one goes silent (SIGSTOP) while the other
 * partition's deliveries are held by a slow receiver: those in-flight
 * deliveries belong to the other stream and will never move the silent one,
 * so the silent partition must still be found stalled and reconnected. But
 * when the held deliveries pass the memory budget, flow control pauses every
 * stream until they settle: then the paused partition is waiting for them,
 * not stalled. Each ends with a liveness probe: fresh rows in both partitions
 * arrive and walhook is ready.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { silenceWalsender, useCrmTestBed, waitForSlotStreamed } from '../harness/crm.js';
import { probe, scrapeMetrics } from '../harness/operations.js';
import { waitFor, type ReceivedRequest } from '../harness/receiver.js';
import { createPersonWorkspaces, workspacesPerPartition } from '../harness/workspaces.js';
import type { TestDatabase } from '../harness/database.js';

const PARTITIONS = 2;
/** One workspace per partition: the first is in partition 0, the second in partition 1. */
const [SILENT_SCHEMA, HELD_SCHEMA] = workspacesPerPartition('workspace_stall', PARTITIONS, 1) as [string, string];

const bed = useCrmTestBed('partition_stall', (db) => createPersonWorkspaces(db, [SILENT_SCHEMA, HELD_SCHEMA]));

const rowIdOf = (request: ReceivedRequest) => (request.json.record as { id: string }).id;

/** Inserts `count` persons with ids chosen here (known before their deliveries can arrive). */
async function insertInto(db: TestDatabase, schema: string, count: number): Promise<string[]> {
  const ids = Array.from({ length: count }, () => randomUUID());
  for (const id of ids) await db.sql(`INSERT INTO ${schema}.person (id, "nameFirstName") VALUES ($1, 'Person')`, [id]);
  return ids;
}

/** One walhook on two partitions, and a receiver that answers the rows `hold` names only once `release` is called. */
async function twoPartitions(overrides: { delivery?: Record<string, unknown> } = {}) {
  const held = new Set<string>();
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const hooks = await bed.receiver((request) => (held.has(rowIdOf(request)) ? { status: 200, heldUntil: released } : { status: 200 }));
  const setup = bed.setup({ webhooks: [{ targetUrl: hooks.url }], source: { partitions: PARTITIONS, stallTimeout: '2s' }, ...overrides });
  const daemon = await bed.walhook(setup);
  const api = `http://127.0.0.1:${String(daemon.logs.find((line) => line.msg === 'HTTP API listening')?.port)}`;
  const { db } = bed;
  const [silentSlot, heldSlot] = [`${setup.slot}_p0`, `${setup.slot}_p1`];
  await waitForSlotStreamed(db, silentSlot);
  await waitForSlotStreamed(db, heldSlot);
  const ids = () => new Set(hooks.verified().map(rowIdOf));
  const warmUp = [...(await insertInto(db, SILENT_SCHEMA, 1)), ...(await insertInto(db, HELD_SCHEMA, 1))];
  await waitFor(() => warmUp.every((id) => ids().has(id)), 'a first person in each partition');
  const watchdogLines = (slot: string) => daemon.logs.filter((line) => line.component === 'watchdog' && line.slot === slot);

  /** Writes `count` persons into the held partition, whose deliveries the receiver holds, and waits for `arrived` of them to be sent. */
  const holdDeliveries = async (count: number, arrived: number) => {
    const heldIds = Array.from({ length: count }, () => randomUUID());
    heldIds.forEach((id) => held.add(id));
    for (const id of heldIds) await db.sql(`INSERT INTO ${HELD_SCHEMA}.person (id, "nameFirstName") VALUES ($1, 'Person')`, [id]);
    await waitFor(() => hooks.requests.filter((request) => held.has(rowIdOf(request))).length >= arrived, `${arrived} of the held partition’s requests to reach the receiver`);
    return heldIds;
  };

  /** Releases the held deliveries; then every row arrives, fresh ones in both partitions too, and walhook is ready. */
  const releaseAndProbe = async (expected: string[]) => {
    release();
    await waitFor(() => expected.every((id) => ids().has(id)), () => `every row written (received ${expected.filter((id) => ids().has(id)).length} of ${expected.length})`, 60_000);
    const fresh = [...(await insertInto(db, SILENT_SCHEMA, 1)), ...(await insertInto(db, HELD_SCHEMA, 1))];
    await waitFor(() => fresh.every((id) => ids().has(id)), 'a person written after the recovery in each partition', 30_000);
    await waitFor(async () => (await probe(api, '/readyz')).status === 200, 'walhook to be ready again', 30_000);
  };
  return { db, daemon, api, ids, silentSlot, heldSlot, watchdogLines, holdDeliveries, releaseAndProbe };
}

describe('the stall watchdog with two partitions', () => {
  it('finds a silent walsender stalled and reconnects it although the other partition has deliveries in flight', async () => {
    const { db, daemon, ids, silentSlot, heldSlot, watchdogLines, holdDeliveries, releaseAndProbe } = await twoPartitions();
    const heldIds = await holdDeliveries(3, 3);

    const { resume } = await silenceWalsender(db, silentSlot);
    let during: string[] = [];
    try {
      during = await insertInto(db, SILENT_SCHEMA, 5);
      await waitFor(
        () => watchdogLines(silentSlot).some((line) => line.msg === 'the stream is still stalled; reconnecting'),
        () => `the watchdog to reconnect ${silentSlot} (watchdog lines: ${JSON.stringify(daemon.logs.filter((line) => line.component === 'watchdog'))})`,
        30_000,
      );
      expect(watchdogLines(heldSlot), 'the held partition is not stalled').toEqual([]);
      resume();
      await waitFor(() => during.every((id) => ids().has(id)), 'the persons written while the walsender was stopped', 60_000);
    } finally {
      resume();
    }
    await releaseAndProbe([...heldIds, ...during]);
  }, 180_000);

  it('does not take a stream paused by flow control for the other partition’s deliveries for a stalled one', async () => {
    // A few hundred bytes a body: thirty held deliveries pass a 4 KB budget, and every stream pauses until half settle.
    const { db, api, silentSlot, heldSlot, watchdogLines, holdDeliveries, releaseAndProbe } = await twoPartitions({ delivery: { maxInMemoryBytes: '4KB' } });
    const heldIds = await holdDeliveries(30, 4);
    const paused = async () => (await scrapeMetrics(api)).samples.some((sample) => sample.name === 'walhook_stream_paused' && sample.value === 1);
    await waitFor(paused, 'reading to pause over the memory budget');

    const waiting = await insertInto(db, SILENT_SCHEMA, 5);
    // Three stall timeouts: a stall would be reported after one and reconnected after two.
    await new Promise((resolve) => setTimeout(resolve, 6_000));
    expect(await paused(), 'still paused for the held deliveries').toBe(true);
    expect(watchdogLines(silentSlot), 'the paused partition is waiting for the budget, not stalled').toEqual([]);
    expect(watchdogLines(heldSlot)).toEqual([]);
    await releaseAndProbe([...heldIds, ...waiting]);
  }, 180_000);
});
