import { describe, expect, it } from 'vitest';
import { toChangeEvent, type ChangePosition, type MappingOptions } from '../../../src/events/mapping.js';
import { DEFAULT_WORKSPACE_PATTERN } from '../../../src/events/naming.js';
import type { Action } from '../../../src/common/operations.js';
import { BUILTIN_TYPE_CATALOG } from '../../../src/events/values.js';
import type { RawTuple, ReplicaIdentity, RowChange, TableColumn, TableShape } from '../../../src/source/types.js';

const SCHEMA = 'workspace_1wgvd1injqtife6y4rvfbu3h5';
const WORKSPACE = '20202020-1c25-4d02-bf25-6aeccf7ea419';
const ID = '0d5b2a8e-7c1f-4c8e-9a51-3f0e6b7d2c11';

const column = (name: string, oid: number, isKey = false): TableColumn => ({ name, type: { oid, name: null }, isKey });

const PERSON_COLUMNS = [
  column('id', 2950, true),
  column('name', 25),
  column('score', 20),
  column('tags', 1009),
  column('bio', 25),
  column('deletedAt', 1184),
];

const person = (replicaIdentity: ReplicaIdentity, table = 'person', columns = PERSON_COLUMNS): TableShape => ({
  schema: SCHEMA,
  table,
  columns,
  replicaIdentity,
});

const ROW: RawTuple = {
  id: ID,
  name: 'Ada',
  score: '9007199254740993',
  tags: '{vip,NULL}',
  bio: 'a long text',
  deletedAt: null,
};

const POSITION: ChangePosition = {
  id: '6c1d1f5e-0b8a-5d36-9f1e-3b7f0c2a9d41',
  commitLsn: 0x1_5453a0n,
  commitLsnText: '0/15453A0',
  changeLsn: 0x1_545300n,
  changeLsnText: '0/1545300',
  commitTime: '2024-03-04T10:30:00.000Z',
  commitTimeMs: Date.parse('2024-03-04T10:30:00.000Z'),
};

const TWENTY: MappingOptions = {
  objectNames: {},
  workspacePattern: DEFAULT_WORKSPACE_PATTERN,
  twentyWorkspaceIds: true,
  softDeleteColumn: 'deletedAt',
};
const PLAIN: MappingOptions = { ...TWENTY, softDeleteColumn: null };

const map = (change: RowChange, options = TWENTY) => toChangeEvent(change, POSITION, options, BUILTIN_TYPE_CATALOG);
const insert = (table: TableShape, newRow: RawTuple): RowChange => ({ kind: 'insert', table, newRow, oldRow: null });
const update = (table: TableShape, oldRow: RawTuple | null, newRow: RawTuple): RowChange => ({
  kind: 'update',
  table,
  newRow,
  oldRow,
});
const remove = (table: TableShape, oldRow: RawTuple | null): RowChange => ({ kind: 'delete', table, newRow: null, oldRow });

const DECODED = { id: ID, name: 'Ada', score: '9007199254740993', tags: ['vip', null], bio: 'a long text', deletedAt: null };

