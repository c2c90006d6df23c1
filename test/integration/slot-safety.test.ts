/**
 * Slot safety, seen from the CRM's disk: walhook warns when its slot retains
 * more WAL than slotSafety.retainedWalWarnBytes, and when PostgreSQL
 * invalidates the slot (max_slot_wal_keep_size exceeded: wal_status 'lost')
 * it says what happened and what to do, stays unready and keeps running —
 * also across a restart — until the operator follows the instructions.
 *
 * The `lost` case needs server settings no other test may feel, so it runs
 * on a throwaway cluster of its own.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startThrowawayPostgres, type ThrowawayPostgres } from '../../src/demo/throwaway-postgres.js';
import { createCrmSchema, insertPersons, useCrmTestBed, WORKSPACE_SCHEMA } from '../harness/crm.js';
import type { TestDatabase } from '../harness/database.js';
import { CLI, writeConfig } from '../harness/daemon.js';
import { probe, scrapeMetrics, useInstances, withConfig, type Instance } from '../harness/operations.js';
import { waitFor } from '../harness/receiver.js';

const bed = useCrmTestBed('slot_safety');
const instances = useInstances();

/** A receiver that takes requests and never answers in time: the slot cannot move past them. */
const HOLD = { status: 200, delayMs: 60_000 };
/** Keeps held deliveries in memory, so they hold the slot back. */
const HOLDING_DELIVERY = { timeout: '60s', spillAfter: '60s' };

async function slotRow(db: TestDatabase, slot: string) {
  const [row] = await db.sql<{ wal_status: string | null; retained: number | null }>(
    'SELECT wal_status, pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::float8 AS retained FROM pg_replication_slots WHERE slot_name = $1',
    [slot],
  );
  return row;
}

describe('retained WAL above slotSafety.retainedWalWarnBytes', () => {
  it('logs a warning and shows the retained bytes in walhook_slot_retained_wal_bytes', async () => {
    const hooks = await bed.receiver(() => HOLD);
    const setup = withConfig(bed.setup({ webhooks: [{ targetUrl: hooks.url }], delivery: HOLDING_DELIVERY }), {
      slotSafety: { retainedWalWarnBytes: '1kB', checkInterval: '200ms' },
    });
    const walhook = await instances.start(setup.file, { streaming: true });
    await insertPersons(bed.db, 50);
    await waitFor(() => hooks.requests.length > 0, 'a delivery to be held');

    await waitFor(() => walhook.logs.some((line) => line.component === 'slot' && line.level === 'warn'), 'the retained-WAL warning');
    const warning = walhook.logs.find((line) => line.component === 'slot' && line.level === 'warn')!;
    expect(warning).toMatchObject({ slot: setup.slot, thresholdBytes: 1024, msg: expect.stringContaining('slotSafety.retainedWalWarnBytes') });
    expect(warning.retainedWalBytes).toBeGreaterThan(1024);

    const retained = (await scrapeMetrics(walhook.api)).value('walhook_slot_retained_wal_bytes');
    const now = await slotRow(bed.db, setup.slot);
    expect(retained).toBeGreaterThan(1024);
    // The slot is held, so the server's figure can only have grown since walhook measured it.
    expect(retained).toBeLessThanOrEqual(now!.retained!);
  });
});

