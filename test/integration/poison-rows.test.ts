/**
 * A row no webhook body can be built for (a jsonb value nested thousands
 * deep, which PostgreSQL accepts but JSON.stringify cannot serialise) is set
 * aside durably with what finds it, and the stream moves on: rows written
 * after it arrive, the slot passes it, and the connection is not restarted.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { currentWalLsn, insertPersons, useCrmTestBed, waitForSlotAt, WORKSPACE_SCHEMA } from '../harness/crm.js';
import { waitFor } from '../harness/receiver.js';
import { parseLsn } from '../../src/source/lsn.js';

const bed = useCrmTestBed('poison');

const DEPTH = 8_000;

describe('a row that cannot be rendered', () => {
  it('is set aside with its reason, table, key, commit LSN and change LSN, and later rows still arrive', async () => {
    const hooks = await bed.receiver();
    const setup = bed.setup({ webhooks: [{ id: randomUUID(), targetUrl: hooks.url }] });
    const daemon = await bed.walhook(setup);
    const { db } = bed;
    const [before] = await insertPersons(db, 1, 1);
    const [poison] = await db.sql<{ id: string; lsn: string }>(
      `INSERT INTO ${WORKSPACE_SCHEMA}.person ("nameFirstName", "emailsAdditionalEmails")
       VALUES ('Deep', (repeat('[', ${DEPTH}) || repeat(']', ${DEPTH}))::jsonb)
       RETURNING id, pg_current_wal_insert_lsn()::text AS lsn`,
    );
    const [after] = await insertPersons(db, 1, 3);
    const ids = () => new Set(hooks.verified().map((request) => (request.json.record as { id: string }).id));
    await waitFor(() => ids().has(before!.id) && ids().has(after!.id), 'the rows before and after the poison row', 60_000);
    expect(ids().has(poison!.id)).toBe(false);

    const query = () =>
      db.sql<{ table_name: string; record_key: { id: string }; reason: string; commit_lsn: string; change_lsn: string | null; operation: string }>(
        `SELECT table_name, record_key, reason, commit_lsn::text, change_lsn::text, operation FROM ${setup.stateSchema}.set_aside_changes`,
    );
    const problems = () => daemon.logs.filter((line) => line.level === 'error' || line.level === 50).map((line) => line.msg);
    await waitFor(async () => (await query()).length > 0, () => `the poison row in set_aside_changes (walhook logged: ${problems().join('; ')})`, 30_000);
    const setAside = await query();
    expect(setAside).toHaveLength(1);
    expect(setAside[0]).toMatchObject({ table_name: 'person', record_key: { id: poison!.id }, reason: 'nested_too_deep', operation: 'person.created' });
    // Its commit record starts at or after the insert position read inside the transaction, before the next row.
    const commitLsn = parseLsn(setAside[0]!.commit_lsn);
    expect(commitLsn).toBeGreaterThanOrEqual(parseLsn(poison!.lsn));
    expect(commitLsn).toBeLessThanOrEqual(after!.walLsn);
    // The change's own record: written after the previous row's commit, before the position read once it was inserted.
    expect(setAside[0]!.change_lsn, 'change_lsn of the set-aside row').not.toBeNull();
    const changeLsn = parseLsn(setAside[0]!.change_lsn!);
    expect(changeLsn).toBeGreaterThan(before!.walLsn);
    expect(changeLsn).toBeLessThan(parseLsn(poison!.lsn));

    await waitForSlotAt(db, setup.slot, await currentWalLsn(db), 'the slot to pass the poison row', 30_000);
    expect(daemon.logs.filter((line) => line.msg === 'replication streaming')).toHaveLength(1);
  }, 120_000);
});
