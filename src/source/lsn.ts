/**
 * Log sequence numbers. PostgreSQL prints them as two hex halves (`0/15453A0`,
 * or zero-padded `00000000/015453A0` in some messages); they are compared and
 * stored as 64-bit integers, never as strings.
 */
export type Lsn = bigint;

const SLASH = 0x2f;
/** Hex digits a half has at most: each is 32 bits. */
const MAX_HALF_DIGITS = 8;

/** The value of hex digit `code` (a UTF-16 code unit), or -1 when it is none. */
function hexDigit(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  const lower = code | 0x20;
  return lower >= 0x61 && lower <= 0x66 ? lower - 0x57 : -1;
}

/**
 * Read digit by digit: this runs several times per streamed change (each
 * message's position, a transaction's commit LSNs), and a regular
 * expression's match array and the two hex strings BigInt would parse were
 * most of its cost. Each half fits a Number exactly (at most 32 bits).
 */
export function parseLsn(text: string): Lsn {
  let high = 0;
  let low = 0;
  let half = 0;
  let digits = 0;
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (code === SLASH && half === 0 && digits > 0) {
      half = 1;
      digits = 0;
      continue;
    }
    const digit = hexDigit(code);
    if (digit < 0 || ++digits > MAX_HALF_DIGITS) throw notAnLsn(text);
    if (half === 0) high = high * 16 + digit;
    else low = low * 16 + digit;
  }
  if (half === 0 || digits === 0) throw notAnLsn(text);
  return (BigInt(high) << 32n) | BigInt(low);
}

function notAnLsn(text: string): Error {
  return new Error(`not an LSN: ${JSON.stringify(text)}`);
}

export function formatLsn(lsn: Lsn): string {
  if (lsn < 0n || lsn > 0xffffffffffffffffn) throw new RangeError(`LSN out of range: ${lsn}`);
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}