describe('a slot PostgreSQL invalidated (wal_status lost)', () => {
  let cluster: ThrowawayPostgres;
  let pool: pg.Pool;
  let db: TestDatabase;

  beforeAll(async () => {
    cluster = await startThrowawayPostgres({
      settings: { max_slot_wal_keep_size: '1MB', wal_keep_size: '0', max_wal_size: '32MB', min_wal_size: '32MB' },
    });
    pool = new pg.Pool({ connectionString: cluster.url, max: 2 });
    db = {
      url: cluster.url,
      name: 'postgres',
      sql: async (text, values) => (await pool.query(text, values)).rows,
      drop: async () => undefined,
    };
    await createCrmSchema(db);
    await db.sql('CREATE TABLE public.filler (payload text)');
  });
  afterAll(async () => {
    await pool?.end();
    await cluster?.stop();
  });

  /** Writes WAL, switches segments and checkpoints until the server has invalidated the slot. */
  async function pushSlotPastMaxSlotWalKeepSize(slot: string): Promise<void> {
    await waitFor(async () => {
      await db.sql(`INSERT INTO public.filler SELECT repeat(md5(i::text), 64) FROM generate_series(1, 1000) AS i`);
      await db.sql('SELECT pg_switch_wal()');
      await db.sql('CHECKPOINT');
      return (await slotRow(db, slot))?.wal_status === 'lost';
    }, `slot ${slot} to be lost`);
  }

  const lostMessage = (slot: string) => new RegExp(`slot '${slot}' is lost.*pg_drop_replication_slot\\('${slot}'\\).*backfill`);

  async function expectUnreadyButAlive(walhook: Instance, slot: string): Promise<void> {
    await waitFor(async () => (await probe(walhook.api, '/readyz')).status === 503, 'walhook to turn unready');
    const { body } = await probe(walhook.api, '/readyz');
    expect(body.problems!.join('\n')).toMatch(/is lost/);
    expect(await probe(walhook.api, '/healthz')).toMatchObject({ status: 200 });
    expect((await scrapeMetrics(walhook.api)).value('walhook_slot_wal_status', { status: 'lost' })).toBe(1);
    expect(walhook.child.exitCode).toBeNull();
    expect(walhook.logs).toContainEqual(expect.objectContaining({ level: 'error', slot }));
  }

  it('says what happened and what to do, stays unready without crash-looping, and recovers as instructed', async () => {
    const hooks = await bed.receiver(() => HOLD);
    const slot = `walhook_${randomBytes(4).toString('hex')}`;
    const file = writeConfig({
      database: { url: cluster.url },
      source: { slot, publication: slot, statusInterval: '200ms', reconnect: { minDelay: '100ms', maxDelay: '1s' } },
      delivery: { allowList: ['127.0.0.1/32'], ...HOLDING_DELIVERY },
      webhooks: [{ targetUrl: hooks.url, operations: ['person.created'], secret: bed.secret }],
      state: { schema: 'walhook_state' },
      api: { listen: '127.0.0.1:0' },
      slotSafety: { checkInterval: '200ms' },
    });
    const walhook = await instances.start(file, { streaming: true });
    expect(await probe(walhook.api, '/readyz')).toMatchObject({ status: 200 });
    await insertPersons(db, 1);
    await waitFor(() => hooks.requests.length === 1, 'the delivery that holds the slot back');

    await pushSlotPastMaxSlotWalKeepSize(slot);
    await expectUnreadyButAlive(walhook, slot);
    expect(walhook.logs).toContainEqual(expect.objectContaining({ level: 'error', component: 'slot', msg: expect.stringMatching(lostMessage(slot)) }));

    // A restart (what a crash loop would do) finds the slot lost at set-up: it stays up and unready, saying the same.
    await walhook.kill9();
    const restarted = await instances.start(file);
    await expectUnreadyButAlive(restarted, slot);
    expect((await probe(restarted.api, '/readyz')).body.problems).toContainEqual(expect.stringMatching(lostMessage(slot)));

    // The instructions work: drop the slot, restart; walhook recreates it and streams again.
    await restarted.kill9();
    await db.sql('SELECT pg_drop_replication_slot($1)', [slot]);
    const recovered = await instances.start(file, { streaming: true });
    await waitFor(async () => (await probe(recovered.api, '/readyz')).status === 200, 'walhook to be ready again');
    expect((await slotRow(db, slot))?.wal_status).toBe('reserved');
  });

  it('walhook recover recreates the slot and backfills the creates and updates of the gap, reports its deletes, and streaming resumes', async () => {
    const hooks = await bed.receiver();
    const slot = `walhook_${randomBytes(4).toString('hex')}`;
    const stateSchema = `walhook_recover_${randomBytes(3).toString('hex')}`;
    const person = `${WORKSPACE_SCHEMA}.person`;
    await db.sql('CREATE TABLE IF NOT EXISTS public.tag (id serial PRIMARY KEY, name text)');
    // Rows last changed long before the gap: a recovery must leave them alone.
    const [kept, updated, deleted] = await db.sql<{ id: string }>(
      `INSERT INTO ${person} ("nameFirstName", "updatedAt") SELECT 'before-' || i, now() - interval '1 hour' FROM generate_series(1, 3) AS i RETURNING id`,
    );
    const file = writeConfig({
      database: { url: cluster.url },
      source: { slot, publication: slot, statusInterval: '200ms', tables: ['public.tag'], reconnect: { minDelay: '100ms', maxDelay: '1s' } },
      delivery: { allowList: ['127.0.0.1/32'] },
      webhooks: [{ targetUrl: hooks.url, operations: ['*.*'], secret: bed.secret }],
      state: { schema: stateSchema },
      api: { listen: '127.0.0.1:0' },
      slotSafety: { checkInterval: '200ms' },
      recovery: { safetyMargin: '1m' },
    });
    const walhook = await instances.start(file, { streaming: true });
    const [live] = await db.sql<{ id: string; committed: Date }>(`INSERT INTO ${person} ("nameFirstName") VALUES ('live') RETURNING id, now() AS committed`);
    await waitFor(() => hooks.requests.some((r) => (r.json.record as { id: string }).id === live!.id), 'the live insert to be delivered');
    await waitFor(async () => (await db.sql(`SELECT 1 FROM ${stateSchema}.slot_progress WHERE slot = $1`, [slot])).length === 1, 'the settled point to be saved');
    const [point] = await db.sql<{ last_commit_time: Date }>(`SELECT last_commit_time FROM ${stateSchema}.slot_progress WHERE slot = $1`, [slot]);
    expect(point!.last_commit_time.getTime()).toBeGreaterThanOrEqual(live!.committed.getTime() - 1000);
    await walhook.kill9();

    // The gap: walhook is down, the CRM changes, and PostgreSQL gives up on the slot.
    await db.sql(`UPDATE ${person} SET city = 'changed in the gap', "updatedAt" = now() WHERE id = $1`, [updated!.id]);
    const [created] = await db.sql<{ id: string }>(`INSERT INTO ${person} ("nameFirstName") VALUES ('created in the gap') RETURNING id`);
    await db.sql(`DELETE FROM ${person} WHERE id = $1`, [deleted!.id]);
    const [tag] = await db.sql<{ id: number }>(`INSERT INTO public.tag (name) VALUES ('no timestamp column') RETURNING id`);
    await pushSlotPastMaxSlotWalKeepSize(slot);
    const before = hooks.requests.length;

    const { stdout } = await promisify(execFile)(process.execPath, [CLI, 'recover', '--config', file, '--json'], { env: { PATH: process.env.PATH ?? '' }, timeout: 30_000 });
    const result = JSON.parse(stdout) as { slotWas: string; since: string; backfills: { object: string; where: string | null }[]; untimestampedTables: string[]; deletes: string };
    expect(result).toMatchObject({ slotWas: 'lost', untimestampedTables: ['public.tag'], deletes: expect.stringMatching(/deleted .* cannot be recovered/) });
    expect(result.backfills).toContainEqual(expect.objectContaining({ object: 'person', where: expect.stringContaining('"updatedAt" >=') }));
    expect(result.backfills).toContainEqual(expect.objectContaining({ object: 'tag', where: null }));
    expect((await slotRow(db, slot))?.wal_status).toBe('reserved');

    // Its API first: taking the slot may wait for the killed leader's lease, which the wait below covers.
    const recovered = await instances.start(file);
    const recordIds = () => hooks.requests.slice(before).map((r) => `${r.json.operation}:${(r.json.record as { id: string | number }).id}`);
    await waitFor(
      () => [`person.backfilled:${updated!.id}`, `person.backfilled:${created!.id}`, `tag.backfilled:${tag!.id}`].every((id) => recordIds().includes(id)),
      () => `the gap's create, update and untimestamped row to be backfilled; got ${JSON.stringify(recordIds())}`,
      60_000,
    );
    const got = hooks.requests.slice(before);
    expect(got.find((r) => (r.json.record as { id: string }).id === updated!.id)!.json.record).toMatchObject({ city: 'changed in the gap' });
    // Untouched since before the gap: not sent again. Deleted in the gap: nothing to send, only the report.
    expect(recordIds().filter((id) => id.endsWith(kept!.id) || id.endsWith(deleted!.id))).toEqual([]);

    // Live streaming resumes on the new slot.
    const [fresh] = await db.sql<{ id: string }>(`INSERT INTO ${person} ("nameFirstName") VALUES ('after recovery') RETURNING id`);
    await waitFor(() => recordIds().includes(`person.created:${fresh!.id}`), 'a write after the recovery to be delivered');
    await waitFor(async () => (await probe(recovered.api, '/readyz')).status === 200, 'walhook to be ready');
  });

  it('with recovery.automatic, a leader whose slot is lost while it streams recovers on its own and streams again', async () => {
    let holding = false;
    const hooks = await bed.receiver(() => (holding ? HOLD : { status: 200 }));
    const slot = `walhook_${randomBytes(4).toString('hex')}`;
    const person = `${WORKSPACE_SCHEMA}.person`;
    const file = writeConfig({
      database: { url: cluster.url },
      source: { slot, publication: slot, statusInterval: '200ms', reconnect: { minDelay: '100ms', maxDelay: '1s' } },
      delivery: { allowList: ['127.0.0.1/32'], ...HOLDING_DELIVERY },
      webhooks: [{ targetUrl: hooks.url, operations: ['*.*'], secret: bed.secret }],
      state: { schema: `walhook_auto_${randomBytes(3).toString('hex')}` },
      api: { listen: '127.0.0.1:0' },
      slotSafety: { checkInterval: '200ms' },
      recovery: { automatic: true, safetyMargin: '1m' },
    });
    const walhook = await instances.start(file, { streaming: true });
    const operations = () => hooks.requests.map((r) => `${r.json.operation}:${(r.json.record as { id: string }).id}`);
    const [settled] = await db.sql<{ id: string }>(`INSERT INTO ${person} ("nameFirstName") VALUES ('settled') RETURNING id`);
    await waitFor(() => operations().includes(`person.created:${settled!.id}`), 'the first insert to be delivered');
    holding = true;
    const [held] = await db.sql<{ id: string }>(`INSERT INTO ${person} ("nameFirstName") VALUES ('held') RETURNING id`);
    await waitFor(() => operations().includes(`person.created:${held!.id}`), 'the delivery that holds the slot back');
    await pushSlotPastMaxSlotWalKeepSize(slot);
    holding = false;

    await waitFor(() => operations().includes(`person.backfilled:${held!.id}`), () => `the held row to be backfilled by the automatic recovery; got ${JSON.stringify(operations())}`);
    expect(walhook.logs).toContainEqual(expect.objectContaining({ component: 'recover', level: 'warn', msg: expect.stringMatching(/cannot be recovered/) }));
    const [fresh] = await db.sql<{ id: string }>(`INSERT INTO ${person} ("nameFirstName") VALUES ('after recovery') RETURNING id`);
    await waitFor(() => operations().includes(`person.created:${fresh!.id}`), 'a write after the recovery to be delivered');
    await waitFor(async () => (await probe(walhook.api, '/readyz')).status === 200, 'walhook to be ready again');
    expect(walhook.child.exitCode).toBeNull();
  });
});
