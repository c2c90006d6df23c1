import { describe, expect, it } from 'vitest';
import { layout, layoutRefusal } from '../../src/repartition.js';

const names = { slot: 'walhook', publication: 'walhook_pub' };

describe('layoutRefusal', () => {
  it('lets layouts with names of their own through: 1 ↔ N', () => {
    expect(layoutRefusal(names, 1, 4)).toBeNull();
    expect(layoutRefusal(names, 4, 1)).toBeNull();
    expect(layoutRefusal(names, 1, 2)).toBeNull();
  });

  it('refuses the same N', () => {
    expect(layoutRefusal(names, 4, 4)?.code).toBe('REPARTITION_SAME');
  });

  it('refuses layouts sharing slot names, naming them and the way through 1', () => {
    const refusal = layoutRefusal(names, 2, 4);
    expect(refusal?.code).toBe('REPARTITION_NAMES_SHARED');
    expect(refusal?.message).toContain('(walhook_p0, walhook_p1)');
    expect(refusal?.message).toContain('walhook repartition --partitions 1');
    expect(layoutRefusal(names, 8, 3)?.code).toBe('REPARTITION_NAMES_SHARED');
  });
});

describe('layout', () => {
  it('names the slots and publications as the daemon does', () => {
    expect(layout(names, 1)).toEqual([{ index: 0, count: 1, slot: 'walhook', publication: 'walhook_pub' }]);
    expect(layout(names, 2).map((target) => [target.slot, target.publication])).toEqual([
      ['walhook_p0', 'walhook_pub_p0'],
      ['walhook_p1', 'walhook_pub_p1'],
    ]);
  });
});
