import { describe, expect, it } from 'vitest';
import { READS_EVERYTHING, type FilterReads } from '../../../src/common/webhook-filter.js';
import { classifyChange } from '../../../src/events/mapping.js';
import { LazyEvent } from '../../../src/events/pending-event.js';
import type { TwentyMetadata } from '../../../src/events/twenty/metadata.js';
import type { JsonRecord } from '../../../src/events/types.js';
import { BUILTIN_TYPE_CATALOG } from '../../../src/events/values.js';
import type { RawTuple, RowChange, TableShape } from '../../../src/source/types.js';
import { METADATA, OPTIONS, POSITION, ROW, TABLE, WORKSPACE, column } from '../../fixtures/twenty-person.js';

const reading = (keys: string[], allUpdatedFields = false): FilterReads => ({ keys: new Set(keys), allUpdatedFields });
const lazy = (change: RowChange, metadata: TwentyMetadata | null = METADATA) => new LazyEvent(classifyChange(change, OPTIONS), POSITION, OPTIONS, BUILTIN_TYPE_CATALOG, metadata);
const update = (newRow: RawTuple, table: TableShape = TABLE, oldRow: RawTuple = ROW): RowChange => ({ kind: 'update', table, oldRow, newRow });
const picked = (record: JsonRecord | null, keys: string[]) => record && Object.fromEntries(keys.filter((key) => key in record).map((key) => [key, record[key]!]));

describe('LazyEvent', () => {
  it('knows its Twenty object, operation and workspace before decoding anything', () => {
    const event = lazy(update({ ...ROW, jobTitle: 'CTO' }));
    expect({ object: event.object, operation: event.operation, workspaceId: event.workspaceId }).toEqual({
      object: 'person',
      operation: 'person.updated',
      workspaceId: WORKSPACE,
    });
  });

  it('decodes only the fields a filter reads, in Twenty’s shape, with the values the whole event has', () => {
    const keys = ['name', 'jobTitle', 'companyId', 'address'];
    const event = lazy(update({ ...ROW, jobTitle: 'CTO', addressAddressLat: '48.85' }));
    const input = event.filterInput(reading(keys))!;
    const whole = event.event()!;
    expect(Object.keys(input.record).sort()).toEqual([...keys].sort());
    expect(input.record).toEqual(picked(whole.record, keys));
    expect(input.previousRecord).toEqual(picked(whole.previousRecord, keys));
    // Of the fields read, those that changed: what changedFields asks of updatedFields.
    expect(input.updatedFields).toEqual(['address', 'jobTitle']);
    expect(whole.updatedFields).toEqual(expect.arrayContaining(['address', 'jobTitle']));
    expect({ operation: input.operation, workspaceId: input.workspaceId }).toEqual({ operation: 'person.updated', workspaceId: WORKSPACE });
  });

  it('decodes only the columns a filter reads with the columns shape', () => {
    const event = lazy(update({ ...ROW, jobTitle: 'CTO' }), null);
    const input = event.filterInput(reading(['jobTitle', 'salaryAmountMicros', 'noSuchColumn']))!;
    expect(input.record).toEqual({ jobTitle: 'CTO', salaryAmountMicros: event.event()!.record.salaryAmountMicros });
    expect(input.previousRecord).toEqual({ jobTitle: 'Engineer', salaryAmountMicros: '120000000000' });
    expect(input.updatedFields).toEqual(['jobTitle']);
  });

  it('gives the whole event to a filter that reads whole records, or all of Twenty’s updatedFields', () => {
    const event = lazy(update({ ...ROW, jobTitle: 'CTO' }));
    expect(event.filterInput(READS_EVERYTHING)).toBe(event.event());
    expect(event.filterInput(reading(['jobTitle'], true))).toBe(event.event());
  });

  it('is no event when a Twenty update changes no sent field, yet a filter of other fields may read it', () => {
    const event = lazy(update({ ...ROW, updatedAt: '2025-02-11 09:00:00+00' }));
    expect(event.filterInput(reading(['jobTitle']))).toMatchObject({ updatedFields: [] });
    expect(event.event()).toBeNull();
    expect(event.filterInput(reading(['jobTitle']))).toBeNull();
  });

  it('never lets a filter read a webhook’s secret', () => {
    const table: TableShape = { schema: 'core', table: 'webhook', columns: [column('id', 25, true), column('targetUrl', 25), column('secret', 25)], replicaIdentity: 'full' };
    const row = { id: 'w1', targetUrl: 'https://receiver.example/a', secret: 's3cret' };
    const event = lazy(update({ ...row, targetUrl: 'https://receiver.example/b' }, table, row), null);
    const input = event.filterInput(reading(['secret', 'targetUrl']))!;
    expect(input.record).toEqual({ targetUrl: 'https://receiver.example/b' });
    expect(input.previousRecord).toEqual({ targetUrl: 'https://receiver.example/a' });
    expect(event.event()!.record).not.toHaveProperty('secret');
  });
});
