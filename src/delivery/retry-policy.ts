/** What happens to a delivery after a failed attempt: retry later, or dead letter and why. */
import type { SendResult } from './http.js';

export type FailedSend = Extract<SendResult, { outcome: 'failure' }>;

export type NextStep =
  | { state: 'retrying'; nextAttemptAt: Date }
  | { state: 'dead'; reason: 'refused' | 'gone' | 'retries_exhausted'; nextAttemptAt: null };

/**
 * `attemptsMade` counts the attempt that just failed (1 = first). With the
 * default schedule [1m, 5m, 15m, 1h, 6h] a delivery gets six attempts; a
 * `Retry-After` longer than the scheduled wait is honoured.
 */
export function nextStep(result: FailedSend, attemptsMade: number, scheduleMs: readonly number[], now: Date): NextStep {
  if (result.refused) return { state: 'dead', reason: 'refused', nextAttemptAt: null };
  if (result.gone) return { state: 'dead', reason: 'gone', nextAttemptAt: null };
  const waitMs = scheduleMs[attemptsMade - 1];
  if (waitMs === undefined) return { state: 'dead', reason: 'retries_exhausted', nextAttemptAt: null };
  return { state: 'retrying', nextAttemptAt: new Date(now.getTime() + Math.max(waitMs, result.retryAfterMs ?? 0)) };
}

/**
 * How long a throttling answer asks walhook to wait before sending to that
 * endpoint again, or null for any other failure: a 429 Too Many Requests, or
 * a 503 Service Unavailable that carries a `Retry-After`. Its `Retry-After` is
 * honoured (`defaultMs` when a 429 has none or an unreadable one), cut to
 * `capMs` so a hostile header cannot park deliveries for ever. Such an answer
 * defers the delivery without counting an attempt: a receiver that sheds load
 * never dead-letters what it was sent. A bare 503 is an outage, not a request
 * to slow down: an ordinary failed attempt, which the circuit breaker counts.
 */
export function throttleWaitMs(result: FailedSend, defaultMs: number, capMs: number): number | null {
  if (result.status !== 429 && !(result.status === 503 && result.retryAfterMs !== undefined)) return null;
  return Math.max(0, Math.min(result.retryAfterMs ?? defaultMs, capMs));
}
