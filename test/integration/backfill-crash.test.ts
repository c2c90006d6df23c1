/**
 * Backfills survive what the daemon goes through: kill -9 in the middle
 * (resumed from the saved cursor, nothing skipped, a resent chunk with the
 * same ids), pause and resume, cancel.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { backfillCli, backfillState, isBackfilled, recordIdOf, startBackfill, waitForBackfill } from '../harness/backfill.js';
import { createCrmSchema, insertPersons, useCrmTestBed, WORKSPACE_SCHEMA, type WalhookSetup } from '../harness/crm.js';
import { CLI, type DaemonProcess } from '../harness/daemon.js';
import { waitFor, type Receiver } from '../harness/receiver.js';

const ROWS = 20_000;
/** Each test backfills the persons up to this position (a --where filter), so the file stays short on a loaded machine. */
const UP_TO = 8_000;
const FILTER = ['--where', `position <= ${UP_TO}`];

const bed = useCrmTestBed('backfillcrash', async (db) => {
  await createCrmSchema(db);
  for (let from = 1; from <= ROWS; from += 5_000) await insertPersons(db, 5_000, from);
});

async function personIds(): Promise<string[]> {
  return (await bed.db.sql<{ id: string }>(`SELECT id FROM ${WORKSPACE_SCHEMA}.person WHERE position <= $1`, [UP_TO])).map((row) => row.id);
}

function backfilledIds(at: Receiver): Set<string> {
  return new Set(at.requests.filter(isBackfilled).map(recordIdOf));
}

/** `ids` the receiver has not had a backfilled event of. */
function notBackfilled(at: Receiver, ids: readonly string[]): string[] {
  const got = backfilledIds(at);
  return ids.filter((id) => !got.has(id));
}

/** A fresh write arrives live: the stream goes on after what the test did. */
async function liveProbe(at: Receiver, from: number): Promise<void> {
  const [fresh] = await insertPersons(bed.db, 1, from);
  await waitFor(() => at.requests.some((request) => recordIdOf(request) === fresh!.id && request.json.operation === 'person.created'), 'a fresh person to arrive live');
}

function loggedFor(daemon: DaemonProcess, backfillId: string, msg: string): boolean {
  return daemon.logs.some((line) => line.backfillId === backfillId && line.msg === msg);
}

