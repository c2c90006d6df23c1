/**
 * Leadership cannot be taken or blocked by a login that has no business with
 * walhook: a role with nothing but LOGIN holds the old advisory locks (of
 * leadership and of migrations) and tries to lock, change and delete the
 * lease; walhook starts, streaming goes on and every instance is truthfully
 * ready. A session that can lock the lease (the
 * owner's) blocks it: leadership stops, and then readiness and the metrics
 * of every instance say so, naming the cause; once released, streaming
 * resumes by itself.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { insertPersonsOneByOne, useCrmTestBed } from '../harness/crm.js';
import { probe, scrapeMetrics, useInstances, type Instance } from '../harness/operations.js';
import { waitFor, type Receiver, type ReceivedRequest } from '../harness/receiver.js';

const bed = useCrmTestBed('ha_rogue');
const instances = useInstances();
const sessions: pg.Client[] = [];
const roles: string[] = [];
afterEach(async () => {
  await Promise.all(sessions.splice(0).map((session) => session.end().catch(() => undefined)));
  for (const role of roles.splice(0)) await bed.db.sql(`DROP ROLE IF EXISTS ${role}`);
});

function rowIdOf(request: ReceivedRequest): string {
  return (request.json.record as { id: string }).id;
}

async function session(url: string): Promise<pg.Client> {
  const client = new pg.Client(url);
  await client.connect();
  sessions.push(client);
  return client;
}

/** Fresh writes reach the receiver. */
async function expectStreaming(hooks: Receiver, from: number): Promise<void> {
  const persons = await insertPersonsOneByOne(bed.db, 10, { from });
  await waitFor(() => persons.every((person) => hooks.requests.some((request) => rowIdOf(request) === person.id)), `persons ${from}.. to arrive`, 30_000);
}

async function leaders(all: Instance[]): Promise<number> {
  const values = await Promise.all(all.map(async (instance) => (await scrapeMetrics(instance.api)).value('walhook_leader') ?? 0));
  return values.reduce((sum, value) => sum + value, 0);
}

describe('who can take or block leadership', { timeout: 120_000 }, () => {
  it('a LOGIN-only role holding the old advisory lock and trying the lease changes nothing', async () => {
    const hooks = await bed.receiver();
    const setup = bed.setup({ webhooks: [{ targetUrl: hooks.url }] });
    const role = `rogue_${randomBytes(4).toString('hex')}`;
    await bed.db.sql(`CREATE ROLE ${role} LOGIN`);
    roles.push(role);
    const rogueUrl = new URL(bed.db.url);
    rogueUrl.username = role;
    rogueUrl.password = '';
    const rogue = await session(rogueUrl.toString());
    // The locks walhook used to lead and to migrate with, taken before any walhook starts.
    const [lock] = (
      await rogue.query(
        `SELECT pg_try_advisory_lock(hashtext('walhook'), hashtext($1)) AND pg_try_advisory_lock(hashtext('walhook.migrate')) AS taken`,
        [setup.slot],
      )
    ).rows;
    expect(lock.taken).toBe(true);

    const first = await instances.start(setup.file, { streaming: true });
    const second = await instances.start(setup.file);
    await expectStreaming(hooks, 1);

    const lease = `${setup.stateSchema}.leases`;
    await rogue.query('BEGIN');
    for (const attempt of [
      `SELECT * FROM ${lease} FOR UPDATE`,
      `LOCK TABLE ${setup.stateSchema}.migrations IN SHARE ROW EXCLUSIVE MODE`,
      `LOCK TABLE ${lease} IN ACCESS EXCLUSIVE MODE`,
      `UPDATE ${lease} SET holder = 'rogue', expires_at = now() + interval '1 day'`,
      `DELETE FROM ${lease}`,
      `INSERT INTO ${lease} (name, holder, term, acquired_at, renewed_at, expires_at) VALUES ('slot:${setup.slot}', 'rogue', 99, now(), now(), now() + interval '1 day')`,
    ]) {
      await rogue.query('SAVEPOINT attempt');
      await expect(rogue.query(attempt), attempt).rejects.toThrow(/permission denied/);
      await rogue.query('ROLLBACK TO SAVEPOINT attempt');
    }

    // The rogue session stays, its transaction open; renewals go on through several lease periods.
    await waitFor(
      () => first.logs.filter((line) => line.msg === 'replication streaming').length === 1 && Date.now() - first.loggedAt('replication streaming')! > 12_000,
      'three lease periods of streaming',
      30_000,
    );
    await expectStreaming(hooks, 11);
    expect(first.logs.some((line) => /lost the slot lease/.test(String(line.msg)))).toBe(false);
    expect(await leaders([first, second])).toBe(1);
    for (const instance of [first, second]) {
      expect((await probe(instance.api, '/readyz')).status).toBe(200);
      expect((await scrapeMetrics(instance.api)).value('walhook_leader_lease_expired')).toBe(0);
    }
  });

  it('a session allowed to lock the lease blocks leadership: every instance says so, and streaming resumes once it lets go', async () => {
    const hooks = await bed.receiver();
    const setup = bed.setup({ webhooks: [{ targetUrl: hooks.url }] });
    const first = await instances.start(setup.file, { streaming: true });
    const second = await instances.start(setup.file);
    await expectStreaming(hooks, 1);

    const owner = await session(bed.db.url);
    await owner.query('BEGIN');
    await owner.query(`SELECT * FROM ${setup.stateSchema}.leases FOR UPDATE`);
    await waitFor(() => first.logs.some((line) => /lost the slot lease/.test(String(line.msg))), 'the leader to stop leading when it cannot renew');
    const problems = async (instance: Instance) => (await probe(instance.api, '/readyz')).body.problems ?? [];
    for (const instance of [first, second]) {
      await waitFor(
        async () => (await problems(instance)).some((problem) => /no walhook instance has renewed the leadership lease/.test(problem)),
        'every instance to report that nobody leads',
        40_000,
      );
      expect((await probe(instance.api, '/readyz')).status).toBe(503);
      expect((await problems(instance)).join('\n')).toMatch(/lock timeout/);
      const metrics = await scrapeMetrics(instance.api);
      expect(metrics.value('walhook_leader')).toBe(0);
      expect(metrics.value('walhook_leader_lease_seconds_since_renewal')).toBeGreaterThan(15);
    }

    await owner.query('ROLLBACK');
    await waitFor(async () => (await leaders([first, second])) === 1, 'one instance to lead again');
    await expectStreaming(hooks, 11);
    for (const instance of [first, second]) await waitFor(async () => (await probe(instance.api, '/readyz')).status === 200, 'every instance ready again');
  });
});
