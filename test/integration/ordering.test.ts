/**
 * Per-record ordering (webhook `ordering: record`) against a real receiver:
 * each record's changes reach it in commit order (a later change never
 * before an earlier one's first 2xx), through 500/500/200 answers, with
 * several records' updates interleaved, many deliveries in flight at once and
 * a kill -9 in the middle, or a failover to a standby; nothing is lost; a record whose head keeps
 * failing holds up only itself; a dead-lettered head releases the next one.
 */
import { describe, expect, it } from 'vitest';
import { currentWalLsn, useCrmTestBed, waitForSlotAt, WORKSPACE_SCHEMA, type WalhookSetup } from '../harness/crm.js';
import type { DaemonProcess } from '../harness/daemon.js';
import { probe, useInstances } from '../harness/operations.js';
import { waitFor, type ReceivedRequest, type Reply } from '../harness/receiver.js';

const bed = useCrmTestBed('ordering');
const instances = useInstances();

/** A person's version is its `city`: `v0` at insert, `vN` after its N-th update. */
interface Seen {
  recordId: string;
  version: number;
  deliveryId: string;
  status: number;
}

function seenOf(request: ReceivedRequest, status: number): Seen | null {
  const record = request.json.record as { id?: string; city?: string } | undefined;
  const match = /^v(\d+)$/.exec(record?.city ?? '');
  if (!record?.id || !match) return null;
  return { recordId: record.id, version: Number(match[1]), deliveryId: String(request.headers['webhook-id']), status };
}

/**
 * A receiver that answers `plan(seen, attemptOfThisDelivery)` (a status, or
 * a reply) and keeps, in arrival order, what it was sent and what it answered.
 */
async function plannedReceiver(plan: (seen: Seen, attempt: number) => number | Reply) {
  const log: Seen[] = [];
  const attempts = new Map<string, number>();
  const receiver = await bed.receiver((request): Reply => {
    const probeSeen = seenOf(request, 0);
    if (probeSeen === null) return { status: 200 };
    const attempt = (attempts.get(probeSeen.deliveryId) ?? 0) + 1;
    attempts.set(probeSeen.deliveryId, attempt);
    const planned = plan(probeSeen, attempt);
    const reply = typeof planned === 'number' ? { status: planned } : planned;
    log.push({ ...probeSeen, status: reply.status });
    return reply;
  });
  return { receiver, log };
}

/** Every request that carried a version before an earlier version of its record had its first 2xx. */
function orderViolations(log: readonly Seen[]): string[] {
  const delivered = new Map<string, Set<number>>();
  const violations: string[] = [];
  log.forEach((seen, index) => {
    const done = delivered.get(seen.recordId) ?? new Set<number>();
    for (let earlier = 0; earlier < seen.version; earlier++) {
      if (!done.has(earlier)) violations.push(`request ${index}: ${seen.recordId} v${seen.version} sent before v${earlier} was delivered`);
    }
    if (seen.status < 300) done.add(seen.version);
    delivered.set(seen.recordId, done);
  });
  return violations;
}

/** Record → versions that got a 2xx. */
function deliveredVersions(log: readonly Seen[]): Map<string, Set<number>> {
  const delivered = new Map<string, Set<number>>();
  for (const seen of log) {
    if (seen.status >= 300) continue;
    delivered.set(seen.recordId, (delivered.get(seen.recordId) ?? new Set()).add(seen.version));
  }
  return delivered;
}

async function insertRecords(count: number, tag: string): Promise<string[]> {
  const rows = await bed.db.sql<{ id: string }>(
    `INSERT INTO ${WORKSPACE_SCHEMA}.person ("nameFirstName", "jobTitle", city, position)
     SELECT 'Ordered', $1, 'v0', i FROM generate_series(1, $2::int) AS i ORDER BY i RETURNING id`,
    [tag, count],
  );
  return rows.map((row) => row.id);
}

/** Round `version`: every record updated once, each in its own transaction, interleaved across records. */
async function updateRound(ids: readonly string[], version: number): Promise<void> {
  for (const id of ids) await bed.db.sql(`UPDATE ${WORKSPACE_SCHEMA}.person SET city = $1 WHERE id = $2`, [`v${version}`, id]);
}

function apiOf(daemon: DaemonProcess): string {
  return `http://127.0.0.1:${String(daemon.logs.find((line) => line.msg === 'HTTP API listening')?.port)}`;
}

/** Fresh writes still arrive, and the instance says it is ready. */
async function expectLive(daemon: DaemonProcess, log: readonly Seen[], tag: string): Promise<void> {
  const [fresh] = await insertRecords(1, tag);
  await waitFor(() => log.some((seen) => seen.recordId === fresh && seen.status < 300), 'a record written after the faults to arrive', 30_000);
  await waitFor(async () => (await probe(apiOf(daemon), '/readyz')).status === 200, 'walhook to report ready', 30_000);
}

