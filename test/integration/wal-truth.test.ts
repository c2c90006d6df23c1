/**
 * The WAL decides what is delivered and under which id, never walhook's view
 * of the scope at the time: a change streamed again after a scope refresh
 * keeps its id, updates written before a table lost its key are delivered,
 * and a publication altered behind walhook's back is repaired (or reported on
 * /readyz when walhook may not change it).
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, inject, it } from 'vitest';
import { WORKSPACE_SCHEMA, useCrmTestBed } from '../harness/crm.js';
import { missingCapability, wal2jsonInstalled } from '../harness/capabilities.js';
import { probe, useInstances } from '../harness/operations.js';
import { waitFor, type ReceivedRequest } from '../harness/receiver.js';

const bed = useCrmTestBed('waltruth');
const instances = useInstances();
const noWal2json = missingCapability('wal2json', wal2jsonInstalled(inject('pgBinDir')), 'install postgresql-15-wal2json', 'WAL-decides tests with wal2json');

const operation = (request: ReceivedRequest) => request.json.operation as string;
const idOf = (request: ReceivedRequest) => request.json.id as string;

describe('event ids depend only on the WAL', () => {
  it.skipIf(noWal2json !== null)('wal2json: a transaction streamed again after the scope grew keeps its ids, and no other event takes one', async () => {
    // The first person.created is held, so the transaction is still unconfirmed when the refresh reconnects.
    const receiver = await bed.receiver((request, index) => ({ status: 200, delayMs: index === 0 && operation(request) === 'person.created' ? 4000 : 0 }));
    const setup = bed.setup({
      webhooks: [{ id: randomUUID(), targetUrl: receiver.url, operations: ['*.created'] }],
      source: { plugin: 'wal2json', scopeRefreshInterval: '300ms' },
    });
    await bed.walhook(setup);
    // The new table comes into scope in the very transaction that writes to it and to person.
    await bed.db.sql(`
      BEGIN;
      CREATE TABLE ${WORKSPACE_SCHEMA}._ticket (id int PRIMARY KEY, title text);
      INSERT INTO ${WORKSPACE_SCHEMA}._ticket VALUES (1, 'first ticket');
      INSERT INTO ${WORKSPACE_SCHEMA}.person ("nameFirstName") VALUES ('Ada');
      COMMIT;`);
    await waitFor(() => receiver.verified().some((request) => operation(request) === 'ticket.created'), 'ticket.created after the refresh', 30_000);
    await waitFor(() => receiver.requests.length === receiver.verified().length, 'only signed requests');
    const person = receiver.verified().filter((request) => operation(request) === 'person.created');
    const ticket = receiver.verified().filter((request) => operation(request) === 'ticket.created');
    expect(person.length, 'person.created was streamed before and after the reconnect').toBeGreaterThanOrEqual(1);
    expect(new Set(person.map(idOf)).size, 'person.created ids').toBe(1);
    expect(new Set(ticket.map(idOf)).size, 'ticket.created ids').toBe(1);
    expect(idOf(ticket[0]!)).not.toBe(idOf(person[0]!));
  });
});

describe.each([
  { plugin: 'pgoutput', skip: null },
  { plugin: 'wal2json', skip: noWal2json },
])('changes the plugin sent are delivered ($plugin)', ({ plugin, skip }) => {
  it.skipIf(skip !== null)('updates written before the primary key was dropped arrive after a restart', async () => {
    const table = `_gadget_${plugin}`;
    await bed.db.sql(`CREATE TABLE ${WORKSPACE_SCHEMA}.${table} (id int PRIMARY KEY, name text)`);
    const receiver = await bed.receiver();
    const setup = bed.setup({ webhooks: [{ id: randomUUID(), targetUrl: receiver.url, operations: [`gadget_${plugin}.*`] }], source: { plugin } });
    const first = await bed.walhook(setup);
    await bed.db.sql(`INSERT INTO ${WORKSPACE_SCHEMA}.${table} VALUES (1, 'v0')`);
    await waitFor(() => receiver.verified().length === 1, 'the insert before the stop');
    expect(await first.stop()).toBe(0);

    // Written while walhook is down: five updates under the key, then the key goes.
    for (let version = 1; version <= 5; version++) {
      await bed.db.sql(`UPDATE ${WORKSPACE_SCHEMA}.${table} SET name = 'v${version}' WHERE id = 1`);
    }
    await bed.db.sql(`ALTER TABLE ${WORKSPACE_SCHEMA}.${table} DROP CONSTRAINT ${table}_pkey`);
    await bed.walhook(setup);
    const updates = () => receiver.verified().filter((request) => operation(request) === `gadget_${plugin}.updated`);
    await waitFor(() => updates().length >= 5, 'the five updates written before the key was dropped', 30_000);
    expect(updates().map((request) => (request.json.record as { name: string }).name)).toStrictEqual(['v1', 'v2', 'v3', 'v4', 'v5']);

    // The keyless table now streams inserts only, and the CRM can still update it.
    await bed.db.sql(`UPDATE ${WORKSPACE_SCHEMA}.${table} SET name = 'v6' WHERE id = 1`);
    await bed.db.sql(`INSERT INTO ${WORKSPACE_SCHEMA}.${table} VALUES (2, 'after')`);
    await waitFor(() => receiver.verified().some((request) => operation(request) === `gadget_${plugin}.created` && (request.json.record as { id: number }).id === 2), 'an insert after the restart');
  });
});

describe('a publication altered behind walhook', () => {
  it('is repaired with a warning, and changes written afterwards arrive', async () => {
    const receiver = await bed.receiver();
    const setup = bed.setup({ webhooks: [{ id: randomUUID(), targetUrl: receiver.url }], source: { scopeRefreshInterval: '300ms' } });
    const daemon = await bed.walhook(setup);
    await bed.db.sql(`ALTER PUBLICATION ${setup.slot} DROP TABLE ${WORKSPACE_SCHEMA}.person`);
    await waitFor(
      () => daemon.logs.some((line) => line.level === 'warn' && String(line.msg).includes(`does not publish ${WORKSPACE_SCHEMA}.person`)),
      'a warning that the publication lost person',
    );
    const [published] = await bed.db.sql<{ count: number }>(
      `SELECT count(*)::int AS count FROM pg_publication_tables WHERE pubname = $1 AND schemaname = $2 AND tablename = 'person'`,
      [setup.slot, WORKSPACE_SCHEMA],
    );
    expect(published?.count).toBe(1);
    await bed.db.sql(`INSERT INTO ${WORKSPACE_SCHEMA}.person ("nameFirstName") VALUES ('after the repair')`);
    await waitFor(() => receiver.verified().length === 1, 'the person written after the repair');
  });

  /** walhook on publications the operator made (createPublication: false), and its /readyz as last seen. */
  async function onOperatorPublications({ insertsOnly }: { insertsOnly: boolean }) {
    const receiver = await bed.receiver();
    const setup = bed.setup({
      webhooks: [{ id: randomUUID(), targetUrl: receiver.url }],
      source: { scopeRefreshInterval: '300ms', createPublication: false, schemas: [WORKSPACE_SCHEMA], excludeTables: [`${WORKSPACE_SCHEMA}._*`] },
    });
    await bed.db.sql(
      `CREATE PUBLICATION ${setup.slot} FOR TABLE ${WORKSPACE_SCHEMA}.company, ${WORKSPACE_SCHEMA}.person, ${WORKSPACE_SCHEMA}.opportunity`,
    );
    if (insertsOnly) await bed.db.sql(`CREATE PUBLICATION ${setup.slot}_inserts WITH (publish = 'insert')`);
    const daemon = await instances.start(setup.file, { streaming: insertsOnly });
    let ready = await probe(daemon.api, '/readyz');
    return {
      setup,
      readyIs: async (status: number) => (ready = await probe(daemon.api, '/readyz')).status === status,
      problems: () => ready.body.problems ?? [],
      seen: () => `(last /readyz: ${ready.status} ${JSON.stringify(ready.body)})`,
    };
  }

  it('makes /readyz report it when walhook may not change the publication', async () => {
    // As docs/deploy.md has the operator create them: both, the inserts-only one empty while every table has a key.
    const { setup, readyIs, problems, seen } = await onOperatorPublications({ insertsOnly: true });
    await waitFor(() => readyIs(200), () => `ready with the publication as configured ${seen()}`);
    await bed.db.sql(`ALTER PUBLICATION ${setup.slot} DROP TABLE ${WORKSPACE_SCHEMA}.person`);
    await waitFor(
      async () => (await readyIs(503)) && problems().some((problem) => problem.includes(`does not publish ${WORKSPACE_SCHEMA}.person`)),
      () => `/readyz to report the publication without person ${seen()}`,
    );
    expect(problems().join('\n')).toMatch(/createPublication is false/);
    await bed.db.sql(`ALTER PUBLICATION ${setup.slot} ADD TABLE ${WORKSPACE_SCHEMA}.person`);
    await waitFor(() => readyIs(200), () => `ready again once the publication is fixed ${seen()}`);
  });

  it('makes /readyz report a missing inserts-only publication when walhook may not create it', async () => {
    const { setup, readyIs, problems, seen } = await onOperatorPublications({ insertsOnly: false });
    const missing = `publication ${setup.slot}_inserts does not exist`;
    await waitFor(
      async () => (await readyIs(503)) && problems().some((problem) => problem.includes(missing)),
      () => `/readyz to report that ${setup.slot}_inserts is missing ${seen()}`,
    );
    expect(problems().join('\n')).toMatch(/createPublication is false/);
  });
});
