/**
 * A failover of the CRM database, on PostgreSQL 17 and 18 (the embedded
 * packages; Debian's 15 cannot synchronize slots). A primary and a physical
 * standby on 127.0.0.1, set up as the README's "Database failover" says: the
 * standby streams from a physical slot with sync_replication_slots and
 * hot_standby_feedback on, the primary names that slot in
 * synchronized_standby_slots. walhook and the CRM's writes reach the database
 * through one TCP proxy, the address that moves to the new primary.
 *
 * While persons are inserted one by one, the primary crashes (immediate
 * stop), the standby is promoted and the proxy points at it. walhook must
 * resume from the slot the standby kept (not a new one), deliver every row the
 * new primary has (duplicates allowed), deliver no row it does not have, and
 * then deliver fresh writes.
 *
 * On PostgreSQL 16 the same failover loses the slot: the test pins down what
 * the README says happens then.
 */
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { startTcpProxy, type TcpProxy } from '../../chaos/lib/tcp-proxy.js';
import { startThrowawayPostgres, startThrowawayStandby, type ThrowawayPostgres } from '../../src/demo/throwaway-postgres.js';
import { createCrmSchema, insertPersonsOneByOne, walhookSetup, WORKSPACE_SCHEMA, type WalhookSetup } from '../harness/crm.js';
import { createDatabase, withDatabase, type TestDatabase } from '../harness/database.js';
import { probe, useInstances, type Instance, type Probe } from '../harness/operations.js';
import { embeddedBinDir, type EmbeddedVersion } from '../harness/pg-versions.js';
import { startReceiver, waitFor, type Receiver, type ReceivedRequest } from '../harness/receiver.js';

const STANDBY_SLOT = 'walhook_standby';
const BEFORE_CRASH = 150;
const STREAMED = 2_000;
const AFTER_FAILOVER = 50;

const instances = useInstances();
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

function rowIdOf(request: ReceivedRequest): string {
  return (request.json.record as { id: string }).id;
}

async function query<T extends pg.QueryResultRow>(url: string, text: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client(url);
  await client.connect();
  try {
    return (await client.query<T>(text, values)).rows;
  } finally {
    await client.end();
  }
}

interface SyncedSlot {
  synced: boolean;
  temporary: boolean;
  failover: boolean;
}

/** The standby's copy of walhook's slot, or null while it has none. */
async function standbyCopy(standby: ThrowawayPostgres, slot: string): Promise<SyncedSlot | null> {
  const [row] = await query<SyncedSlot>(standby.url, 'SELECT synced, temporary, failover FROM pg_replication_slots WHERE slot_name = $1', [slot]);
  return row ?? null;
}

interface FailoverBed {
  primary: ThrowawayPostgres;
  standby: ThrowawayPostgres;
  proxy: TcpProxy;
  /** The CRM database, reached through the proxy. */
  db: TestDatabase;
  hooks: Receiver;
  setup: WalhookSetup;
  walhook: Instance;
}

/**
 * A primary and a streaming standby of `version` (with `standbySettings`), the
 * CRM schema in a database reached through the proxy, and walhook streaming
 * `person.created` to a receiver.
 */
async function startFailoverBed(
  version: EmbeddedVersion,
  settings: { standby: Record<string, string>; primaryAfterBackup: Record<string, string> },
): Promise<FailoverBed> {
  const primary = await startThrowawayPostgres({ binDir: embeddedBinDir(version) });
  cleanups.push(() => primary.stop());
  const standby = await startThrowawayStandby(primary, { slot: STANDBY_SLOT, settings: settings.standby });
  cleanups.push(() => standby.stop());
  // Set after the base backup, as an operator would: the standby must not inherit them.
  for (const [name, value] of Object.entries(settings.primaryAfterBackup)) await query(primary.url, `ALTER SYSTEM SET ${name} = '${value}'`);
  await query(primary.url, 'SELECT pg_reload_conf()');
  await waitFor(
    async () => (await query<{ active: boolean }>(primary.url, 'SELECT active FROM pg_replication_slots WHERE slot_name = $1', [STANDBY_SLOT]))[0]?.active === true,
    'the standby to stream from its physical slot',
  );
  const proxy = await startTcpProxy(primary.port);
  cleanups.push(() => proxy.close());
  // The CRM's writes and walhook both use the address that moves in a failover.
  const db = await createDatabase(proxy.via(primary.url), 'failover');
  cleanups.push(() => db.drop());
  await createCrmSchema(db);
  const secret = 'failover-test-secret-0123456789';
  const hooks = await startReceiver({ secret });
  cleanups.push(() => hooks.close());
  const setup = walhookSetup(db, { webhooks: [{ targetUrl: hooks.url, operations: ['person.created'], secret }] });
  const walhook = await instances.start(setup.file, { streaming: true });
  return { primary, standby, proxy, db, hooks, setup, walhook };
}

