import { describe, expect, it } from 'vitest';
import type { SendResult } from '../../../src/delivery/http.js';
import { RecentAttempts } from '../../../src/delivery/recent-attempts.js';
import { toWebhook, type Webhook } from '../../../src/delivery/registry.js';

const MINUTE = 60_000;
const start = Date.parse('2026-01-01T12:00:30.000Z');

function webhook(id: string): Webhook {
  return toWebhook({ id, targetUrl: 'https://example.com/hook', operations: ['*.*'], description: '', format: 'record', signatures: [], secrets: [], source: 'api' });
}

const ok: SendResult = { outcome: 'success', status: 200, durationMs: 12 };
const failed: SendResult = { outcome: 'failure', status: 503, error: 'HTTP 503', durationMs: 40 };
const noAnswer: SendResult = { outcome: 'failure', error: 'connection refused', durationMs: 1 };

/** A RecentAttempts whose clock the test moves. */
function withClock(kept?: number) {
  const clock = { now: start };
  return { clock, recent: new RecentAttempts(kept, () => clock.now) };
}

describe('RecentAttempts', () => {
  it('keeps each webhook\'s attempts, newest first, as the dispatcher reports them', () => {
    const { clock, recent } = withClock();
    recent.attempted(webhook('a'), ok, Date.parse('2026-01-01T12:00:00Z'), 'delivery-1');
    clock.now += 1_000;
    recent.attempted(webhook('a'), failed, Date.parse('2026-01-01T12:00:00Z'), 'delivery-2');
    recent.attempted(webhook('b'), noAnswer, Date.parse('2026-01-01T12:00:00Z'), 'delivery-3');

    expect(recent.latest('a', 10)).toEqual([
      { deliveryId: 'delivery-2', attemptedAt: '2026-01-01T12:00:31.000Z', succeeded: false, status: 503, durationMs: 40, error: 'HTTP 503' },
      { deliveryId: 'delivery-1', attemptedAt: '2026-01-01T12:00:30.000Z', succeeded: true, status: 200, durationMs: 12, error: null },
    ]);
    expect(recent.latest('b', 10)).toEqual([expect.objectContaining({ status: null, error: 'connection refused', succeeded: false })]);
    expect(recent.latest('a', 1).map((attempt) => attempt.deliveryId)).toEqual(['delivery-2']);
    expect(recent.latest('unknown', 10)).toEqual([]);
  });

  it('keeps only the latest attempts for the log, but counts every attempt of the last hour', () => {
    const { recent } = withClock(3);
    for (let n = 1; n <= 5; n++) recent.record('a', { deliveryId: `d${n}`, succeeded: n !== 5, status: 200, durationMs: 1, error: null });
    expect(recent.latest('a', 10).map((attempt) => attempt.deliveryId)).toEqual(['d5', 'd4', 'd3']);
    expect(recent.lastHour('a')).toEqual({ succeeded: 4, failed: 1 });
  });

  it('drops attempts from the hourly counts once their minute is more than an hour old', () => {
    const { clock, recent } = withClock();
    const attempt = (succeeded: boolean) => recent.record('a', { deliveryId: 'd', succeeded, status: null, durationMs: 1, error: null });
    attempt(true);
    clock.now += 30 * MINUTE;
    attempt(false);
    clock.now += 29 * MINUTE;
    expect(recent.lastHour('a')).toEqual({ succeeded: 1, failed: 1 });
    clock.now += MINUTE;
    expect(recent.lastHour('a')).toEqual({ succeeded: 0, failed: 1 });
    clock.now += 30 * MINUTE;
    expect(recent.lastHour('a')).toEqual({ succeeded: 0, failed: 0 });
    expect(recent.latest('a', 10)).toHaveLength(2);
  });

  it('forgets a webhook', () => {
    const { recent } = withClock();
    recent.record('a', { deliveryId: 'd', succeeded: true, status: 200, durationMs: 1, error: null });
    recent.forget('a');
    expect(recent.latest('a', 10)).toEqual([]);
    expect(recent.lastHour('a')).toEqual({ succeeded: 0, failed: 0 });
  });
});
