import { describe, expect, it } from 'vitest';
import { nextStep, throttleWaitMs, type FailedSend } from '../../../src/delivery/retry-policy.js';

const schedule = [60_000, 300_000, 900_000, 3_600_000, 21_600_000];
const now = new Date('2026-01-01T00:00:00.000Z');
const failure = (extra: Partial<FailedSend> = {}): FailedSend => ({ outcome: 'failure', error: 'HTTP 500', status: 500, durationMs: 3, ...extra });

describe('nextStep', () => {
  it('follows the schedule 1 min, 5 min, 15 min, 1 h, 6 h', () => {
    const waits = schedule.map((_, i) => {
      const step = nextStep(failure(), i + 1, schedule, now);
      return step.state === 'retrying' ? step.nextAttemptAt.getTime() - now.getTime() : null;
    });
    expect(waits).toEqual(schedule);
  });

  it('dead-letters after the last scheduled retry fails', () => {
    expect(nextStep(failure(), schedule.length + 1, schedule, now)).toEqual({ state: 'dead', reason: 'retries_exhausted', nextAttemptAt: null });
  });

  it('honours a Retry-After longer than the scheduled wait, not a shorter one', () => {
    const longer = nextStep(failure({ retryAfterMs: 120_000 }), 1, schedule, now);
    const shorter = nextStep(failure({ retryAfterMs: 1_000 }), 1, schedule, now);
    expect(longer.nextAttemptAt?.getTime()).toBe(now.getTime() + 120_000);
    expect(shorter.nextAttemptAt?.getTime()).toBe(now.getTime() + 60_000);
  });

  it('never retries a refused destination or a 410 Gone', () => {
    expect(nextStep(failure({ refused: true }), 1, schedule, now).state).toBe('dead');
    expect(nextStep(failure({ gone: true, status: 410 }), 1, schedule, now)).toMatchObject({ state: 'dead', reason: 'gone' });
  });
});

describe('throttleWaitMs', () => {
  it('waits for Retry-After on 429 and 503, the default when a 429 has none', () => {
    expect(throttleWaitMs(failure({ status: 429, retryAfterMs: 2_000 }), 30_000, 60_000)).toBe(2_000);
    expect(throttleWaitMs(failure({ status: 503, retryAfterMs: 0 }), 30_000, 60_000)).toBe(0);
    expect(throttleWaitMs(failure({ status: 429 }), 30_000, 60_000)).toBe(30_000);
  });

  it('cuts a Retry-After longer than the cap', () => {
    expect(throttleWaitMs(failure({ status: 429, retryAfterMs: 21_600_000 }), 30_000, 60_000)).toBe(60_000);
  });

  it('is null for every other failure, even one carrying a wait', () => {
    expect(throttleWaitMs(failure(), 30_000, 60_000)).toBeNull();
    // A 503 without Retry-After is an outage: an ordinary failed attempt.
    expect(throttleWaitMs(failure({ status: 503 }), 30_000, 60_000)).toBeNull();
    expect(throttleWaitMs(failure({ status: undefined, error: 'timeout' }), 30_000, 60_000)).toBeNull();
    expect(throttleWaitMs(failure({ status: 500, retryAfterMs: 5_000 }), 30_000, 60_000)).toBeNull();
  });
});
