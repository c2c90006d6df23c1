import { describe, expect, it } from 'vitest';
import { planRecovery } from '../../../src/backfill/recovery.js';
import type { TableInScope } from '../../../src/source/setup.js';

function table(schema: string, name: string, columns: [string, string][]): TableInScope {
  return {
    schema,
    table: name,
    partitioned: false,
    identity: 'full',
    columns: [['id', 'uuid'] as [string, string], ...columns].map(([column, type], index) => ({ name: column, position: index + 1, type: { oid: 0, name: type }, isKey: column === 'id' })),
  };
}

const SINCE = new Date('2026-12-02T01:00:00.000Z');

describe('planRecovery', () => {
  it('filters each object on its timestamp column since the gap began, one backfill per object', () => {
    const plan = planRecovery(
      [table('ws_a', 'person', [['updatedAt', 'timestamp with time zone']]), table('ws_b', 'person', [['updatedAt', 'timestamp with time zone']]), table('ws_a', 'company', [['updatedAt', 'timestamp without time zone']])],
      (t) => t.table,
      'updatedAt',
      SINCE,
    );
    expect(plan.untimestamped).toEqual([]);
    expect(plan.backfills).toEqual([
      { object: 'person', tables: ['ws_a.person', 'ws_b.person'], whereSql: `"updatedAt" >= '2026-12-02T01:00:00.000Z'::timestamptz` },
      { object: 'company', tables: ['ws_a.company'], whereSql: `"updatedAt" >= '2026-12-02T01:00:00.000Z'::timestamptz` },
    ]);
  });

  it('backfills in full, and names, the tables without the column or with one that is no timestamp', () => {
    const plan = planRecovery(
      [table('ws_a', 'person', [['updatedAt', 'timestamp with time zone']]), table('ws_b', 'person', [['updatedAt', 'text']]), table('ws_a', 'tag', [['name', 'text']])],
      (t) => t.table,
      'updatedAt',
      SINCE,
    );
    expect(plan.untimestamped).toEqual(['ws_b.person', 'ws_a.tag']);
    expect(plan.backfills).toEqual([
      { object: 'person', tables: ['ws_a.person'], whereSql: expect.stringContaining('"updatedAt" >=') },
      { object: 'person', tables: ['ws_b.person'], whereSql: null },
      { object: 'tag', tables: ['ws_a.tag'], whereSql: null },
    ]);
  });

  it('quotes the configured column as an identifier', () => {
    const plan = planRecovery([table('s', 't', [['changed"at', 'date']])], (t) => t.table, 'changed"at', SINCE);
    expect(plan.backfills[0]!.whereSql).toBe(`"changed""at" >= '2026-12-02T01:00:00.000Z'::timestamptz`);
  });
});
