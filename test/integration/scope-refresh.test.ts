/**
 * A new Twenty workspace (schema) or custom object (table) created while
 * walhook runs is picked up within source.scopeRefreshInterval, with either
 * plugin: pgoutput through the publication, wal2json by restarting its stream
 * with the new table list.
 */
import { randomUUID } from 'node:crypto';
import { inject, describe, expect, it } from 'vitest';
import { useCrmTestBed } from '../harness/crm.js';
import { missingCapability, wal2jsonInstalled } from '../harness/capabilities.js';
import { waitFor } from '../harness/receiver.js';

const bed = useCrmTestBed('scope');
const noWal2json = missingCapability('wal2json', wal2jsonInstalled(inject('pgBinDir')), 'install postgresql-15-wal2json', 'scope refresh with wal2json');

describe.each([
  { plugin: 'pgoutput', skip: null },
  { plugin: 'wal2json', skip: noWal2json },
])('new schemas and tables with $plugin', ({ plugin, skip }) => {
  it.skipIf(skip !== null)('are streamed once the scope refresh saw them', async () => {
    const receiver = await bed.receiver();
    const setup = bed.setup({
      webhooks: [{ id: randomUUID(), targetUrl: receiver.url, operations: ['*.created'] }],
      source: { plugin, scopeRefreshInterval: '300ms' },
    });
    await bed.walhook(setup);
    const schema = `workspace_new${plugin}`;
    await bed.db.sql(`CREATE SCHEMA ${schema}; CREATE TABLE ${schema}._rocket (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), name text)`);
    // Rows written before the refresh added the table are not streamed (documented); wait for it, then write.
    await waitFor(
      async () => {
        await bed.db.sql(`INSERT INTO ${schema}._rocket (name) VALUES ('probe')`);
        return receiver.verified().some((request) => request.json.operation === 'rocket.created');
      },
      'a row of the new table to arrive',
      15_000,
      500,
    );
    expect(receiver.verified().every((request) => request.json.operation === 'rocket.created')).toBe(true);
  });
});