describe('toChangeEvent: identity and naming', () => {
  it('maps an insert to <object>.created with the decoded row and the WAL position', () => {
    const event = map(insert(person('default'), ROW));
    expect(event).toStrictEqual({
      id: POSITION.id,
      object: 'person',
      action: 'created',
      operation: 'person.created',
      workspaceId: WORKSPACE,
      schema: SCHEMA,
      table: 'person',
      record: DECODED,
      previousRecord: null,
      updatedFields: null,
      unavailableFields: [],
      recordKey: JSON.stringify([SCHEMA, 'person', ID]),
      commitLsn: POSITION.commitLsn,
      // Formatted and parsed once per transaction, then carried by every event and delivery of it.
      commitLsnText: '0/15453A0',
      changeLsn: POSITION.changeLsn,
      changeLsnText: POSITION.changeLsnText,
      commitTime: POSITION.commitTime,
      commitTimeMs: 1709548200000,
    });
  });

  it('keys the record by table and primary key: the same for insert, update and delete of one row, whatever else changed', () => {
    const key = JSON.stringify([SCHEMA, 'person', ID]);
    for (const identity of ['default', 'full'] as const) {
      const table = person(identity);
      const oldRow = identity === 'full' ? ROW : { id: ID };
      expect(map(insert(table, ROW)).recordKey).toBe(key);
      expect(map(update(table, oldRow, { ...ROW, name: 'Grace' })).recordKey).toBe(key);
      expect(map(remove(table, oldRow)).recordKey).toBe(key);
    }
    expect(map(insert(person('default'), { ...ROW, id: 'another' })).recordKey).not.toBe(key);
    expect(map(insert(person('default', 'company'), ROW)).recordKey).not.toBe(key);
  });

  it('has no record key when the table gives its rows none (FULL identity without an id column, or no identity)', () => {
    const noId = PERSON_COLUMNS.filter((c) => c.name !== 'id').map((c) => ({ ...c, isKey: true }));
    const rowWithoutId = Object.fromEntries(Object.entries(ROW).filter(([name]) => name !== 'id'));
    expect(map(insert(person('full', 'person', noId), rowWithoutId)).recordKey).toBeNull();
    const noKey = PERSON_COLUMNS.map((c) => ({ ...c, isKey: false }));
    expect(map(insert(person('nothing', 'person', noKey), ROW)).recordKey).toBeNull();
  });

  it('names custom objects without their underscore, honours overrides, and has no workspace outside one', () => {
    const pet = { ...person('default', '_pet'), schema: 'public' };
    const event = map(insert(pet, ROW));
    expect([event.object, event.operation, event.workspaceId]).toStrictEqual(['pet', 'pet.created', null]);
    const renamed = map(insert(pet, ROW), { ...TWENTY, objectNames: { 'public._pet': 'animal' } });
    expect(renamed.operation).toBe('animal.created');
  });

  it('orders record keys as the table orders its columns, not as the tuple does', () => {
    const shuffled: RawTuple = { deletedAt: null, bio: 'x', id: ID, tags: '{}', score: '1', name: 'n' };
    expect(Object.keys(map(insert(person('default'), shuffled)).record)).toStrictEqual(PERSON_COLUMNS.map((c) => c.name));
  });

  it('decodes values by column type and survives JSON re-serialisation', () => {
    const columns = [column('id', 23, true), column('at', 1184), column('data', 3802), column('blob', 17)];
    const raw: RawTuple = { id: '7', at: '2024-03-04 16:00:00.000001+05:30', data: '{"x": [1, "</script>"]}', blob: '\\x00ff' };
    const { record } = map(insert(person('default', 'thing', columns), raw));
    expect(record).toStrictEqual({ id: 7, at: '2024-03-04T10:30:00.000001Z', data: { x: [1, '</script>'] }, blob: 'AP8=' });
    const body = JSON.stringify(record);
    expect(JSON.stringify(JSON.parse(body))).toBe(body);
  });
});

describe('toChangeEvent: updates', () => {
  it('with REPLICA IDENTITY FULL lists exactly the changed columns and sends the full previous row', () => {
    const event = map(update(person('full'), ROW, { ...ROW, name: 'Grace', tags: '{vip}' }));
    expect(event.action).toBe('updated');
    expect(event.updatedFields).toStrictEqual(['name', 'tags']);
    expect(event.previousRecord).toStrictEqual(DECODED);
    expect(event.record).toStrictEqual({ ...DECODED, name: 'Grace', tags: ['vip'] });
  });

  it('counts a change to or from NULL as a change', () => {
    const event = map(update(person('full'), ROW, { ...ROW, name: null, bio: 'x' }), PLAIN);
    expect(event.updatedFields).toStrictEqual(['name', 'bio']);
  });

  it('without an old image uses the unchanged key as previousRecord and says updatedFields is unknown (null), not every column', () => {
    const event = map(update(person('default'), null, { ...ROW, name: 'Grace' }));
    expect(event.previousRecord).toStrictEqual({ id: ID });
    expect(event.updatedFields).toBeNull();
  });

  it('with a key-only old image updatedFields is unknown too, even though the key changed', () => {
    const newId = '1d5b2a8e-7c1f-4c8e-9a51-3f0e6b7d2c11';
    const event = map(update(person('default'), { id: ID }, { ...ROW, id: newId }));
    expect(event.previousRecord).toStrictEqual({ id: ID });
    expect(event.record.id).toBe(newId);
    expect(event.updatedFields).toBeNull();
  });

  it('drops the nulls pgoutput puts in the non-key columns of a key-only old image', () => {
    const keyTuple: RawTuple = { id: ID, name: null, score: null, tags: null, bio: null, deletedAt: null };
    const event = map(update(person('default'), keyTuple, { ...ROW, deletedAt: '2024-03-04 10:30:00+00' }));
    expect(event.previousRecord).toStrictEqual({ id: ID });
    expect(event.action).toBe('updated');
  });
});

