/**
 * High availability: two `walhook start` processes with the same config (same
 * slot, same state schema) on a real PostgreSQL. One leads and streams, the
 * other stands by; the leader is killed with SIGKILL in the middle of a steady
 * stream of single-row inserts. The standby must take over within 10 s and
 * every change must arrive (duplicates allowed, losses not), with never more
 * than one instance streaming. The leadership lease (6 s) bounds the
 * takeover: the killed leader's walsender ends with its socket, but its
 * lease must run out before the standby may take it.
 */
import { describe, expect, it } from 'vitest';
import { insertPersonsOneByOne, useCrmTestBed, type InsertedPerson } from '../harness/crm.js';
import { scrapeMetrics, useInstances, type Instance } from '../harness/operations.js';
import { waitFor, type ReceivedRequest } from '../harness/receiver.js';

const TOTAL = 3_000;
const TAKEOVER_LIMIT_MS = 10_000;

const bed = useCrmTestBed('ha');
const instances = useInstances();

function rowIdOf(request: ReceivedRequest): string {
  return (request.json.record as { id: string }).id;
}

/** walhook_leader and walhook_replication_connected of each instance still alive. */
async function roles(alive: Instance[]): Promise<{ leader: number; connected: number }[]> {
  return Promise.all(
    alive.map(async (instance) => {
      const metrics = await scrapeMetrics(instance.api);
      return { leader: metrics.value('walhook_leader') ?? NaN, connected: metrics.value('walhook_replication_connected') ?? NaN };
    }),
  );
}

/** The pid streaming the slot, or null. */
async function slotReader(slot: string): Promise<number | null> {
  const [row] = await bed.db.sql<{ pid: number | null }>('SELECT active_pid AS pid FROM pg_replication_slots WHERE slot_name = $1', [slot]);
  return row?.pid ?? null;
}

describe('two instances on one slot', { timeout: 180_000 }, () => {
  it('hands the slot to the standby within 10 s of a kill -9 of the leader, and delivers every change', async () => {
    const hooks = await bed.receiver();
    // Retries the killed leader had claimed wait out their lease before the survivor takes them: keep it short.
    const setup = bed.setup({ webhooks: [{ targetUrl: hooks.url }], delivery: { leaseDuration: '3s' } });
    const first = await instances.start(setup.file, { streaming: true });
    const second = await instances.start(setup.file);
    const persons: InsertedPerson[] = [];

    // Throughout, at most one instance leads and at most one streams (scrapes of the instances alive).
    let alive = [first, second];
    const overlaps: string[] = [];
    let watching = true;
    const watch = (async () => {
      while (watching) {
        // The instance being killed may not answer this round.
        const seen = await roles(alive).catch(() => []);
        const sum = (key: 'leader' | 'connected') => seen.reduce((total, role) => total + role[key], 0);
        if (sum('leader') > 1 || sum('connected') > 1) overlaps.push(JSON.stringify(seen));
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();

    try {
      expect(await roles(alive)).toEqual([
        { leader: 1, connected: 1 },
        { leader: 0, connected: 0 },
      ]);
      const firstReader = await slotReader(setup.slot);
      expect(firstReader).not.toBeNull();

      const inserting = insertPersonsOneByOne(bed.db, TOTAL, { inserted: (person) => persons.push(person) });
      await waitFor(() => hooks.requests.length >= TOTAL / 3, 'a third of the changes to arrive', 90_000, 10);
      // The standby never even tried the slot.
      expect(second.logs.some((line) => /^replication /.test(String(line.msg)))).toBe(false);

      alive = [second];
      const killedAt = Date.now();
      await first.kill9();
      const deliveredBeforeKill = new Set(hooks.requests.map(rowIdOf)).size;
      await waitFor(() => second.loggedAt('replication streaming') !== null, 'the standby to stream', TAKEOVER_LIMIT_MS, 10);
      const takeoverMs = second.loggedAt('replication streaming')! - killedAt;
      console.log(`takeover: ${takeoverMs} ms after kill -9 (${deliveredBeforeKill} of ${TOTAL} changes delivered before)`);
      expect(takeoverMs).toBeLessThan(TAKEOVER_LIMIT_MS);
      expect(deliveredBeforeKill).toBeLessThan(TOTAL);
      expect(await roles(alive)).toEqual([{ leader: 1, connected: 1 }]);
      const secondReader = await slotReader(setup.slot);
      expect(secondReader).not.toBeNull();
      expect(secondReader).not.toBe(firstReader);
      await inserting;
    } finally {
      watching = false;
      await watch;
    }
    expect(overlaps).toEqual([]);

    expect(persons.length).toBe(TOTAL);
    const missing = () => {
      const delivered = new Set(hooks.requests.map(rowIdOf));
      return persons.filter((person) => !delivered.has(person.id));
    };
    await waitFor(() => missing().length === 0, () => `every change to arrive (${missing().length} of ${TOTAL} still missing)`, 90_000);
    expect(hooks.verified()).toHaveLength(hooks.requests.length);
  }, 180_000);

  it('stops the stream of a leader whose lease is taken from it, and one instance streams again', async () => {
    const hooks = await bed.receiver();
    const setup = bed.setup({ webhooks: [{ targetUrl: hooks.url }] });
    const first = await instances.start(setup.file, { streaming: true });
    const second = await instances.start(setup.file);
    const firstReader = await slotReader(setup.slot);

    // Someone with rights on the state schema hands the lease to another holder for a moment.
    const taken = await bed.db.sql(
      `UPDATE ${setup.stateSchema}.leases SET holder = 'someone else', term = term + 1, expires_at = now() + interval '2 seconds' RETURNING term`,
    );
    expect(taken).toHaveLength(1);
    await waitFor(() => first.logs.some((line) => line.msg === 'leader: lost the slot lease (the lease was taken over or ran out); stopped streaming'), 'the leader to step down');
    // Its walsender is gone (whoever leads next opens a new one), and exactly one instance leads again and streams.
    await waitFor(async () => (await slotReader(setup.slot)) !== firstReader, 'the old stream to end');
    await waitFor(async () => {
      const seen = await roles([first, second]);
      return seen.filter((role) => role.leader === 1 && role.connected === 1).length === 1 && seen.every((role) => role.leader === role.connected);
    }, 'one instance to lead and stream again');

    const persons = await insertPersonsOneByOne(bed.db, 20);
    await waitFor(() => persons.every((person) => hooks.requests.some((request) => rowIdOf(request) === person.id)), 'the changes made after');
  });
});
