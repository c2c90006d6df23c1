import { describe, expect, it } from 'vitest';
import { v5 as uuidV5 } from 'uuid';
import { backfillEventId, toBackfillEvent } from '../../../src/events/backfill.js';
import { EVENT_ID_NAMESPACE } from '../../../src/events/event-id.js';
import { toChangeEvent, type MappingOptions } from '../../../src/events/mapping.js';
import { DEFAULT_WORKSPACE_PATTERN } from '../../../src/events/naming.js';
import { BUILTIN_TYPE_CATALOG } from '../../../src/events/values.js';
import type { TableShape } from '../../../src/source/types.js';

const SCHEMA = 'workspace_1wgvd1injqtife6y4rvfbu3h5';
const TABLE: TableShape = {
  schema: SCHEMA,
  table: 'person',
  replicaIdentity: 'full',
  columns: [
    { name: 'id', type: { oid: 2950, name: null }, isKey: true },
    { name: 'score', type: { oid: 20, name: null }, isKey: true },
  ],
};
const ROW = { id: '0d5b2a8e-7c1f-4c8e-9a51-3f0e6b7d2c11', score: '9007199254740993' };
const KEY = JSON.stringify([ROW.id]);
const OPTIONS: MappingOptions = { objectNames: {}, workspacePattern: DEFAULT_WORKSPACE_PATTERN, twentyWorkspaceIds: true, softDeleteColumn: 'deletedAt' };
const AT = { commitLsn: 0x1_5453a0n, commitTime: '2024-03-04T10:30:00.000Z' };
const BACKFILL = '6f0b7e4e-1d2a-4c3b-8e5f-9a0b1c2d3e4f';

describe('backfilled rows as events', () => {
  it('carry the record a live insert of the row would, with the backfill action', () => {
    const event = toBackfillEvent({ backfillId: BACKFILL, action: 'backfilled', table: TABLE, row: ROW, key: KEY }, AT, OPTIONS, BUILTIN_TYPE_CATALOG);
    const live = toChangeEvent({ kind: 'insert', table: TABLE, newRow: ROW, oldRow: null }, { ...AT, commitLsnText: '0/15453A0', commitTimeMs: Date.parse(AT.commitTime), id: event.id, changeLsn: AT.commitLsn, changeLsnText: '0/15453A0' }, OPTIONS, BUILTIN_TYPE_CATALOG);
    expect(event).toEqual({ ...live, action: 'backfilled', operation: 'person.backfilled' });
    expect(event.record).toEqual({ id: ROW.id, score: '9007199254740993' });
    expect(event.previousRecord).toBeNull();
    const asCreated = toBackfillEvent({ backfillId: BACKFILL, action: 'created', table: TABLE, row: ROW, key: KEY }, AT, OPTIONS, BUILTIN_TYPE_CATALOG);
    expect(asCreated.operation).toBe('person.created');
  });

  it('have ids that depend only on the backfill, the table and the key: a chunk sent again keeps them', () => {
    const id = backfillEventId(BACKFILL, SCHEMA, 'person', KEY);
    const elsewhere = { commitLsn: 0x9_0000n, commitTime: '2025-01-01T00:00:00.000Z' };
    const resent = toBackfillEvent({ backfillId: BACKFILL, action: 'backfilled', table: TABLE, row: { ...ROW, score: '1' }, key: KEY }, elsewhere, OPTIONS, BUILTIN_TYPE_CATALOG);
    expect(resent.id).toBe(id);
    expect(backfillEventId('7f0b7e4e-1d2a-4c3b-8e5f-9a0b1c2d3e4f', SCHEMA, 'person', KEY)).not.toBe(id);
    expect(backfillEventId(BACKFILL, SCHEMA, 'company', KEY)).not.toBe(id);
    expect(backfillEventId(BACKFILL, SCHEMA, 'person', JSON.stringify(['other']))).not.toBe(id);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-/);
    // The RFC 4122 v5 id of that name: what earlier versions sent, so a backfill resumed across an upgrade keeps its ids.
    expect(id).toBe(uuidV5(`backfill/${BACKFILL}/${JSON.stringify([SCHEMA, 'person'])}/${KEY}`, EVENT_ID_NAMESPACE));
  });
});
