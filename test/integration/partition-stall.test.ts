/**
 * The stall watchdog watches each partition on its own. With two partitions
 * in one process, the walsender of one goes silent (SIGSTOP) while the other
 * partition's deliveries are held by a slow receiver: those in-flight
 * deliveries belong to the other stream and will never move the silent one,
 * so the silent partition must still be found stalled and reconnected. It
 * ends with a liveness probe: fresh rows in both partitions arrive and
 * walhook is ready.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { silenceWalsender, useCrmTestBed, waitForSlotStreamed } from '../harness/crm.js';
import { probe } from '../harness/operations.js';
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

describe('a silent walsender beside another partition busy delivering', () => {
  it('is found stalled and reconnected although the other partition has deliveries in flight', async () => {
    const held = new Set<string>();
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const hooks = await bed.receiver((request) => (held.has(rowIdOf(request)) ? { status: 200, heldUntil: released } : { status: 200 }));
    const setup = bed.setup({ webhooks: [{ targetUrl: hooks.url }], source: { partitions: PARTITIONS, stallTimeout: '2s' } });
    const daemon = await bed.walhook(setup);
    const api = `http://127.0.0.1:${String(daemon.logs.find((line) => line.msg === 'HTTP API listening')?.port)}`;
    const { db } = bed;
    const [silentSlot, heldSlot] = [`${setup.slot}_p0`, `${setup.slot}_p1`];
    await waitForSlotStreamed(db, silentSlot);
    await waitForSlotStreamed(db, heldSlot);
    const ids = () => new Set(hooks.verified().map(rowIdOf));
    const warmUp = [...(await insertInto(db, SILENT_SCHEMA, 1)), ...(await insertInto(db, HELD_SCHEMA, 1))];
    await waitFor(() => warmUp.every((id) => ids().has(id)), 'a first person in each partition');

    const heldIds = Array.from({ length: 3 }, () => randomUUID());
    heldIds.forEach((id) => held.add(id));
    for (const id of heldIds) await db.sql(`INSERT INTO ${HELD_SCHEMA}.person (id, "nameFirstName") VALUES ($1, 'Person')`, [id]);
    await waitFor(() => heldIds.every((id) => hooks.requests.some((request) => rowIdOf(request) === id)), 'the held partition’s three requests to reach the receiver');

    const { resume } = await silenceWalsender(db, silentSlot);
    try {
      const during = await insertInto(db, SILENT_SCHEMA, 5);
      await waitFor(
        () => daemon.logs.some((line) => line.msg === 'the stream is still stalled; reconnecting' && line.slot === silentSlot),
        () => `the watchdog to reconnect ${silentSlot} (watchdog lines: ${JSON.stringify(daemon.logs.filter((line) => line.component === 'watchdog'))})`,
        30_000,
      );
      expect(daemon.logs.some((line) => line.component === 'watchdog' && line.slot === heldSlot), 'the held partition is not stalled').toBe(false);
      resume();
      await waitFor(() => during.every((id) => ids().has(id)), 'the persons written while the walsender was stopped', 60_000);
    } finally {
      resume();
      release();
    }
    await waitFor(() => heldIds.every((id) => ids().has(id)), 'the held deliveries once answered');
    const fresh = [...(await insertInto(db, SILENT_SCHEMA, 1)), ...(await insertInto(db, HELD_SCHEMA, 1))];
    await waitFor(() => fresh.every((id) => ids().has(id)), 'a person written after the recovery in each partition', 30_000);
    await waitFor(async () => (await probe(api, '/readyz')).status === 200, 'walhook to be ready again', 30_000);
  }, 180_000);
});
