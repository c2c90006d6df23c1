/**
 * Streaming partitioned over replicas: source.partitions 4, two `walhook
 * start` processes with the same config on a real PostgreSQL, eight
 * workspaces spread over the four partitions by the documented hash. Each
 * replica leads two partitions; the one leading is killed with SIGKILL under
 * a steady stream of single-row inserts into every workspace, and the other
 * must lead all four within 10 s; restarted, the killed one gets two back.
 * Every change arrives (duplicates allowed, losses not) with the same event
 * id each time, and no partition is ever led by two instances at once. It
 * ends with a liveness probe: fresh rows arrive, every slot reaches the WAL
 * end, both replicas are ready.
 */
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { partitionOfSchema } from '../../src/common/partitions.js';
import { currentWalLsn, useCrmTestBed, waitForSlotAt } from '../harness/crm.js';
import { probe, scrapeMetrics, useInstances, type Instance } from '../harness/operations.js';
import { waitFor, type ReceivedRequest } from '../harness/receiver.js';
import { createPersonWorkspaces, workspacesPerPartition } from '../harness/workspaces.js';
import type { TestDatabase } from '../harness/database.js';

const PARTITIONS = 4;
const TOTAL = 2_000;
const TAKEOVER_LIMIT_MS = 10_000;

const WORKSPACES = workspacesPerPartition('workspace_part', PARTITIONS);
const createWorkspaces = (db: TestDatabase) => createPersonWorkspaces(db, WORKSPACES);

const bed = useCrmTestBed('ha_partitions', createWorkspaces);
const instances = useInstances();

interface Inserted {
  id: string;
  schema: string;
}

/** Inserts `count` persons one transaction each, round-robin over the workspaces. */
async function insertRoundRobin(db: TestDatabase, count: number, from: number, inserted: (row: Inserted) => void): Promise<void> {
  for (let index = from; index < from + count; index++) {
    const schema = WORKSPACES[index % WORKSPACES.length]!;
    const [row] = await db.sql<{ id: string }>(`INSERT INTO ${schema}.person ("nameFirstName", position) VALUES ('Person', $1) RETURNING id`, [index]);
    inserted({ id: row!.id, schema });
  }
}

const rowIdOf = (request: ReceivedRequest) => (request.json.record as { id: string }).id;
const eventIdOf = (request: ReceivedRequest) => request.json.id as string;

/** Which partitions each instance says it streams (walhook_partition_leader). */
async function ledBy(instance: Instance): Promise<number[]> {
  const metrics = await scrapeMetrics(instance.api);
  return metrics.samples
    .filter((sample) => sample.name === 'walhook_partition_leader' && sample.value === 1)
    .map((sample) => Number(sample.labels.partition))
    .sort();
}

/** Each partition slot's walsender and its application_name (`walhook p<k> <holder>`), as the server shows them. */
async function slotWalsenders(db: TestDatabase, slot: string): Promise<{ slot: string; pid: number; name: string }[]> {
  return db.sql<{ slot: string; pid: number; name: string }>(
    `SELECT s.slot_name AS slot, s.active_pid AS pid, coalesce(a.application_name, '') AS name
       FROM pg_replication_slots s LEFT JOIN pg_stat_activity a ON a.pid = s.active_pid
      WHERE s.slot_name LIKE $1 || '\\_p%' AND s.active_pid IS NOT NULL`,
    [slot],
  );
}

/** The holder name an instance leads under, from its log. */
function holderOf(instance: Instance): string {
  const line = instance.logs.find((entry) => entry.msg === 'leader: holding the slot lease');
  if (typeof line?.holder !== 'string') throw new Error('the instance never logged holding a lease');
  return line.holder;
}

/** The pid streaming each partition's slot (null when none), by partition. */
async function slotReaders(db: TestDatabase, slot: string): Promise<(number | null)[]> {
  const rows = await db.sql<{ slot_name: string; pid: number | null }>(
    `SELECT slot_name, active_pid AS pid FROM pg_replication_slots WHERE slot_name LIKE $1 || '\\_p%'`,
    [slot],
  );
  return Array.from({ length: PARTITIONS }, (_, index) => rows.find((row) => row.slot_name === `${slot}_p${index}`)?.pid ?? null);
}