const lastLogLines = (walhook: Instance, count: number) =>
  walhook.logs
    .slice(-count)
    .map(({ time, level, msg, err, role, component }) => JSON.stringify({ time, level, msg, role, component, err: (err as { message?: string } | undefined)?.message }))
    .join('\n');
const linesSaying = (walhook: Instance, msg: string) => walhook.logs.filter((line) => line.msg === msg).length;
const warningsAbout = (walhook: Instance, pattern: RegExp) =>
  walhook.logs.filter((line) => line.level === 'warn' && typeof line.fix === 'string' && pattern.test(String(line.msg)));

/** Waits until walhook streams again after the failover (more "replication streaming" lines than `before`). */
async function streamingAgain(walhook: Instance, before: number): Promise<void> {
  await waitFor(
    () => linesSaying(walhook, 'replication streaming') > before,
    () => `walhook to stream from the promoted standby; its last log lines:\n${lastLogLines(walhook, 25)}`,
    60_000,
  );
}

describe.each(['17', '18'] as const)('database failover on PostgreSQL %s', (version) => {
  it('resumes from the slot the promoted standby kept and delivers every row the new primary has', async () => {
    const { primary, standby, proxy, db, hooks, setup, walhook } = await startFailoverBed(version, {
      standby: { sync_replication_slots: 'on', hot_standby_feedback: 'on' },
      // The promoted standby has no slot of this name: inherited, it would hold walhook back.
      primaryAfterBackup: { synchronized_standby_slots: STANDBY_SLOT },
    });

    const [slot] = await db.sql<{ failover: boolean }>('SELECT failover FROM pg_replication_slots WHERE slot_name = $1', [setup.slot]);
    expect(slot?.failover, 'walhook created its slot with failover = true').toBe(true);

    await insertPersonsOneByOne(db, BEFORE_CRASH);
    await waitFor(() => new Set(hooks.requests.map(rowIdOf)).size >= BEFORE_CRASH, `the first ${BEFORE_CRASH} persons to arrive`, 30_000);
    await waitFor(
      async () => {
        const copy = await standbyCopy(standby, setup.slot);
        return copy !== null && copy.synced && !copy.temporary;
      },
      "the standby's slot sync worker to keep a persistent copy of walhook's slot",
      60_000,
      200,
    );

    // The crash lands while persons are being inserted and delivered.
    const inserting = insertPersonsOneByOne(db, STREAMED, { from: BEFORE_CRASH + 1 }).catch((error: unknown) => error);
    await waitFor(() => hooks.requests.length >= BEFORE_CRASH + 100, 'deliveries of the streamed persons to be under way', 30_000, 10);
    const streamingLines = linesSaying(walhook, 'replication streaming');
    const createdLines = linesSaying(walhook, 'replication slot created');
    await primary.stop('immediate');
    expect(await inserting, 'the crash ended the inserts midway').toBeInstanceOf(Error);
    await standby.promote();
    proxy.retarget(standby.port);

    await streamingAgain(walhook, streamingLines);
    expect(linesSaying(walhook, 'replication slot created'), 'walhook resumed from the slot the standby kept instead of creating a new one').toBe(
      createdLines,
    );
    expect(warningsAbout(walhook, /standby|failover/), 'no failover warning for servers set up as the README says').toEqual([]);

    // Liveness: fresh writes on the new primary arrive.
    const [{ count: survivors } = { count: 0 }] = await db.sql<{ count: number }>(`SELECT count(*)::int AS count FROM ${WORKSPACE_SCHEMA}.person`);
    const fresh = await insertPersonsOneByOne(db, AFTER_FAILOVER, { from: 100_000 });
    await waitFor(
      () => fresh.every((person) => hooks.requests.some((request) => rowIdOf(request) === person.id)),
      `the ${AFTER_FAILOVER} persons inserted after the failover to arrive`,
      30_000,
    );

    const onNewPrimary = (await db.sql<{ id: string }>(`SELECT id FROM ${WORKSPACE_SCHEMA}.person`)).map((row) => row.id);
    const delivered = new Set(hooks.requests.map(rowIdOf));
    expect(onNewPrimary.filter((id) => !delivered.has(id)), 'rows of the new primary never delivered').toEqual([]);
    // synchronized_standby_slots: walhook never got a change the standby did not have, so no event is undone by the failover.
    const rows = new Set(onNewPrimary);
    expect([...delivered].filter((id) => !rows.has(id)), 'delivered rows the new primary does not have').toEqual([]);
    expect(survivors, 'the crash came after more than the first batch was committed').toBeGreaterThan(BEFORE_CRASH);
    expect(hooks.verified().length).toBe(hooks.requests.length);
  }, 240_000);
});

