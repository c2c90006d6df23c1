import { describe, expect, it } from 'vitest';
import { TokenBucket } from '../../../src/delivery/token-bucket.js';

/** A bucket on a clock the test moves. */
function bucket(rate: number) {
  const clock = { ms: 1_000_000 };
  return { clock, bucket: new TokenBucket(rate, () => clock.ms) };
}

/** How many of `n` reservations made now may go at once. */
function immediate(b: TokenBucket, n: number): number {
  return Array.from({ length: n }, () => b.reserve()).filter((wait) => wait === 0).length;
}

describe('TokenBucket', () => {
  it('lets a full second of requests go at once, then spaces the rest at the rate', () => {
    const { bucket: b } = bucket(5);
    expect(Array.from({ length: 8 }, () => b.reserve())).toEqual([0, 0, 0, 0, 0, 200, 400, 600]);
  });

  it('refills at the rate, never above its capacity', () => {
    const { clock, bucket: b } = bucket(10);
    expect(immediate(b, 10)).toBe(10);
    clock.ms += 300;
    expect(immediate(b, 10)).toBe(3);
    const idle = bucket(10);
    idle.clock.ms += 60_000;
    expect(immediate(idle.bucket, 100)).toBe(10);
  });

  it('holds a rate below one per second to one request per period, with a burst of one', () => {
    const { clock, bucket: b } = bucket(0.5);
    expect(b.capacity).toBe(1);
    expect(b.reserve()).toBe(0);
    expect(b.reserve()).toBe(2_000);
    clock.ms += 2_000;
    // The debt of the reservation above is paid by now: the next slot is one period later.
    expect(b.reserve()).toBe(2_000);
  });

  it('keeps the long-run rate: callers that wait as told send rate × time plus the first burst', () => {
    const { clock, bucket: b } = bucket(20);
    const start = clock.ms;
    // Four concurrent callers, each reserving, waiting what it is told, sending, and reserving again.
    const readyAt = [start, start, start, start];
    let sent = 0;
    while (true) {
      const caller = readyAt.indexOf(Math.min(...readyAt));
      clock.ms = readyAt[caller]!;
      const sendAt = clock.ms + b.reserve();
      if (sendAt >= start + 10_000) break;
      sent++;
      readyAt[caller] = sendAt + 5; // the request takes 5 ms
    }
    expect(sent).toBeGreaterThanOrEqual(20 * 10);
    expect(sent).toBeLessThanOrEqual(20 * 10 + 20);
  });

  it('adds nothing when the clock steps back', () => {
    const { clock, bucket: b } = bucket(1);
    expect(b.reserve()).toBe(0);
    clock.ms -= 5_000;
    expect(b.reserve()).toBe(1_000);
  });

  it('refuses a rate that is not positive', () => {
    expect(() => new TokenBucket(0)).toThrow(RangeError);
    expect(() => new TokenBucket(-1)).toThrow(RangeError);
    expect(() => new TokenBucket(Number.NaN)).toThrow(RangeError);
  });
});
