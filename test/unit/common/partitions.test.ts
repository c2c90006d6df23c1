import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { partitionName, partitionOfSchema, partitionTargets, tablesOfPartition } from '../../../src/common/partitions.js';
import { resolveConfig } from '../../../src/config/index.js';

const ONLY_DATABASE_URL = { WALHOOK_DATABASE_URL: 'postgres://walhook@127.0.0.1:5432/crm' };

describe('partitionOfSchema', () => {
  it('is the first 4 bytes of SHA-256 of the schema name modulo N (the documented contract)', () => {
    for (const schema of ['workspace_1wgvd1injqtife6y4rvfbu3h5', 'public', 'workspace_é']) {
      const word = createHash('sha256').update(schema, 'utf8').digest().readUInt32BE(0);
      for (const count of [2, 3, 4, 7, 64]) expect(partitionOfSchema(schema, count)).toBe(word % count);
    }
  });

  it('keeps fixed values across releases (a change would move workspaces between slots)', () => {
    // Computed apart from walhook: echo -n workspace_N | sha256sum, first 8 hex digits, modulo 4.
    expect([0, 1, 2, 3, 4, 5, 6, 7].map((n) => partitionOfSchema(`workspace_${n}`, 4))).toEqual([2, 0, 0, 1, 3, 2, 0, 1]);
    // sha256('public') begins efa1f375: 0xefa1f375 = 4020368245.
    expect(partitionOfSchema('public', 4)).toBe(4020368245 % 4);
    expect(partitionOfSchema('public', 7)).toBe(4020368245 % 7);
  });

  it('puts everything in partition 0 with one partition', () => {
    expect(partitionOfSchema('anything', 1)).toBe(0);
  });

  it('spreads many workspaces over every partition, none with more than twice its share', () => {
    const counts = [0, 0, 0, 0];
    for (let n = 0; n < 4_000; n++) counts[partitionOfSchema(`workspace_${n.toString(36)}`, 4)]!++;
    for (const count of counts) {
      expect(count).toBeGreaterThan(500);
      expect(count).toBeLessThan(2_000);
    }
  });
});

describe('partition names', () => {
  it("keeps today's slot and publication with one partition", () => {
    expect(partitionTargets({ slot: 'walhook', publication: 'walhook', partitions: 1 })).toEqual([
      { index: 0, count: 1, slot: 'walhook', publication: 'walhook' },
    ]);
  });

  it('suffixes every partition, the first included, with more than one', () => {
    expect(partitionTargets({ slot: 'crm_slot', publication: 'crm_pub', partitions: 3 }).map((t) => [t.slot, t.publication])).toEqual([
      ['crm_slot_p0', 'crm_pub_p0'],
      ['crm_slot_p1', 'crm_pub_p1'],
      ['crm_slot_p2', 'crm_pub_p2'],
    ]);
    expect(partitionName('walhook', 11, 12)).toBe('walhook_p11');
  });

  it("gives each partition exactly the tables of its schemas' hash", () => {
    const tables = Array.from({ length: 40 }, (_, n) => ({ schema: `workspace_${n}`, table: 'person' }));
    const parts = [0, 1, 2, 3].map((index) => tablesOfPartition(tables, { index, count: 4 }));
    expect(parts.flat().sort((a, b) => a.schema.localeCompare(b.schema))).toEqual([...tables].sort((a, b) => a.schema.localeCompare(b.schema)));
    parts.forEach((part, index) => part.forEach((table) => expect(partitionOfSchema(table.schema, 4)).toBe(index)));
    expect(tablesOfPartition(tables, { index: 0, count: 1 })).toBe(tables);
  });
});

describe('source.partitions', () => {
  it('defaults to 1', () => {
    expect(resolveConfig({}, ONLY_DATABASE_URL).source.partitions).toBe(1);
  });

  it('is read from the file and the environment', () => {
    expect(resolveConfig({ source: { partitions: 4 } }, ONLY_DATABASE_URL).source.partitions).toBe(4);
    expect(resolveConfig({}, { ...ONLY_DATABASE_URL, WALHOOK_SOURCE_PARTITIONS: '8' }).source.partitions).toBe(8);
  });

  it('refuses 0, more than 64, and names too long for the suffix', () => {
    const problems = (source: Record<string, unknown>) => {
      try {
        resolveConfig({ source }, ONLY_DATABASE_URL);
      } catch (error) {
        return (error as Error).message.split('\n').slice(1);
      }
      return [];
    };
    expect(problems({ partitions: 0 })).toEqual(['source.partitions: got 0 — expected a whole number of at least 1']);
    expect(problems({ partitions: 65 })).toEqual([expect.stringMatching(/^source\.partitions: got 65 — expected at most 64 partitions/)]);
    expect(problems({ partitions: 10, slot: 's'.repeat(61) })).toEqual([expect.stringMatching(/^source\.slot: got "s{61}" — expected a slot name short enough/)]);
    expect(problems({ partitions: 1, slot: 's'.repeat(63) })).toEqual([]);
  });
});
