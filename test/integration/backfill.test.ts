/**
 * Backfill beside the live stream (issue 18): existing rows are sent as
 * person.backfilled while the same rows are being updated, and per record the
 * last event a receiver gets is the row as the table holds it — a chunk row
 * never overwrites a newer live change (the watermark window drops it).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { describe, expect, inject, it } from 'vitest';
import { missingCapability, wal2jsonInstalled } from '../harness/capabilities.js';
import { isBackfilled, lastRecordById, recordIdOf, startBackfill, waitForBackfill } from '../harness/backfill.js';
import { insertPersons, useCrmTestBed, WORKSPACE_SCHEMA } from '../harness/crm.js';
import { graphqlClient } from '../harness/graphql.js';
import { waitFor } from '../harness/receiver.js';

const ROWS = 100_000;
const CHUNK = 500;
const TOKEN = randomBytes(16).toString('hex');

const bed = useCrmTestBed('backfill');

const wal2jsonMissing = missingCapability('wal2json', wal2jsonInstalled(inject('pgBinDir')), 'install postgresql-15-wal2json', 'backfill through wal2json');

describe('backfill consistent with the live stream', () => {
  it('sends every existing row, and per record the last event equals the table although the rows were updated meanwhile', async () => {
    for (let from = 1; from <= ROWS; from += 5_000) await insertPersons(bed.db, 5_000, from);
    const hooks = await bed.receiver();
    const webhookId = randomUUID();
    const setup = bed.setup({
      // One request of a record at a time (with the default concurrency across records): per record, arrival
      // order is dispatch order, which is what the watermark method orders.
      webhooks: [{ id: webhookId, targetUrl: hooks.url, operations: ['person.*'], ordering: 'record' }],
      backfill: { chunkSize: CHUNK, pollInterval: '100ms' },
    });
    await bed.walhook(setup);
    const id = await startBackfill(setup, ['--object', 'person']);

    // Each time the backfill saves its key cursor, rows of the next three chunks past it are updated: a chunk
    // already placed and waiting for its deliveries, one being read (live changes land inside its window), one
    // not read yet. Stopped once the backfill is done.
    let updates = 0;
    let done = false;
    const updater = (async () => {
      let cursor: string | null = null;
      for (let round = 0; !done; round++) {
        const [progress] = await bed.db.sql<{ cursor: string | null; status: string }>(
          `SELECT cursor->>0 AS cursor, status FROM ${setup.stateSchema}.backfills WHERE id = $1`,
          [id],
        );
        done = progress?.status === 'done';
        if (progress && progress.cursor !== cursor) {
          cursor = progress.cursor;
          const rows = await bed.db.sql(
            `UPDATE ${WORKSPACE_SCHEMA}.person SET "jobTitle" = 'update ' || $1::text, "updatedAt" = now()
              WHERE id IN (SELECT id FROM ${WORKSPACE_SCHEMA}.person WHERE id > coalesce($2::uuid, '00000000-0000-0000-0000-000000000000')
                            ORDER BY id LIMIT $3) AND random() < 0.01 RETURNING id`,
            [round, cursor, 3 * CHUNK],
          );
          updates += rows.length;
        }
        // Pacing of the load, not a wait for a result.
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    // The updater is stopped (and awaited) however the wait ends, so it never outlives the test's database.
    const finished = await waitForBackfill(bed.db, setup, id, 'done', 480_000).finally(async () => {
      done = true;
      await updater;
    });

    const table = await bed.db.sql<{ id: string; jobTitle: string }>(`SELECT id, "jobTitle" FROM ${WORKSPACE_SCHEMA}.person`);
    const mismatches = () => {
      const last = lastRecordById(hooks.requests);
      return table.filter((row) => last.get(row.id)?.jobTitle !== row.jobTitle);
    };
    await waitFor(
      () => mismatches().length === 0,
      () => {
        const wrong = mismatches();
        return `the last event of every person to equal the table; ${wrong.length} differ, e.g. ${JSON.stringify(wrong.slice(0, 3))} vs ${JSON.stringify(wrong.slice(0, 3).map((row) => lastRecordById(hooks.requests).get(row.id) ?? null))}`;
      },
      60_000,
      250,
    );
    const backfilled = new Set(hooks.requests.filter(isBackfilled).map(recordIdOf));
    expect(Number(finished.rows_total)).toBe(ROWS);
    expect(Number(finished.rows_read)).toBe(ROWS);
    expect(Number(finished.rows_sent) + Number(finished.rows_superseded)).toBe(ROWS);
    // Rows left out were changed live in their window: their live event carried them instead.
    expect(backfilled.size).toBe(Number(finished.rows_sent));
    expect(updates).toBeGreaterThan(0);
    expect(Number(finished.rows_superseded), 'live changes landed inside chunk windows').toBeGreaterThan(0);
    expect(hooks.verified().length).toBe(hooks.requests.length);
    const sample = hooks.requests.find(isBackfilled)!;
    expect(sample.json).toMatchObject({ operation: 'person.backfilled', webhookId, previousRecord: null, updatedFields: null });
  }, 600_000);

  it('sends only the rows a --where filter selects, to the one webhook named, and refuses a bad request with a reason', async () => {
    const all = await bed.receiver();
    const only = await bed.receiver();
    const onlyId = randomUUID();
    const setup = bed.setup({
      webhooks: [
        { targetUrl: all.url, operations: ['person.*'] },
        { id: onlyId, targetUrl: only.url, operations: ['company.created'] },
      ],
      backfill: { chunkSize: 7, pollInterval: '100ms' },
      api: { token: TOKEN },
    });
    await insertPersons(bed.db, 100, 600_001);
    const daemon = await bed.walhook(setup);
    const listening = daemon.logs.find((line) => line.msg === 'HTTP API listening') as { port: number } | undefined;
    const api = graphqlClient(`http://127.0.0.1:${listening!.port}`, TOKEN);

    const refused = await api.request(`mutation { startBackfill(input: { object: "persn" }) { id } }`);
    expect(refused.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(refused.errors?.[0]?.message).toMatch(/persn.*known: .*person/);

    const { startBackfill: started } = await api.data<{ startBackfill: { id: string; status: string } }>(
      `mutation ($input: StartBackfillInput!) { startBackfill(input: $input) { id status } }`,
      { input: { object: 'person', webhookId: onlyId, where: 'position BETWEEN 600001 AND 600100 AND position::int % 2 = 0' } },
    );
    expect(started.status).toBe('pending');
    const finished = await waitForBackfill(bed.db, setup, started.id, 'done');
    expect(Number(finished.rows_total)).toBe(50);
    await waitFor(() => only.requests.length >= 50, () => `50 backfilled persons at the named webhook; got ${only.requests.length}`);
    const positions = only.requests.map((request) => (request.json.record as { position: number }).position).sort((a, b) => a - b);
    expect(positions).toEqual(Array.from({ length: 50 }, (_, i) => 600_000 + 2 * (i + 1)));
    expect(new Set(only.requests.map((request) => request.json.operation))).toEqual(new Set(['person.backfilled']));
    // The other webhook matches person.backfilled but was not named.
    expect(all.requests.filter(isBackfilled)).toEqual([]);

    const { backfills } = await api.data<{ backfills: { id: string; status: string; rowsSent: number; where: string }[] }>(
      `{ backfills { id status rowsSent where } }`,
    );
    expect(backfills.find((b) => b.id === started.id)).toMatchObject({ status: 'done', rowsSent: 50 });

    // A filter PostgreSQL rejects fails the backfill with PostgreSQL's reason; the stream goes on.
    const bad = await api.data<{ startBackfill: { id: string } }>(`mutation { startBackfill(input: { object: "person", where: "no_such_column = 1" }) { id } }`);
    const failed = await waitForBackfill(bed.db, setup, bad.startBackfill.id, 'failed');
    expect(failed.error).toMatch(/no_such_column/);
    const [fresh] = await insertPersons(bed.db, 1, 900_001);
    await waitFor(() => all.requests.some((request) => recordIdOf(request) === fresh!.id), 'the fresh person to arrive live after the failed backfill');
  }, 120_000);

  it.skipIf(wal2jsonMissing !== null)('places chunks by the watermarks wal2json streams too', async () => {
    const hooks = await bed.receiver();
    const setup = bed.setup({
      webhooks: [{ targetUrl: hooks.url, operations: ['person.backfilled'] }],
      source: { plugin: 'wal2json' },
      backfill: { chunkSize: 16, pollInterval: '100ms' },
    });
    await insertPersons(bed.db, 100, 700_001);
    await bed.walhook(setup);
    const id = await startBackfill(setup, ['--object', 'person', '--where', 'position BETWEEN 700001 AND 700100']);
    const finished = await waitForBackfill(bed.db, setup, id, 'done');
    expect(Number(finished.rows_read)).toBe(100);
    await waitFor(() => hooks.requests.length >= 100, () => `100 backfilled persons through wal2json; got ${hooks.requests.length}`);
    expect(new Set(hooks.requests.map(recordIdOf)).size).toBe(100);
  }, 60_000);
});
