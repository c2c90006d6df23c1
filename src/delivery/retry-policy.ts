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