describe('backfill across faults and operator commands', () => {
  it('resumes after kill -9 where its progress was saved: nothing skipped, the resent chunk with the same ids', async () => {
    // Past HOLD_AFTER backfilled rows the receiver takes requests without answering: the chunk then in flight is
    // certainly unsettled (its progress unsaved) when the daemon dies, and must come again after the restart.
    const HOLD_AFTER = 3_000;
    let backfilledSeen = 0;
    let held = 0;
    const hooks = await bed.receiver((request) => {
      if (isBackfilled(request) && ++backfilledSeen > HOLD_AFTER) {
        held++;
        return { status: 200, delayMs: 60_000 };
      }
      return { status: 200 };
    });
    const setup = bed.setup({ webhooks: [{ targetUrl: hooks.url, operations: ['person.*'] }], backfill: { chunkSize: 500, pollInterval: '100ms' } });
    let daemon = await bed.walhook(setup);
    const id = await startBackfill(setup, ['--object', 'person', ...FILTER]);
    await waitFor(() => held >= 4, () => `requests held at the receiver mid-backfill; ${backfilledSeen} backfilled so far`, 60_000);
    const before = await backfillState(bed.db, setup, id);
    expect(before.status).toBe('running');
    expect(Number(before.rows_read)).toBeLessThan(UP_TO);
    await daemon.kill9();
    const deliveredBefore = new Map(hooks.requests.filter(isBackfilled).map((request) => [recordIdOf(request), request.json.id]));

    hooks.respond = () => ({ status: 200 });
    daemon = await bed.walhook(setup);
    const finished = await waitForBackfill(bed.db, setup, id, 'done');
    expect(loggedFor(daemon, id, 'backfill resumed')).toBe(true);
    const ids = await personIds();
    expect(Number(finished.rows_read)).toBe(ids.length);

    await waitFor(() => notBackfilled(hooks, ids).length === 0, () => `every person backfilled; ${notBackfilled(hooks, ids).length} missing`);
    // Rows sent before the kill and again after it carry the id they had: receivers dedupe on it.
    let resent = 0;
    for (const request of hooks.requests.filter(isBackfilled)) {
      const first = deliveredBefore.get(recordIdOf(request));
      if (first === undefined) continue;
      expect(request.json.id).toBe(first);
      resent++;
    }
    expect(resent, 'rows of the chunk in flight at the kill were sent again').toBeGreaterThan(deliveredBefore.size);
    await liveProbe(hooks, 800_001);
  }, 180_000);

  it('pauses and resumes where it was, and a cancelled backfill stops and stays cancelled', async () => {
    const paused = await bed.receiver();
    const cancelled = await bed.receiver();
    const pausedId = randomUUID();
    const cancelledId = randomUUID();
    const setup: WalhookSetup = bed.setup({
      webhooks: [
        { id: pausedId, targetUrl: paused.url, operations: ['person.created'] },
        { id: cancelledId, targetUrl: cancelled.url, operations: ['company.created'] },
      ],
      backfill: { chunkSize: 500, pollInterval: '100ms' },
    });
    const daemon = await bed.walhook(setup);

    // Those there when it starts: persons the probes add later may sort before its cursor.
    const ids = await personIds();
    const id = await startBackfill(setup, ['--object', 'person', ...FILTER, '--webhook', pausedId, '--rate', '2000']);
    await waitFor(async () => Number((await backfillState(bed.db, setup, id)).rows_read) > 0, 'the backfill to make progress');
    expect((await backfillCli(setup, ['pause', '--id', id])).status).toBe('paused');
    await waitFor(() => loggedFor(daemon, id, 'backfill paused'), 'the runner to stop the paused backfill');
    const atPause = await backfillState(bed.db, setup, id);
    expect(atPause.status).toBe('paused');
    expect(Number(atPause.rows_read)).toBeLessThan(ids.length);
    await liveProbe(paused, 800_002);
    // Still where it stopped: the runner left it.
    expect((await backfillState(bed.db, setup, id)).rows_read).toBe(atPause.rows_read);

    expect((await backfillCli(setup, ['resume', '--id', id])).status).toBe('pending');
    const finished = await waitForBackfill(bed.db, setup, id, 'done');
    expect(Number(finished.rows_total)).toBe(ids.length);
    expect(Number(finished.rows_read)).toBe(ids.length);
    await waitFor(() => notBackfilled(paused, ids).length === 0, () => `every person backfilled after the resume; ${notBackfilled(paused, ids).length} missing`);

    const other = await startBackfill(setup, ['--object', 'person', ...FILTER, '--webhook', cancelledId, '--rate', '1000']);
    await waitFor(async () => Number((await backfillState(bed.db, setup, other)).rows_read) > 0, 'the second backfill to make progress');
    expect((await backfillCli(setup, ['cancel', '--id', other])).status).toBe('cancelled');
    await waitFor(() => loggedFor(daemon, other, 'backfill cancelled'), 'the runner to stop the cancelled backfill');
    const stopped = await backfillState(bed.db, setup, other);
    expect(Number(stopped.rows_read)).toBeLessThan(ids.length);
    await liveProbe(paused, 800_003);
    expect(await backfillState(bed.db, setup, other)).toEqual(stopped);
    expect(backfilledIds(cancelled).size).toBeLessThan(ids.length);
    // A cancelled backfill is over: resuming it is refused with the reason.
    const refused = await promisify(execFile)(process.execPath, [CLI, 'backfill', 'resume', '--id', other, '--config', setup.file], { env: { PATH: process.env.PATH ?? '' } }).catch(
      (error: { code: number; stderr: string }) => error,
    );
    expect(refused).toMatchObject({ code: 1, stderr: expect.stringContaining('cannot resume a backfill that is cancelled') });
  }, 180_000);
});
