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
 */
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { startTcpProxy, type TcpProxy } from '../../chaos/lib/tcp-proxy.js';
import { startThrowawayPostgres, startThrowawayStandby, type ThrowawayPostgres } from '../../src/demo/throwaway-postgres.js';
import { createCrmSchema, insertPersonsOneByOne, walhookSetup, WORKSPACE_SCHEMA } from '../harness/crm.js';
import { createDatabase, type TestDatabase } from '../harness/database.js';
import { useInstances } from '../harness/operations.js';
import { embeddedBinDir } from '../harness/pg-versions.js';
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

describe.each(['17', '18'] as const)('database failover on PostgreSQL %s', (version) => {
  it('resumes from the slot the promoted standby kept and delivers every row the new primary has', async () => {
    const primary = await startThrowawayPostgres({ binDir: embeddedBinDir(version) });
    cleanups.push(() => primary.stop());
    const standby = await startThrowawayStandby(primary, {
      slot: STANDBY_SLOT,
      settings: { sync_replication_slots: 'on', hot_standby_feedback: 'on' },
    });
    cleanups.push(() => standby.stop());
    // After the base backup, as an operator would: the standby must not inherit it (after promotion it has no such slot).
    await query(primary.url, `ALTER SYSTEM SET synchronized_standby_slots = '${STANDBY_SLOT}'`);
    await query(primary.url, 'SELECT pg_reload_conf()');
    await waitFor(
      async () => (await query<{ active: boolean }>(primary.url, 'SELECT active FROM pg_replication_slots WHERE slot_name = $1', [STANDBY_SLOT]))[0]?.active === true,
      'the standby to stream from its physical slot',
    );

    const proxy: TcpProxy = await startTcpProxy(primary.port);
    cleanups.push(() => proxy.close());
    // The CRM's writes and walhook both use the address that moves in a failover.
    const db: TestDatabase = await createDatabase(proxy.via(primary.url), 'failover');
    cleanups.push(() => db.drop());
    await createCrmSchema(db);
    const secret = 'failover-test-secret-0123456789';
    const hooks: Receiver = await startReceiver({ secret });
    cleanups.push(() => hooks.close());
    const setup = walhookSetup(db, { webhooks: [{ targetUrl: hooks.url, operations: ['person.created'], secret }] });
    const walhook = await instances.start(setup.file, { streaming: true });

    const [slot] = await db.sql<{ failover: boolean }>('SELECT failover FROM pg_replication_slots WHERE slot_name = $1', [setup.slot]);
    expect(slot?.failover, 'walhook created its slot with failover = true').toBe(true);
    const failoverWarnings = () => walhook.logs.filter((line) => line.level === 40 && typeof line.fix === 'string' && /standby|failover/.test(String(line.msg)));
    expect(failoverWarnings(), 'no failover warning for a primary set up as the README says').toEqual([]);

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
    const streamingLines = walhook.logs.filter((line) => line.msg === 'replication streaming').length;
    const createdLines = walhook.logs.filter((line) => line.msg === 'replication slot created').length;
    await primary.stop('immediate');
    const insertEnd = await inserting;
    expect(insertEnd, 'the crash ended the inserts midway').toBeInstanceOf(Error);
    await standby.promote();
    proxy.retarget(standby.port);

    await waitFor(
      () => walhook.logs.filter((line) => line.msg === 'replication streaming').length > streamingLines,
      'walhook to stream from the promoted standby',
      60_000,
    );
    expect(
      walhook.logs.filter((line) => line.msg === 'replication slot created').length,
      'walhook resumed from the slot the standby kept instead of creating a new one',
    ).toBe(createdLines);

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
    const lost = onNewPrimary.filter((id) => !delivered.has(id));
    expect(lost, 'rows of the new primary never delivered').toEqual([]);
    // synchronized_standby_slots: walhook never got a change the standby did not have, so no event is undone by the failover.
    const rows = new Set(onNewPrimary);
    expect([...delivered].filter((id) => !rows.has(id)), 'delivered rows the new primary does not have').toEqual([]);
    expect(survivors, 'the crash came after more than the first batch was committed').toBeGreaterThan(BEFORE_CRASH);
    expect(hooks.verified().length).toBe(hooks.requests.length);
  }, 240_000);
});