/** How many partitions each instance leads, and whether every partition is led by exactly one of them. */
async function distribution(group: Instance[]): Promise<{ counts: number[]; covered: boolean }> {
  const led = await Promise.all(group.map(ledBy));
  const all = led.flat();
  return { counts: led.map((partitions) => partitions.length), covered: new Set(all).size === PARTITIONS && all.length === PARTITIONS };
}

/** Every partition's slot read by the walsender of the instance of `group` that says it leads the partition. */
async function streamedByLeaders(slot: string, group: Instance[]): Promise<boolean> {
  const [led, walsenders] = await Promise.all([Promise.all(group.map(ledBy)), slotWalsenders(bed.db, slot)]);
  return Array.from({ length: PARTITIONS }, (_, partition) => partition).every((partition) => {
    const leader = group.find((_, index) => led[index]!.includes(partition));
    return leader !== undefined && walsenders.some((walsender) => walsender.slot === `${slot}_p${partition}` && walsender.name === `walhook p${partition} ${holderOf(leader)}`);
  });
}

/**
 * Watches until stopped, every 50 ms: no partition led by two of the instances alive (their metrics), and
 * which replica's walsender reads each slot (pg_replication_slots.active_pid's application_name), in order.
 */
function auditPartitions(slot: string, alive: () => Instance[]) {
  const overlaps: string[] = [];
  const wrongNames: string[] = [];
  const readers = new Map<number, string[]>();
  let watching = true;
  const watch = (async () => {
    while (watching) {
      // An instance being killed may not answer this round.
      const led = await Promise.all(alive().map(ledBy)).catch(() => []);
      const all = led.flat();
      if (new Set(all).size !== all.length) overlaps.push(JSON.stringify(led));
      for (const walsender of await slotWalsenders(bed.db, slot)) {
        const partition = Number(walsender.slot.slice(slot.length + 2));
        const prefix = `walhook p${partition} `;
        if (!walsender.name.startsWith(prefix)) wrongNames.push(`${walsender.slot}: ${walsender.name}`);
        const holders = readers.get(partition) ?? [];
        const holder = walsender.name.slice(prefix.length);
        if (holders.at(-1) !== holder) readers.set(partition, [...holders, holder]);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
  return {
    /** Each partition's readers so far, oldest first. */
    readersOf: (partition: number) => readers.get(partition) ?? [],
    async stop(): Promise<{ overlaps: string[]; wrongNames: string[] }> {
      watching = false;
      await watch;
      return { overlaps, wrongNames };
    },
  };
}

/** The liveness probe: fresh rows in every workspace arrive, every partition's slot reaches the WAL end, every instance is ready. */
async function livenessProbe(hooks: { requests: ReceivedRequest[] }, slot: string, group: Instance[], from: number): Promise<void> {
  const fresh: Inserted[] = [];
  await insertRoundRobin(bed.db, WORKSPACES.length * 3, from, (row) => fresh.push(row));
  await waitFor(() => fresh.every((row) => hooks.requests.some((request) => rowIdOf(request) === row.id)), 'the rows written after the fault to arrive');
  const end = await currentWalLsn(bed.db);
  for (let partition = 0; partition < PARTITIONS; partition++) {
    await waitForSlotAt(bed.db, `${slot}_p${partition}`, end, `partition ${partition}'s slot to reach the WAL end`, 30_000);
  }
  for (const instance of group) await waitFor(async () => (await probe(instance.api, '/readyz')).status === 200, 'every replica to be ready');
}

/** The log levels (walhook logs their labels) shown when changes are missing. */
const WARN_OR_WORSE = new Set(['warn', 'error', 'fatal']);
/** Warn+ lines of each instance shown when changes are missing, its last ones. */
const WARNINGS_SHOWN = 30;

/**
 * Why changes are missing, for a failure to be diagnosable from CI's log alone: the partitions and
 * workspaces they belong to, and each instance's partitions led, /readyz body and last warn+ log lines.
 */
async function whyMissing(missing: Inserted[], group: Instance[]): Promise<string> {
  const bySchema = new Map<string, number>();
  for (const row of missing) bySchema.set(row.schema, (bySchema.get(row.schema) ?? 0) + 1);
  const where = [...bySchema]
    .map(([schema, count]) => ({ partition: partitionOfSchema(schema, PARTITIONS), schema, count }))
    .sort((a, b) => a.partition - b.partition || a.schema.localeCompare(b.schema))
    .map(({ partition, schema, count }) => `partition ${partition} ${schema}: ${count}`);
  const instances = await Promise.all(
    group.map(async (instance, index) => {
      const unanswered = (error: unknown) => `no answer (${(error as Error).message})`;
      const readiness = await probe(instance.api, '/readyz').then((answer) => `${answer.status} ${JSON.stringify(answer.body)}`, unanswered);
      const leads = await ledBy(instance).then((partitions) => `[${partitions.join(', ')}]`, unanswered);
      const warnings = instance.logs
        .filter((line) => WARN_OR_WORSE.has(String(line.level)))
        .slice(-WARNINGS_SHOWN)
        // An error's stack says little here and would bury the other lines.
        .map(({ err, ...line }) => `    ${JSON.stringify({ ...line, ...(err !== undefined && { err: (err as { message?: unknown }).message }) })}`);
      return [`instance ${index} (${instance.api}) leads partitions ${leads}; /readyz: ${readiness}`, `  its last warn+ log lines (${warnings.length}):`, ...warnings].join('\n');
    }),
  );
  return [`missing by partition and workspace: ${where.join('; ')}`, ...instances].join('\n');
}

/** Every inserted row delivered, and each change's deliveries (duplicates after a fault) carrying one event id; `group`: the instances alive, described when rows are missing. */
async function everyChangeOnce(hooks: { requests: ReceivedRequest[]; verified(): unknown[] }, inserted: Inserted[], group: Instance[]): Promise<void> {
  const missing = () => {
    const delivered = new Set(hooks.requests.map(rowIdOf));
    return inserted.filter((row) => !delivered.has(row.id));
  };
  await waitFor(
    () => missing().length === 0,
    async () => `every change to arrive (${missing().length} of ${inserted.length} still missing)\n${await whyMissing(missing(), group)}`,
    120_000,
  );
  const eventIds = new Map<string, Set<string>>();
  for (const request of hooks.requests) eventIds.set(rowIdOf(request), (eventIds.get(rowIdOf(request)) ?? new Set()).add(eventIdOf(request)));
  expect([...eventIds.values()].filter((ids) => ids.size !== 1)).toEqual([]);
  expect(hooks.verified()).toHaveLength(hooks.requests.length);
}

describe('four partitions over two replicas', { timeout: 240_000 }, () => {
  it('puts each workspace in the partition PostgreSQL computes from the documented hash, and publishes it only there', async () => {
    const hooks = await bed.receiver();
    const setup = bed.setup({ webhooks: [{ targetUrl: hooks.url }], source: { partitions: PARTITIONS } });
    await instances.start(setup.file, { streaming: true });
    await waitFor(async () => (await slotReaders(bed.db, setup.slot)).every((pid) => pid !== null), 'every partition to be streamed');
    const rows = await bed.db.sql<{ pubname: string; schemaname: string; sql_partition: string }>(
      `SELECT pubname, schemaname, ('x' || left(encode(sha256(convert_to(schemaname, 'UTF8')), 'hex'), 8))::bit(32)::bigint % ${PARTITIONS} AS sql_partition
         FROM pg_publication_tables WHERE pubname LIKE $1 || '\\_p%' AND tablename = 'person'`,
      [setup.slot],
    );
    expect(rows.map((row) => row.schemaname).sort()).toEqual([...WORKSPACES].sort());
    for (const row of rows) expect(row.pubname).toBe(`${setup.slot}_p${row.sql_partition}`);
  });

  it('gives each replica two, hands a killed one’s two to the other within 10 s and two back on its return, and loses nothing', async () => {
    const hooks = await bed.receiver();
    // Retries the killed replica had claimed wait out their lease before the survivor takes them: keep it short.
    const setup = bed.setup({ webhooks: [{ targetUrl: hooks.url }], source: { partitions: PARTITIONS }, delivery: { leaseDuration: '3s' } });
    const first = await instances.start(setup.file, { streaming: true });
    const second = await instances.start(setup.file);
    const balanced = async (group: Instance[]) => {
      const { counts, covered } = await distribution(group);
      return covered && counts.every((count) => count === 2);
    };
    await waitFor(() => balanced([first, second]), 'each replica to lead two partitions', 30_000);
    // Led is not yet streamed: a partition handed over may still be preparing on the replica that took it.
    await waitFor(() => streamedByLeaders(setup.slot, [first, second]), "every partition to be streamed by its leader's walsender");

    let alive = [first, second];
    const audit = auditPartitions(setup.slot, () => alive);
    const inserted: Inserted[] = [];
    const firstLed = await ledBy(first);
    const [firstHolder, secondHolder] = [holderOf(first), holderOf(second)];
    try {
      const inserting = insertRoundRobin(bed.db, TOTAL, 0, (row) => inserted.push(row));
      await waitFor(() => hooks.requests.length >= TOTAL / 3, 'a third of the changes to arrive', 90_000, 10);

      alive = [second];
      const killedAt = Date.now();
      await first.kill9();
      const deliveredBeforeKill = new Set(hooks.requests.map(rowIdOf)).size;
      await waitFor(async () => (await ledBy(second)).length === PARTITIONS, 'the survivor to lead all four partitions', TAKEOVER_LIMIT_MS + 5_000, 20);
      const streamedAfterKill = (partition: number) =>
        second.logs
          .filter((line) => line.msg === 'replication streaming' && line.partition === partition)
          .map((line) => Date.parse(String(line.time)))
          .find((time) => time > killedAt);
      await waitFor(() => firstLed.every((partition) => streamedAfterKill(partition) !== undefined), () => `the survivor to stream partitions ${firstLed.join(', ')}`, TAKEOVER_LIMIT_MS + 5_000, 20);
      const takeoverMs = Math.max(...firstLed.map((partition) => streamedAfterKill(partition)!)) - killedAt;
      console.log(`takeover of partitions ${firstLed.join(', ')}: ${takeoverMs} ms after kill -9 (${deliveredBeforeKill} of ${TOTAL} changes delivered before)`);
      expect(takeoverMs).toBeLessThan(TAKEOVER_LIMIT_MS);
      expect(deliveredBeforeKill).toBeLessThan(TOTAL);
      // Each slot was read by the first replica's walsender, then (its partitions only) by the second's, never back.
      const expectedReaders = (partition: number) => (firstLed.includes(partition) ? [firstHolder, secondHolder] : [secondHolder]);
      const allPartitions = Array.from({ length: PARTITIONS }, (_, partition) => partition);
      await waitFor(
        () => allPartitions.every((partition) => audit.readersOf(partition).at(-1) === secondHolder),
        () => `the survivor's walsender on every slot (seen: ${JSON.stringify(allPartitions.map(audit.readersOf))})`,
      );
      for (const partition of allPartitions) expect(audit.readersOf(partition), `walsenders of partition ${partition}`).toEqual(expectedReaders(partition));
      await inserting;

      // The killed replica comes back: the balance gives it two partitions again.
      const restarted = await instances.start(setup.file);
      alive = [second, restarted];
      await waitFor(() => balanced([second, restarted]), 'the restarted replica to get two partitions back', 30_000);
      await waitFor(() => streamedByLeaders(setup.slot, [second, restarted]), "every partition to be streamed by its leader's walsender again");
    } finally {
      const { overlaps, wrongNames } = await audit.stop();
      expect(overlaps).toEqual([]);
      expect(wrongNames).toEqual([]);
    }
    expect(inserted.length).toBe(TOTAL);
    await everyChangeOnce(hooks, inserted, alive);
    await livenessProbe(hooks, setup.slot, alive, TOTAL);
    for (const instance of alive) expect((await probe(instance.api, '/readyz')).body).toMatchObject({ status: 'ready', role: 'leader' });
  });

  it('takes back within 10 s the partitions it just handed to a replica that dies, without waiting out its rest after the hand-over', async () => {
    const hooks = await bed.receiver();
    const setup = bed.setup({ webhooks: [{ targetUrl: hooks.url }], source: { partitions: PARTITIONS } });
    const first = await instances.start(setup.file, { streaming: true });
    await waitFor(async () => (await ledBy(first)).length === PARTITIONS, 'the first replica to lead all four partitions', 30_000);
    const inserted: Inserted[] = [];
    await insertRoundRobin(bed.db, 200, 0, (row) => inserted.push(row));
    const second = await instances.start(setup.file);
    await waitFor(async () => (await ledBy(second)).length === 2, 'the joining replica to get two partitions', 30_000, 20);
    await waitFor(() => streamedByLeaders(setup.slot, [first, second]), "every partition to be streamed by its leader's walsender");
    const handedOver = await ledBy(second);

    // Killed at once: the first replica handed these over a moment ago and would rest 12 s before trying them again.
    const killedAt = Date.now();
    await second.kill9();
    const writing = insertRoundRobin(bed.db, 200, 200, (row) => inserted.push(row));
    await waitFor(async () => (await ledBy(first)).length === PARTITIONS, 'the first replica to lead all four again', TAKEOVER_LIMIT_MS + 10_000, 20);
    const takeBackMs = Date.now() - killedAt;
    console.log(`take-back of partitions ${handedOver.join(', ')}: ${takeBackMs} ms after kill -9 of the replica they were handed to`);
    expect(takeBackMs).toBeLessThan(TAKEOVER_LIMIT_MS);
    await writing;
    await everyChangeOnce(hooks, inserted, [first]);
    await livenessProbe(hooks, setup.slot, [first], 400);
  });

  it('tries again, after its rest, a partition it took but could not prepare: a failed preparation does not leave the claim held', async () => {
    const hooks = await bed.receiver();
    // No slot and none created: every partition's preparation fails (after its publications are made) and its leader resigns.
    const setup = bed.setup({ webhooks: [{ targetUrl: hooks.url }], source: { partitions: PARTITIONS, createSlot: false } });
    const only = await instances.start(setup.file);
    const resigned = () => only.logs.filter((line) => line.msg === 'leader: resigned the slot lease').length;
    await waitFor(() => resigned() >= PARTITIONS, 'every partition to resign after its preparation failed', 30_000);
    for (let partition = 0; partition < PARTITIONS; partition++) {
      await bed.db.sql(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [`${setup.slot}_p${partition}`]);
    }
    await waitFor(async () => (await slotReaders(bed.db, setup.slot)).every((pid) => pid !== null), 'every partition to be streamed once its slot exists', 40_000);
    const inserted: Inserted[] = [];
    await insertRoundRobin(bed.db, WORKSPACES.length, 0, (row) => inserted.push(row));
    await everyChangeOnce(hooks, inserted, [only]);
  });

  it('rebalances to 2, 1, 1 when a third replica joins under load: one partition moves, once, and nothing is lost', async () => {
    const hooks = await bed.receiver();
    const setup = bed.setup({ webhooks: [{ targetUrl: hooks.url }], source: { partitions: PARTITIONS } });
    const first = await instances.start(setup.file, { streaming: true });
    const second = await instances.start(setup.file);
    await waitFor(async () => {
      const { counts, covered } = await distribution([first, second]);
      return covered && counts.every((count) => count === 2);
    }, 'each of two replicas to lead two partitions', 30_000);
    await waitFor(() => streamedByLeaders(setup.slot, [first, second]), "every partition to be streamed by its leader's walsender");

    let alive = [first, second];
    const audit = auditPartitions(setup.slot, () => alive);
    const inserted: Inserted[] = [];
    const before = await Promise.all([first, second].map(ledBy));
    try {
      const inserting = insertRoundRobin(bed.db, TOTAL, 0, (row) => inserted.push(row));
      await waitFor(() => hooks.requests.length >= TOTAL / 4, 'a quarter of the changes to arrive', 90_000, 10);
      const third = await instances.start(setup.file);
      alive = [first, second, third];
      await waitFor(async () => {
        const { counts, covered } = await distribution(alive);
        return covered && [...counts].sort().join() === '1,1,2';
      }, 'the partitions to spread as 2, 1, 1', 30_000);
      await waitFor(() => streamedByLeaders(setup.slot, alive), "every partition to be streamed by its leader's walsender after the join");
      const after = await Promise.all(alive.map(ledBy));
      // The newcomer took one partition; one of the others gave exactly that one up, the rest stayed where they were.
      expect(after[2]).toHaveLength(1);
      const moved = after[2]![0]!;
      const giver = before.findIndex((partitions) => partitions.includes(moved));
      expect(after[giver]).toEqual(before[giver]!.filter((partition) => partition !== moved));
      expect(after[1 - giver]).toEqual(before[1 - giver]);
      const holders = [first, second, third].map(holderOf);
      await waitFor(() => audit.readersOf(moved).at(-1) === holders[2], "the newcomer's walsender on the moved partition's slot");
      for (let partition = 0; partition < PARTITIONS; partition++) {
        const owner = holders[before.findIndex((partitions) => partitions.includes(partition))]!;
        expect(audit.readersOf(partition), `walsenders of partition ${partition}`).toEqual(partition === moved ? [owner, holders[2]] : [owner]);
      }
      await inserting;
    } finally {
      const { overlaps, wrongNames } = await audit.stop();
      expect(overlaps).toEqual([]);
      expect(wrongNames).toEqual([]);
    }
    await everyChangeOnce(hooks, inserted, alive);
    await livenessProbe(hooks, setup.slot, alive, TOTAL);
  });
  it('a session allowed to lock one partition’s lease stops that partition only, every replica names it, and it resumes when the lock goes', async () => {
    const hooks = await bed.receiver();
    const setup = bed.setup({ webhooks: [{ targetUrl: hooks.url }], source: { partitions: PARTITIONS } });
    const first = await instances.start(setup.file, { streaming: true });
    const second = await instances.start(setup.file);
    const group = [first, second];
    await waitFor(async () => {
      const { counts, covered } = await distribution(group);
      return covered && counts.every((count) => count === 2);
    }, 'each replica to lead two partitions', 30_000);
    await waitFor(() => streamedByLeaders(setup.slot, group), "every partition to be streamed by its leader's walsender");

    const locked = 0;
    const lockedSlot = `${setup.slot}_p${locked}`;
    const owner = new pg.Client(bed.db.url);
    await owner.connect();
    let written = 0;
    const write = async (partition: number) => {
      const rows: Inserted[] = [];
      const schemas = WORKSPACES.filter((schema) => partitionOfSchema(schema, PARTITIONS) === partition);
      for (const schema of schemas) {
        const [row] = await bed.db.sql<{ id: string }>(`INSERT INTO ${schema}.person ("nameFirstName", position) VALUES ('Person', $1) RETURNING id`, [written++]);
        rows.push({ id: row!.id, schema });
      }
      return rows;
    };
    const arrived = (rows: Inserted[]) => rows.every((row) => hooks.requests.some((request) => rowIdOf(request) === row.id));
    let waiting: Inserted[] = [];
    try {
      await owner.query('BEGIN');
      await owner.query(`SELECT * FROM ${setup.stateSchema}.leases WHERE name = $1 FOR UPDATE`, [`slot:${lockedSlot}`]);
      await waitFor(
        () => group.some((instance) => instance.logs.some((line) => line.partition === locked && /lost the slot lease/.test(String(line.msg)))),
        'the leader of the locked partition to stop leading it when it cannot renew',
      );
      waiting = await write(locked);
      const problems = async (instance: Instance) => (await probe(instance.api, '/readyz')).body.problems ?? [];
      const named = new RegExp(`no walhook instance has renewed the leadership lease of slot '${lockedSlot}'`);
      for (const instance of group) {
        await waitFor(async () => (await problems(instance)).some((problem) => named.test(problem)), 'every replica to name the partition nobody streams', 40_000);
        expect((await probe(instance.api, '/readyz')).status).toBe(503);
        const metrics = await scrapeMetrics(instance.api);
        expect(metrics.value('walhook_partition_lease_seconds_since_renewal', { partition: String(locked) })).toBeGreaterThan(15);
        expect(metrics.value('walhook_partition_lease_expired', { partition: String(locked) })).toBe(1);
        for (const partition of [1, 2, 3]) expect(metrics.value('walhook_partition_lease_expired', { partition: String(partition) })).toBe(0);
        // Only that partition: no other slot is named.
        expect((await problems(instance)).filter((problem) => /leadership lease of slot/.test(problem) && !named.test(problem))).toEqual([]);
      }
      // The replica with room to take it says why it cannot.
      const reasons = (await Promise.all(group.map(problems))).flat().join('\n');
      expect(reasons).toMatch(/lock timeout/);
      // The other partitions stream on.
      const others = [...(await write(1)), ...(await write(2)), ...(await write(3))];
      await waitFor(() => arrived(others), 'the changes of the other partitions to arrive while one is locked');
      expect(arrived(waiting)).toBe(false);
    } finally {
      await owner.query('ROLLBACK').catch(() => undefined);
      await owner.end();
    }
    await waitFor(async () => (await distribution(group)).covered, 'every partition to be led again');
    await waitFor(() => arrived(waiting), 'the changes written to the locked partition meanwhile to arrive');
    await livenessProbe(hooks, setup.slot, group, 10_000);
  });
});
