import { describe, expect, it } from 'vitest';
import { formatLsn, parseLsn } from '../../../src/source/lsn.js';

describe('LSN text', () => {
  it('reads both halves exactly, zero-padded or not, in either case, up to the largest LSN', () => {
    expect(parseLsn('0/0')).toBe(0n);
    expect(parseLsn('0/15453A0')).toBe(0x15453a0n);
    expect(parseLsn('00000000/015453a0')).toBe(0x15453a0n);
    expect(parseLsn('16/B374D848')).toBe(0x16_b374d848n);
    // Past 2^53, where a Number of the whole would round.
    expect(parseLsn('FFFFFFFF/FFFFFFFF')).toBe(0xffffffff_ffffffffn);
    expect(parseLsn('200000/1')).toBe((0x200000n << 32n) | 1n);
  });

  it('prints what PostgreSQL prints, and reads back what it printed', () => {
    expect(formatLsn(0n)).toBe('0/0');
    expect(formatLsn(0x16_b374d848n)).toBe('16/B374D848');
    expect(formatLsn(0xffffffff_ffffffffn)).toBe('FFFFFFFF/FFFFFFFF');
    for (const lsn of [1n, 0xffffffffn, 0x1_00000000n, 0x1fffff_fffffffffn, 0x123456_789abcden]) expect(parseLsn(formatLsn(lsn))).toBe(lsn);
  });

  it('refuses what is not an LSN, and LSNs out of range', () => {
    for (const text of ['', '0', '/0', '0/', '1/2/3', 'G/1', '0x1/2', '123456789/0', '0/123456789', ' 0/1', '0/1 ', '-1/0', '1.5/0']) {
      expect(() => parseLsn(text), text).toThrow(/not an LSN/);
    }
    expect(() => formatLsn(-1n)).toThrow(RangeError);
    expect(() => formatLsn(1n << 64n)).toThrow(RangeError);
  });
});