describe('database failover on PostgreSQL 16', () => {
  it('warns that the slot is not kept; after the failover it says the slot is gone, and a restart creates a new one: changes written before that are not delivered', async () => {
    const { primary, standby, proxy, db, hooks, setup, walhook } = await startFailoverBed('16', { standby: { hot_standby_feedback: 'on' }, primaryAfterBackup: {} });
    expect(warningsAbout(walhook, /does not copy logical slots/), 'the start-up warning that a failover loses the slot').toHaveLength(1);

    const before = await insertPersonsOneByOne(db, BEFORE_CRASH);
    await waitFor(() => new Set(hooks.requests.map(rowIdOf)).size >= BEFORE_CRASH, `the first ${BEFORE_CRASH} persons to arrive`, 30_000);
    const [{ lsn } = { lsn: '' }] = await db.sql<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
    await waitFor(
      async () => (await query<{ caught: boolean }>(standby.url, 'SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS caught', [lsn]))[0]?.caught === true,
      'the standby to replay every insert',
    );
    await primary.stop('immediate');
    await standby.promote();
    // Written on the new primary before walhook reaches it (the CRM moved first).
    const direct = withDatabase(standby.url, db.name);
    const gap = await insertPersonsOneByOne({ sql: (text, values) => query(direct, text, values) }, 20, { from: 50_000 });
    proxy.retarget(standby.port);

    // The slot did not survive: walhook does not quietly make a new one (the gap would pass unnoticed), it says so.
    let seen: Probe | null = null;
    await waitFor(
      async () => {
        seen = await probe(walhook.api, '/readyz').catch(() => null);
        return seen?.status === 503 && (seen.body.problems ?? []).some((problem) => /no longer exists/.test(problem));
      },
      () => `/readyz to report the lost slot (last seen ${JSON.stringify(seen)})`,
      60_000,
    );

    // The documented remedy: restart walhook, which creates the slot anew.
    expect(await walhook.stop(), `walhook's exit on SIGTERM; its last log lines:\n${lastLogLines(walhook, 25)}`).toBe(0);
    const restarted = await instances.start(setup.file, { streaming: true });
    expect(linesSaying(restarted, 'replication slot created'), 'walhook created a new slot on the new primary').toBe(1);
    const fresh = await insertPersonsOneByOne(db, AFTER_FAILOVER, { from: 100_000 });
    await waitFor(
      () => fresh.every((person) => hooks.requests.some((request) => rowIdOf(request) === person.id)),
      `the ${AFTER_FAILOVER} persons inserted after walhook reconnected to arrive`,
      30_000,
    );
    expect((await probe(restarted.api, '/readyz')).status).toBe(200);
    const delivered = new Set(hooks.requests.map(rowIdOf));
    expect(before.every((person) => delivered.has(person.id))).toBe(true);
    expect(gap.filter((person) => delivered.has(person.id)), 'rows written before the new slot existed are never delivered').toEqual([]);
  }, 240_000);
});