describe('toChangeEvent: unchanged TOAST values', () => {
  it('fills them from a full old image, as unchanged', () => {
    const event = map(update(person('full'), ROW, { ...ROW, name: 'Grace', bio: undefined }));
    expect(event.record.bio).toBe('a long text');
    expect(event.unavailableFields).toStrictEqual([]);
    expect(event.updatedFields).toStrictEqual(['name']);
  });

  it('leaves them out and names them without an old image, whether undefined or absent', () => {
    const withUndefined = map(update(person('default'), null, { ...ROW, bio: undefined }));
    const { bio: _bio, ...withoutBio } = ROW;
    const absent = map(update(person('default'), null, withoutBio));
    for (const event of [withUndefined, absent]) {
      expect(event.record).not.toHaveProperty('bio');
      expect(event.unavailableFields).toStrictEqual(['bio']);
      expect(event.updatedFields).toBeNull();
    }
  });

  it('never turns one into null', () => {
    const event = map(update(person('default'), null, { ...ROW, bio: undefined, tags: undefined }));
    expect(JSON.stringify(event.record)).not.toMatch(/"(bio|tags)"/);
    expect(event.unavailableFields).toStrictEqual(['tags', 'bio']);
  });
});

describe('toChangeEvent: soft deletes', () => {
  const deletedRow = { ...ROW, deletedAt: '2024-03-04 10:30:00+00' };

  it.each<[string, Action, RawTuple, RawTuple]>([
    ['sets the column', 'deleted', ROW, deletedRow],
    ['clears the column', 'restored', deletedRow, ROW],
    ['moves it from one time to another', 'updated', deletedRow, { ...ROW, deletedAt: '2025-01-01 00:00:00+00' }],
    ['leaves it null', 'updated', ROW, { ...ROW, name: 'Grace' }],
  ])('an update that %s is %s', (_what, action, oldRow, newRow) => {
    const event = map(update(person('full'), oldRow, newRow));
    expect(event.action).toBe(action);
    expect(event.operation).toBe(`person.${action}`);
    expect(event.record.deletedAt).toStrictEqual(newRow.deletedAt === null ? null : expect.stringMatching(/Z$/));
  });

  it('is only an update without a soft-delete column configured', () => {
    expect(map(update(person('full'), ROW, deletedRow), PLAIN).action).toBe('updated');
  });

  it('is an update without the old value (REPLICA IDENTITY DEFAULT): a documented limitation', () => {
    expect(map(update(person('default'), null, deletedRow)).action).toBe('updated');
    expect(map(update(person('default'), { id: ID }, ROW)).action).toBe('updated');
  });
});

describe('toChangeEvent: deletes', () => {
  it('is destroyed with a soft-delete column, deleted without one', () => {
    expect(map(remove(person('full'), ROW)).operation).toBe('person.destroyed');
    expect(map(remove(person('full'), ROW), PLAIN).operation).toBe('person.deleted');
  });

  it('is deleted on a table that lacks the configured soft-delete column', () => {
    const columns = PERSON_COLUMNS.filter((c) => c.name !== 'deletedAt');
    expect(map(remove(person('full', 'person', columns), ROW)).action).toBe('deleted');
  });

  it('sends the old row as record and previousRecord, and no updatedFields', () => {
    const event = map(remove(person('full'), ROW));
    expect(event.record).toStrictEqual(DECODED);
    expect(event.previousRecord).toStrictEqual(DECODED);
    expect(event.previousRecord).not.toBe(event.record);
    expect(event.updatedFields).toBeNull();
  });

  it('sends only the key when that is all the server sent', () => {
    const event = map(remove(person('default'), { id: ID }));
    expect(event.record).toStrictEqual({ id: ID });
    expect(event.previousRecord).toStrictEqual({ id: ID });
    expect(event.unavailableFields).toStrictEqual([]);
  });
});

describe('toChangeEvent: column names that objects inherit', () => {
  it('keeps every such column as an own value of record and previousRecord, in table order', () => {
    const names = ['id', '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__'];
    const table = person('full', 'odd', names.map((name, index) => column(name, 25, index === 0)));
    const row = (suffix: string): RawTuple => Object.fromEntries(names.map((name) => [name, `${name}-${suffix}`]));
    const event = map(update(table, row('old'), row('new')));
    const expected = (suffix: string) => names.map((name) => [name, `${name}-${suffix}`]);
    expect(Object.entries(event.record)).toStrictEqual(expected('new'));
    expect(Object.entries(event.previousRecord!)).toStrictEqual(expected('old'));
    expect(Object.getPrototypeOf(event.record)).toBe(Object.prototype);
    expect(JSON.parse(JSON.stringify(event.record)).__proto__).toBe('__proto__-new');
  });
});
