/**
 * `walhook repartition`: source.partitions changed from 1 to 4 and back
 * while a writer keeps inserting rows into eight workspaces (two per
 * partition of 4, by the documented hash) and no walhook replica runs
 * between the steps. Every row arrives at least once, a row delivered twice
 * carries the same event id, the old slots and publications are gone, and it
 * ends with a liveness probe. Plus what it refuses: a replica still running,
 * layouts sharing slot names, the same N; and a drain that fails drops the
 * new layout again, and so does one interrupted with Ctrl-C.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { currentWalLsn, useCrmTestBed, waitForSlotAt, type WalhookSetup } from '../harness/crm.js';
import { CLI } from '../harness/daemon.js';
import type { TestDatabase } from '../harness/database.js';
import { probe, useInstances, withConfig } from '../harness/operations.js';
import { waitFor, type ReceivedRequest } from '../harness/receiver.js';
import { createPersonWorkspaces, workspacesPerPartition } from '../harness/workspaces.js';

const PARTITIONS = 4;

const WORKSPACES = workspacesPerPartition('workspace_rep', PARTITIONS);
const createWorkspaces = (db: TestDatabase) => createPersonWorkspaces(db, WORKSPACES);

const bed = useCrmTestBed('repartition', createWorkspaces);
const instances = useInstances();

interface Cli {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `walhook <args>` to its end; `started` sees the child process and its output so far. */
function walhook(args: string[], started?: (child: ChildProcess, output: () => string) => void): Promise<Cli> {
  const child = spawn(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  started?.(child, () => stderr);
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr })));
}

const repartition = (setup: WalhookSetup, partitions: number, ...extra: string[]) =>
  walhook(['repartition', '--partitions', String(partitions), '--config', setup.file, ...extra]);

/**
 * Inserts one person per transaction, round-robin over the workspaces, every few ms until stopped or
 * `limit` rows (a bound, so a failed test never leaves it writing).
 */