/** Some deliveries wait in the state table for a retry, after at least one 500: the moment `fault` is meant for. */
async function waitForRetriesWaiting(setup: WalhookSetup, log: readonly Seen[], fault: string): Promise<void> {
  await waitFor(
    async () => {
      const [row] = await bed.db.sql<{ waiting: number }>(
        `SELECT count(*)::int AS waiting FROM ${setup.stateSchema}.deliveries WHERE state IN ('pending', 'retrying')`,
      );
      return (row?.waiting ?? 0) > 0 && log.some((seen) => seen.status === 500);
    },
    () => `deliveries waiting for a retry before ${fault} (received ${log.length})`,
    30_000,
    10,
  );
}

/** Every one of `versions` versions of every record got a 2xx. */
async function waitForEveryVersion(ids: readonly string[], versions: number, log: readonly Seen[]): Promise<void> {
  const delivered = () => [...deliveredVersions(log).values()].reduce((n, v) => n + v.size, 0);
  await waitFor(
    () => ids.every((id) => (deliveredVersions(log).get(id)?.size ?? 0) === versions),
    () => `every version of every record to be delivered (${delivered()} of ${ids.length * versions})`,
    120_000,
  );
}

function orderedSetup(targetUrl: string, delivery: Record<string, unknown>): WalhookSetup {
  return bed.setup({
    webhooks: [{ targetUrl, operations: ['person.created', 'person.updated'], ordering: 'record' }],
    delivery: { concurrency: 8, ...delivery },
  });
}

