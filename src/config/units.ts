/**
 * Durations and byte sizes as operators write them (`30s`, `6h`, `1MB`),
 * turned into plain numbers (milliseconds, bytes) so the rest of the code
 * never parses units.
 */

export const DURATION_FORMAT = 'duration such as 500ms, 30s, 5m, 1h or 1d (a bare number is milliseconds)';
export const BYTE_SIZE_FORMAT = 'size such as 512kB, 1MB or 1GiB (1kB = 1024 bytes; a bare number is bytes)';

const MILLISECONDS_PER_UNIT: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

// As in PostgreSQL settings, the decimal-looking units are powers of 1024; the IEC spellings mean the same.
const BYTES_PER_UNIT: Record<string, number> = {
  b: 1,
  kb: 1024,
  kib: 1024,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
  tb: 1024 ** 4,
  tib: 1024 ** 4,
};

const DURATION_TEXT = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/;
const BYTE_SIZE_TEXT = /^(\d+(?:\.\d+)?)\s*([a-z]+)?$/i;

/** `'30s'` → 30000; a number (or digits alone) is taken as milliseconds. Throws a RangeError on anything else. */
export function parseDuration(value: string | number): number {
  return parseQuantity(value, DURATION_TEXT, (unit) => MILLISECONDS_PER_UNIT[unit ?? 'ms'], DURATION_FORMAT);
}

/** `'1MB'` → 1048576; a number (or digits alone) is taken as bytes. Throws a RangeError on anything else. */
export function parseByteSize(value: string | number): number {
  return parseQuantity(value, BYTE_SIZE_TEXT, (unit) => BYTES_PER_UNIT[(unit ?? 'b').toLowerCase()], BYTE_SIZE_FORMAT);
}

/** 1048576 → `'1MB'`: in the largest unit that holds it exactly, as an operator would write it. */
export function formatByteSize(bytes: number): string {
  return formatQuantity(bytes, [['GB', 1024 ** 3], ['MB', 1024 ** 2], ['kB', 1024]], 'B');
}

/** 60000 → `'60s'`: in the largest unit that holds it exactly, as an operator would write it. */
export function formatDuration(milliseconds: number): string {
  return formatQuantity(milliseconds, [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1_000]], 'ms');
}

function formatQuantity(value: number, units: readonly (readonly [string, number])[], smallest: string): string {
  const exact = units.find(([, factor]) => value !== 0 && value % factor === 0);
  return exact === undefined ? `${value}${smallest}` : `${value / exact[1]}${exact[0]}`;
}

function parseQuantity(
  value: string | number,
  syntax: RegExp,
  factorOf: (unit: string | undefined) => number | undefined,
  format: string,
): number {
  const notValid = () => new RangeError(`${JSON.stringify(value)} is not a ${format}`);
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) throw notValid();
    return value;
  }
  const match = syntax.exec(value.trim());
  const factor = match ? factorOf(match[2]) : undefined;
  if (!match || factor === undefined) throw notValid();
  const result = Math.round(Number(match[1]) * factor);
  if (!Number.isSafeInteger(result)) throw notValid();
  return result;
}