function startWriter(db: TestDatabase, limit: number) {
  const inserted: string[] = [];
  let running = true;
  const done = (async () => {
    for (let index = 0; running && index < limit; index++) {
      const schema = WORKSPACES[index % WORKSPACES.length]!;
      const [row] = await db.sql<{ id: string }>(`INSERT INTO ${schema}.person ("nameFirstName", position) VALUES ('Person', $1) RETURNING id`, [index]);
      inserted.push(row!.id);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  })();
  return {
    inserted,
    async stop(): Promise<string[]> {
      running = false;
      await done;
      return inserted;
    },
  };
}

/** `count` more rows, one transaction each, on parallel connections: a backlog in the slots while no replica runs. */
async function burst(db: TestDatabase, count: number, inserted: string[]): Promise<void> {
  const lanes = 3;
  await Promise.all(
    Array.from({ length: lanes }, async (_, lane) => {
      for (let index = lane; index < count; index += lanes) {
        const schema = WORKSPACES[index % WORKSPACES.length]!;
        const [row] = await db.sql<{ id: string }>(`INSERT INTO ${schema}.person ("nameFirstName", position) VALUES ('Burst', $1) RETURNING id`, [index]);
        inserted.push(row!.id);
      }
    }),
  );
}

const rowIdOf = (request: ReceivedRequest) => (request.json.record as { id: string }).id;
const eventIdOf = (request: ReceivedRequest) => request.json.id as string;

async function slotsLike(db: TestDatabase, slot: string): Promise<string[]> {
  const rows = await db.sql<{ slot_name: string }>(`SELECT slot_name FROM pg_replication_slots WHERE slot_name = $1 OR slot_name LIKE $1 || '\\_p%' ORDER BY 1`, [slot]);
  return rows.map((row) => row.slot_name);
}

async function publicationsLike(db: TestDatabase, publication: string): Promise<string[]> {
  const rows = await db.sql<{ pubname: string }>(`SELECT pubname FROM pg_publication WHERE pubname LIKE $1 || '%' ORDER BY 1`, [publication]);
  return rows.map((row) => row.pubname);
}

const partitionSlots = (slot: string, count: number) => Array.from({ length: count }, (_, k) => `${slot}_p${k}`);

describe('walhook repartition', { timeout: 300_000 }, () => {
  it('goes from 1 to 4 partitions and back while the CRM writes, and loses nothing', async () => {
    const hooks = await bed.receiver();
    const one = bed.setup({ webhooks: [{ targetUrl: hooks.url }] });
    const four = withConfig(one, { source: { partitions: PARTITIONS } });
    const arrived = (count: number) => waitFor(() => new Set(hooks.requests.map(rowIdOf)).size >= count, `${count} rows to arrive`, 60_000);

    // The first start creates the slot: rows written before it are never streamed, so writing starts after.
    let walhookOne = await instances.start(one.file, { streaming: true });
    const writer = startWriter(bed.db, 30_000);
    await arrived(50);
    expect(await walhookOne.stop()).toBe(0);
    // A backlog the drain must work through: stopped too early, the old slot would take rows with it.
    await burst(bed.db, 2_000, writer.inserted);

    const toFour = await repartition(one, PARTITIONS);
    expect(toFour.stderr).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
    expect(toFour.code, toFour.stderr).toBe(0);
    expect(toFour.stdout).toContain(`set source.partitions: ${PARTITIONS}`);
    expect(await slotsLike(bed.db, one.slot)).toEqual(partitionSlots(one.slot, PARTITIONS));
    expect(await publicationsLike(bed.db, one.slot)).toEqual(partitionSlots(one.slot, PARTITIONS).flatMap((name) => [name, `${name}_inserts`]));

    const walhookFour = await instances.start(four.file, { streaming: true });
    const before = writer.inserted.length;
    await arrived(before + 100);
    expect(await walhookFour.stop()).toBe(0);
    await burst(bed.db, 2_000, writer.inserted);

    const toOne = await repartition(four, 1);
    expect(toOne.code, toOne.stderr).toBe(0);
    expect(await slotsLike(bed.db, one.slot)).toEqual([one.slot]);
    expect(await publicationsLike(bed.db, one.slot)).toEqual([one.slot, `${one.slot}_inserts`]);

    walhookOne = await instances.start(one.file, { streaming: true });
    await arrived(writer.inserted.length + 50);
    const inserted = await writer.stop();

    const missing = () => {
      const delivered = new Set(hooks.requests.map(rowIdOf));
      return inserted.filter((id) => !delivered.has(id));
    };
    await waitFor(() => missing().length === 0, () => `every row to arrive (${missing().length} of ${inserted.length} still missing: positions ${missing().map((id) => inserted.indexOf(id)).slice(0, 20).join(', ')})`, 120_000);
    const eventIds = new Map<string, Set<string>>();
    for (const request of hooks.requests) eventIds.set(rowIdOf(request), (eventIds.get(rowIdOf(request)) ?? new Set()).add(eventIdOf(request)));
    expect([...eventIds.values()].filter((ids) => ids.size !== 1)).toEqual([]);
    expect(hooks.verified()).toHaveLength(hooks.requests.length);

    // Liveness: a fresh row in every workspace arrives, the slot reaches the WAL end, the replica is ready.
    const fresh: string[] = [];
    for (const schema of WORKSPACES) {
      const [row] = await bed.db.sql<{ id: string }>(`INSERT INTO ${schema}.person ("nameFirstName", position) VALUES ('Fresh', -1) RETURNING id`);
      fresh.push(row!.id);
    }
    await waitFor(() => fresh.every((id) => hooks.requests.some((request) => rowIdOf(request) === id)), 'the fresh rows to arrive', 15_000);
    await waitForSlotAt(bed.db, one.slot, await currentWalLsn(bed.db), 'the slot to reach the WAL end', 30_000);
    await waitFor(async () => (await probe(walhookOne.api, '/readyz')).status === 200, 'the replica to be ready', 15_000);
    console.log(`repartition: ${inserted.length} rows written, ${hooks.requests.length} deliveries (${hooks.requests.length - eventIds.size} duplicates)`);
  });

  it('refuses while a replica still streams, and creates nothing', async () => {
    const hooks = await bed.receiver();
    const setup = bed.setup({ webhooks: [{ targetUrl: hooks.url }] });
    await instances.start(setup.file, { streaming: true });
    const refused = await repartition(setup, PARTITIONS);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('a walhook replica still streams');
    expect(refused.stderr).toContain('To fix: stop every walhook replica');
    expect(refused.stderr).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
    expect(await slotsLike(bed.db, setup.slot)).toEqual([setup.slot]);
  });

  it('refuses layouts that share slot names, and the same N', async () => {
    const setup = bed.setup({ webhooks: [{ targetUrl: 'http://127.0.0.1:9/' }], source: { partitions: 2 } });
    const shared = await repartition(setup, PARTITIONS);
    expect(shared.code).toBe(1);
    expect(shared.stderr).toContain(`share slot names (${setup.slot}_p0, ${setup.slot}_p1)`);
    expect(shared.stderr).toContain('walhook repartition --partitions 1');
    const same = await repartition(setup, 2);
    expect(same.code).toBe(1);
    expect(same.stderr).toContain('source.partitions is already 2');
    const wrong = await repartition(setup, 0);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('--partitions: a whole number from 1 to 64');
  });

  it('drops the new layout again when the drain fails, keeps the old one, and a retry succeeds', async () => {
    const hooks = await bed.receiver();
    const setup = bed.setup({ webhooks: [{ targetUrl: hooks.url }] });
    const walhookOne = await instances.start(setup.file, { streaming: true });
    expect(await walhookOne.stop()).toBe(0);
    const failed = await repartition(setup, PARTITIONS, '--timeout', '1ms');
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain('were not drained up to');
    expect(failed.stderr).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
    expect(await slotsLike(bed.db, setup.slot)).toEqual([setup.slot]);
    expect(await publicationsLike(bed.db, setup.slot)).toEqual([setup.slot, `${setup.slot}_inserts`]);
    // A retry starts clean (and without waiting for the failed run's leases to run out).
    const retried = await repartition(setup, PARTITIONS);
    expect(retried.code, retried.stderr).toBe(0);
    expect(await slotsLike(bed.db, setup.slot)).toEqual(partitionSlots(setup.slot, PARTITIONS));
  });

  it('drops the new layout again when interrupted while draining (Ctrl-C), and keeps the old one', async () => {
    // A receiver that holds every request: the old slot cannot be confirmed past its first change, so the drain waits.
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    const hooks = await bed.receiver(() => ({ status: 200, heldUntil: held }));
    const setup = bed.setup({ webhooks: [{ targetUrl: hooks.url }], delivery: { spillAfter: '1h', timeout: '10m' } });
    const walhookOne = await instances.start(setup.file, { streaming: true });
    expect(await walhookOne.stop()).toBe(0);
    await burst(bed.db, 20, []);
    try {
      const interrupted = await walhook(['repartition', '--partitions', String(PARTITIONS), '--config', setup.file], (child, output) => {
        void waitFor(() => output().includes('new partitions created') && hooks.requests.length > 0, 'the drain to deliver', 30_000).then(() => child.kill('SIGINT'));
      });
      expect(interrupted.code).toBe(1);
      expect(interrupted.stderr).toContain('interrupted while draining the current partitions');
      expect(await slotsLike(bed.db, setup.slot)).toEqual([setup.slot]);
      expect(await publicationsLike(bed.db, setup.slot)).toEqual([setup.slot, `${setup.slot}_inserts`]);
    } finally {
      release();
    }
  });
});
