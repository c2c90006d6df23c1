import { describe, expect, it } from 'vitest';
import { formatByteSize, formatDuration, parseByteSize, parseDuration } from '../../../src/config/units.js';

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['30s', 30 * 1000],
    ['1m', 60 * 1000],
    ['1h', 60 * 60 * 1000],
    ['6h', 6 * 60 * 60 * 1000],
    ['1d', 24 * 60 * 60 * 1000],
    ['1.5s', 1500],
    [' 2 m ', 2 * 60 * 1000],
    ['250', 250],
    [250, 250],
    [0, 0],
  ])('reads %j as %d ms', (text, milliseconds) => {
    expect(parseDuration(text)).toBe(milliseconds);
  });

  it.each(['', '1w', '1M', '-1s', 's', '1 s s', '1e3', 'abc'])('refuses %j', (text) => {
    expect(() => parseDuration(text)).toThrow(RangeError);
  });

  it('refuses numbers that are not whole milliseconds', () => {
    expect(() => parseDuration(-5)).toThrow(/not a duration/);
    expect(() => parseDuration(1.5)).toThrow(RangeError);
    expect(() => parseDuration(Number.NaN)).toThrow(RangeError);
  });
});

describe('parseByteSize', () => {
  it.each([
    ['1MB', 1024 * 1024],
    ['512kB', 512 * 1024],
    ['512KB', 512 * 1024],
    ['1GiB', 1024 ** 3],
    ['1GB', 1024 ** 3],
    ['2TB', 2 * 1024 ** 4],
    ['100B', 100],
    ['100', 100],
    ['0.5MB', 512 * 1024],
    [4096, 4096],
  ])('reads %j as %d bytes', (text, bytes) => {
    expect(parseByteSize(text)).toBe(bytes);
  });

  it.each(['1XB', 'MB', '1 MB MB', '-1MB', '1mbit'])('refuses %j', (text) => {
    expect(() => parseByteSize(text)).toThrow(/not a size/);
  });
});

describe('formatByteSize and formatDuration', () => {
  it.each([
    [1024, '1kB'],
    [1024 ** 2, '1MB'],
    [1024 ** 3, '1GB'],
    [1536, '1536B'],
    [0, '0B'],
  ])('writes %d bytes as %j, which reads back the same', (bytes, text) => {
    expect(formatByteSize(bytes)).toBe(text);
    expect(parseByteSize(text)).toBe(bytes);
  });

  it.each([
    [1, '1ms'],
    [200, '200ms'],
    [60_000, '1m'],
    [90_000, '90s'],
    [86_400_000, '1d'],
  ])('writes %d ms as %j, which reads back the same', (milliseconds, text) => {
    expect(formatDuration(milliseconds)).toBe(text);
    expect(parseDuration(text)).toBe(milliseconds);
  });
});