describe('ordering: record', () => {
  it('keeps each record in commit order through 500/500/200 answers, concurrency and a kill -9, and loses nothing', async () => {
    const RECORDS = 12;
    const ROUNDS = 6;
    // A third of the records fail each delivery twice before taking it; the rest take everything at once.
    const failing = new Set<string>();
    const { receiver, log } = await plannedReceiver((seen, attempt) => (failing.has(seen.recordId) && attempt <= 2 ? 500 : 200));
    const setup = orderedSetup(receiver.url, { retrySchedule: ['200ms', '200ms', '200ms', '200ms'], leaseDuration: '2s' });
    const first = await bed.walhook(setup);
    const ids = await insertRecords(RECORDS, 'ordered-crash');
    ids.filter((_, index) => index % 3 === 0).forEach((id) => failing.add(id));
    for (let version = 1; version <= ROUNDS / 2; version++) await updateRound(ids, version);
    // Killed while failing records' deliveries wait in the state table and others are still being sent.
    await waitForRetriesWaiting(setup, log, 'the kill');
    await first.kill9();
    for (let version = ROUNDS / 2 + 1; version <= ROUNDS; version++) await updateRound(ids, version);
    const second = await bed.walhook(setup);

    await waitForEveryVersion(ids, ROUNDS + 1, log);

    expect(orderViolations(log)).toEqual([]);
    // The patterns were exercised: failing records were refused, and retried after the restart too.
    expect(log.filter((seen) => seen.status === 500).length).toBeGreaterThanOrEqual(failing.size * 2);
    expect(receiver.verified()).toHaveLength(receiver.requests.length);
    await expectLive(second, log, 'ordered-crash-fresh');
  }, 240_000);

  it('keeps each record in commit order across a failover: the standby takes over the stream and the heads waiting for a retry', async () => {
    const RECORDS = 9;
    const ROUNDS = 4;
    const failing = new Set<string>();
    const { receiver, log } = await plannedReceiver((seen, attempt) => (failing.has(seen.recordId) && attempt <= 2 ? 500 : 200));
    const setup = orderedSetup(receiver.url, { retrySchedule: ['200ms', '200ms', '200ms', '200ms'], leaseDuration: '2s' });
    const leader = await instances.start(setup.file, { streaming: true });
    const standby = await instances.start(setup.file);
    const ids = await insertRecords(RECORDS, 'ordered-failover');
    ids.filter((_, index) => index % 3 === 0).forEach((id) => failing.add(id));
    for (let version = 1; version <= ROUNDS / 2; version++) await updateRound(ids, version);
    await waitForRetriesWaiting(setup, log, 'the failover');
    await leader.kill9();
    for (let version = ROUNDS / 2 + 1; version <= ROUNDS; version++) await updateRound(ids, version);
    await waitFor(() => standby.logs.some((line) => line.msg === 'replication streaming'), 'the standby to take over the stream', 30_000);

    await waitForEveryVersion(ids, ROUNDS + 1, log);
    expect(orderViolations(log)).toEqual([]);
    expect(log.filter((seen) => seen.status === 500).length).toBeGreaterThanOrEqual(failing.size * 2);
    await expectLive(standby, log, 'ordered-failover-fresh');
  }, 240_000);

  it('after a kill -9, a new change of a record whose head waits in the state table queues behind it', async () => {
    let held = '';
    let headAnswers = 500;
    // The head keeps failing until the restarted walhook has dispatched the record's next change.
    const { receiver, log } = await plannedReceiver((seen) => (seen.recordId === held && seen.version === 0 ? headAnswers : 200));
    const setup = orderedSetup(receiver.url, { retrySchedule: ['300ms', '300ms', '300ms', '300ms', '300ms', '300ms', '300ms', '300ms'] });
    const first = await bed.walhook(setup);
    held = (await insertRecords(1, 'ordered-restart'))[0]!;
    await waitFor(
      async () => (await bed.db.sql(`SELECT FROM ${setup.stateSchema}.deliveries WHERE state = 'retrying'`)).length === 1,
      'the head to wait for a retry in the state table',
    );
    // Confirmed past the head: the restarted walhook will not stream it again, only find it in the table.
    await waitForSlotAt(bed.db, setup.slot, await currentWalLsn(bed.db), 'the slot to be confirmed past the head');
    await first.kill9();
    await updateRound([held], 1);
    const second = await bed.walhook(setup);
    await waitFor(
      async () =>
        log.some((seen) => seen.recordId === held && seen.version === 1) ||
        (await bed.db.sql(`SELECT FROM ${setup.stateSchema}.deliveries WHERE (body::jsonb)->'record'->>'city' = 'v1'`)).length === 1,
      'the restarted walhook to dispatch the next change (to the table, or to the receiver)',
      30_000,
    );
    headAnswers = 200;
    await waitFor(() => deliveredVersions(log).get(held)?.size === 2, 'both changes of the record to be delivered', 30_000);
    expect(orderViolations(log)).toEqual([]);
    await expectLive(second, log, 'ordered-restart-fresh');
  }, 120_000);

  it('holds back only the record whose head keeps failing; a dead-lettered head releases the next change', async () => {
    let stuck = '';
    let release = () => undefined as void;
    const released = new Promise<void>((resolve) => (release = resolve));
    // The stuck record's first change always fails; its first retry is answered (500) only once the test says so,
    // so that it surely waits in the state table while the other records flow. Everything else is taken.
    const { receiver, log } = await plannedReceiver((seen, attempt) => {
      if (seen.recordId !== stuck || seen.version !== 0) return 200;
      return attempt === 2 ? { status: 500, heldUntil: released } : 500;
    });
    const setup = orderedSetup(receiver.url, { retrySchedule: ['300ms', '300ms', '300ms'], timeout: '120s', leaseDuration: '180s' });
    const daemon = await bed.walhook(setup);
    const ids = await insertRecords(6, 'ordered-dead');
    stuck = ids[0]!;
    for (let version = 1; version <= 3; version++) await updateRound(ids, version);

    const others = ids.slice(1);
    // Its first retry arrives and is held unanswered: from then on the head is surely unsettled.
    await waitFor(() => log.filter((seen) => seen.recordId === stuck).length >= 2, 'the stuck record head to be retried', 60_000);
    await waitFor(
      () => others.every((id) => deliveredVersions(log).get(id)?.size === 4),
      () => `the other records' changes to arrive while one record is stuck (${JSON.stringify([...deliveredVersions(log)].map(([id, v]) => [id, v.size]))})`,
      60_000,
    );
    expect(log.filter((seen) => seen.recordId === stuck).map((seen) => seen.version)).toEqual([0, 0]);
    release();
    await waitFor(
      async () => {
        const rows = await bed.db.sql<{ state: string }>(
          `SELECT state FROM ${setup.stateSchema}.deliveries WHERE (body::jsonb)->'record'->>'id' = $1 AND (body::jsonb)->'record'->>'city' = 'v0'`,
          [stuck],
        );
        return rows[0]?.state === 'dead';
      },
      'the stuck record head to be dead-lettered',
      60_000,
    );
    await waitFor(() => deliveredVersions(log).get(stuck)?.size === 3, 'the stuck record later changes, released by its dead letter', 60_000);

    const stuckLog = log.filter((seen) => seen.recordId === stuck);
    const lastHeadAttempt = stuckLog.map((seen) => seen.version).lastIndexOf(0);
    // Every attempt at the head came before any later change, and each failed: the next left only once it was dead.
    expect(stuckLog.slice(0, lastHeadAttempt + 1).every((seen) => seen.version === 0 && seen.status === 500)).toBe(true);
    expect(stuckLog.slice(lastHeadAttempt + 1).map((seen) => seen.version)).toEqual([1, 2, 3]);
    expect(stuckLog.filter((seen) => seen.version === 0)).toHaveLength(4);
    expect(orderViolations(log.filter((seen) => seen.recordId !== stuck))).toEqual([]);
    await expectLive(daemon, log, 'ordered-dead-fresh');
  }, 180_000);
});
