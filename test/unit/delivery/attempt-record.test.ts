import { describe, expect, it } from 'vitest';
import { attemptRecord } from '../../../src/delivery/retry-worker.js';

const ID = '0d5b2a8e-7c1f-4c8e-9a51-3f0e6b7d2c11';
const AT = new Date('2026-12-02T10:00:00.000Z');
const LATER = new Date('2026-12-02T10:05:00.000Z');

describe('attemptRecord', () => {
  it('counts a success as the next attempt and settles the row', () => {
    const record = attemptRecord(ID, 2, { delivered: true, result: { outcome: 'success', status: 204, durationMs: 12 } });
    expect(record).toMatchObject({ deliveryId: ID, attempt: 3, counted: true, status: 204, error: null, durationMs: 12, state: 'delivered', nextAttemptAt: null, deadReason: null });
  });

  it('counts a failure as the next attempt, with its retry time or its dead letter', () => {
    const failed = { outcome: 'failure' as const, status: 500, error: 'HTTP 500', durationMs: 30 };
    const retry = attemptRecord(ID, 0, { delivered: false, deferred: false, result: failed, step: { state: 'retrying', nextAttemptAt: LATER }, attemptedAt: AT });
    expect(retry).toEqual({ deliveryId: ID, attempt: 1, counted: true, attemptedAt: AT, status: 500, error: 'HTTP 500', durationMs: 30, state: 'retrying', nextAttemptAt: LATER, deadReason: null });
    const dead = attemptRecord(ID, 5, { delivered: false, deferred: false, result: { ...failed, status: undefined, error: 'timeout after 30000 ms' }, step: { state: 'dead', reason: 'retries_exhausted', nextAttemptAt: null }, attemptedAt: AT });
    expect(dead).toMatchObject({ attempt: 6, counted: true, status: null, state: 'dead', deadReason: 'retries_exhausted', nextAttemptAt: null });
  });

  it('keeps a deferral uncounted, in the state the row had, until the time it was deferred to', () => {
    const throttled = { outcome: 'failure' as const, status: 429, error: 'HTTP 429', durationMs: 4, retryAfterMs: 300_000 };
    const answered = attemptRecord(ID, 2, { delivered: false, deferred: true, until: LATER, result: throttled, reason: 'HTTP 429', attemptedAt: AT });
    expect(answered).toEqual({ deliveryId: ID, attempt: 2, counted: false, attemptedAt: AT, status: 429, error: 'HTTP 429', durationMs: 4, state: 'retrying', nextAttemptAt: LATER, deadReason: null });
    const heldBack = attemptRecord(ID, 0, { delivered: false, deferred: true, until: LATER, result: null, reason: 'not sent: circuit open', attemptedAt: AT });
    expect(heldBack).toMatchObject({ attempt: 0, counted: false, status: null, error: 'not sent: circuit open', durationMs: 0, state: 'pending', nextAttemptAt: LATER });
  });
});
