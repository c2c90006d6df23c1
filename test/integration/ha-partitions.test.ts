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
import { describe, expect, it } from 'vitest';
import { partitionOfSchema } from '../../src/common/partitions.js';
import { currentWalLsn, useCrmTestBed, waitForSlotAt } from '../harness/crm.js';
import { probe, scrapeMetrics, useInstances, type Instance } from '../harness/operations.js';
import { waitFor, type ReceivedRequest } from '../harness/receiver.js';
import type { TestDatabase } from '../harness/database.js';

const PARTITIONS = 4;
const TOTAL = 2_000;
const TAKEOVER_LIMIT_MS = 10_000;

/** Two workspaces per partition, found by the hash (checked against PostgreSQL's own SHA-256 below). */
function workspacesPerPartition(): string[] {
  const chosen: string[][] = Array.from({ length: PARTITIONS }, () => []);
  for (let n = 0; chosen.some((schemas) => schemas.length < 2); n++) {
    const schema = `workspace_part${n}`;
    const partition = chosen[partitionOfSchema(schema, PARTITIONS)]!;
    if (partition.length < 2) partition.push(schema);
  }
  return chosen.flat();
}

const WORKSPACES = workspacesPerPartition();

async function createWorkspaces(db: TestDatabase): Promise<void> {
  for (const schema of WORKSPACES) {
    await db.sql(`CREATE SCHEMA ${schema}`);
    await db.sql(`CREATE TABLE ${schema}.person (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), "nameFirstName" text, position int, "deletedAt" timestamptz)`);
    await db.sql(`ALTER TABLE ${schema}.person REPLICA IDENTITY FULL`);
  }
}

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

/** The pid streaming each partition's slot (null when none), by partition. */
async function slotReaders(db: TestDatabase, slot: string): Promise<(number | null)[]> {
  const rows = await db.sql<{ slot_name: string; pid: number | null }>(
    `SELECT slot_name, active_pid AS pid FROM pg_replication_slots WHERE slot_name LIKE $1 || '\\_p%'`,
    [slot],
  );
  return Array.from({ length: PARTITIONS }, (_, index) => rows.find((row) => row.slot_name === `${slot}_p${index}`)?.pid ?? null);
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
    const balanced = async (pair: Instance[]) => {
      const led = await Promise.all(pair.map(ledBy));
      return led.every((partitions) => partitions.length === 2) && new Set(led.flat()).size === PARTITIONS;
    };
    await waitFor(() => balanced([first, second]), 'each replica to lead two partitions', 30_000);

    // Throughout: no partition led by two instances alive, and every slot read by one walsender at most.
    let alive = [first, second];
    const overlaps: string[] = [];
    let watching = true;
    const watch = (async () => {
      while (watching) {
        const led = await Promise.all(alive.map(ledBy)).catch(() => []);
        const all = led.flat();
        if (new Set(all).size !== all.length) overlaps.push(JSON.stringify(led));
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();

    const inserted: Inserted[] = [];
    try {
      // Led is not yet streamed: the partitions handed over may still be preparing on the replica that took them.
      await waitFor(async () => (await slotReaders(bed.db, setup.slot)).every((pid) => pid !== null), 'every partition to be streamed after the balance');
      const readersBefore = await slotReaders(bed.db, setup.slot);
      const firstLed = await ledBy(first);
      const inserting = insertRoundRobin(bed.db, TOTAL, 0, (row) => inserted.push(row));
      await waitFor(() => hooks.requests.length >= TOTAL / 3, 'a third of the changes to arrive', 90_000, 10);

      alive = [second];
      const killedAt = Date.now();
      await first.kill9();
      const deliveredBeforeKill = new Set(hooks.requests.map(rowIdOf)).size;
      await waitFor(async () => (await ledBy(second)).length === PARTITIONS, 'the survivor to lead all four partitions', TAKEOVER_LIMIT_MS + 5_000, 20);
      await waitFor(
        () => firstLed.every((partition) => second.logs.some((line) => line.msg === 'replication streaming' && line.partition === partition && Date.parse(String(line.time)) > killedAt)),
        () => `the survivor to stream partitions ${firstLed.join(', ')}`,
        TAKEOVER_LIMIT_MS + 5_000,
        20,
      );
      const streamedAt = firstLed.map((partition) =>
        Math.min(...second.logs.filter((line) => line.msg === 'replication streaming' && line.partition === partition).map((line) => Date.parse(String(line.time))).filter((time) => time > killedAt)),
      );
      const takeoverMs = Math.max(...streamedAt) - killedAt;
      console.log(`takeover of partitions ${firstLed.join(', ')}: ${takeoverMs} ms after kill -9 (${deliveredBeforeKill} of ${TOTAL} changes delivered before)`);
      expect(takeoverMs).toBeLessThan(TAKEOVER_LIMIT_MS);
      expect(deliveredBeforeKill).toBeLessThan(TOTAL);
      await waitFor(async () => (await slotReaders(bed.db, setup.slot)).every((pid) => pid !== null), 'every partition to be streamed after the takeover');
      const readersAfter = await slotReaders(bed.db, setup.slot);
      for (const partition of firstLed) expect(readersAfter[partition]).not.toBe(readersBefore[partition]);
      await inserting;

      // The killed replica comes back: the balance gives it two partitions again.
      const restarted = await instances.start(setup.file);
      alive = [second, restarted];
      await waitFor(() => balanced([second, restarted]), 'the restarted replica to get two partitions back', 30_000);
    } finally {
      watching = false;
      await watch;
    }
    expect(overlaps).toEqual([]);

    expect(inserted.length).toBe(TOTAL);
    const missing = () => {
      const delivered = new Set(hooks.requests.map(rowIdOf));
      return inserted.filter((row) => !delivered.has(row.id));
    };
    await waitFor(() => missing().length === 0, () => `every change to arrive (${missing().length} of ${TOTAL} still missing)`, 120_000);
    // A change delivered twice (streamed again after the kill) carries the same event id both times.
    const eventIds = new Map<string, Set<string>>();
    for (const request of hooks.requests) eventIds.set(rowIdOf(request), (eventIds.get(rowIdOf(request)) ?? new Set()).add(eventIdOf(request)));
    expect([...eventIds.values()].filter((ids) => ids.size !== 1)).toEqual([]);
    expect(hooks.verified()).toHaveLength(hooks.requests.length);

    // Liveness: fresh rows in every workspace arrive, every partition's slot reaches the WAL end, both replicas are ready.
    const fresh: Inserted[] = [];
    await insertRoundRobin(bed.db, WORKSPACES.length * 3, TOTAL, (row) => fresh.push(row));
    await waitFor(() => fresh.every((row) => hooks.requests.some((request) => rowIdOf(request) === row.id)), 'the rows written after the takeover to arrive');
    const end = await currentWalLsn(bed.db);
    for (let partition = 0; partition < PARTITIONS; partition++) {
      await waitForSlotAt(bed.db, `${setup.slot}_p${partition}`, end, `partition ${partition}'s slot to reach the WAL end`, 30_000);
    }
    const [, restarted] = alive;
    for (const instance of [second, restarted!]) {
      await waitFor(async () => (await probe(instance.api, '/readyz')).status === 200, 'both replicas to be ready');
      expect((await probe(instance.api, '/readyz')).body).toMatchObject({ status: 'ready', role: 'leader' });
    }
  });
});
