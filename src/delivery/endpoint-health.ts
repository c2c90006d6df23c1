/**
 * An endpoint's circuit breaker, as a state machine with its transitions in
 * one place (`nextHealth`). Modes:
 *
 * - `closed`: requests go; consecutive failures are counted, and at
 *   `failures` of them the endpoint opens.
 * - `open`: nothing is sent; what would go waits in the state table (the
 *   slot keeps moving). Once `probeIntervalMs` has passed, the next request
 *   goes as the probe.
 * - `probing`: the one probe is in flight; nothing else is sent. Its success
 *   closes the breaker, its failure opens it again for another interval.
 *
 * Pure: times are passed in, so tests drive it without a clock.
 */

export const ENDPOINT_MODES = ['closed', 'open', 'probing'] as const;
export type EndpointMode = (typeof ENDPOINT_MODES)[number];

export type EndpointHealth =
  | { mode: 'closed'; failures: number }
  | { mode: 'open'; probeAt: number }
  | { mode: 'probing' };

export type HealthEvent =
  /** A request got an answer that shows the endpoint works (2xx). */
  | { type: 'succeeded' }
  /** A request failed in a way that says the endpoint is unwell (no answer, timeout, 5xx...). */
  | { type: 'failed'; at: number }
  /** The probe of an open endpoint is sent. */
  | { type: 'probeSent' };

export interface BreakerSettings {
  /** Consecutive failures that open the breaker. */
  failures: number;
  /** How long an open endpoint waits before its next probe. */
  probeIntervalMs: number;
}

export const CLOSED: EndpointHealth = { mode: 'closed', failures: 0 };

/** The health after `event`. */
export function nextHealth(state: EndpointHealth, event: HealthEvent, settings: BreakerSettings): EndpointHealth {
  switch (event.type) {
    case 'succeeded':
      // Any answer that works, the probe's or one sent before the breaker opened, shows the endpoint is back.
      return CLOSED;
    case 'failed':
      if (state.mode === 'closed') {
        const failures = state.failures + 1;
        return failures >= settings.failures ? { mode: 'open', probeAt: event.at + settings.probeIntervalMs } : { mode: 'closed', failures };
      }
      // The probe failed: open for another interval. A request sent before the breaker opened failing late changes nothing.
      return state.mode === 'probing' ? { mode: 'open', probeAt: event.at + settings.probeIntervalMs } : state;
    case 'probeSent':
      return state.mode === 'open' ? { mode: 'probing' } : state;
  }
}

/** What a request about to leave may do at `now`: go, go as the probe, or not be sent. */
export function admission(state: EndpointHealth, now: number): 'send' | 'probe' | 'hold' {
  if (state.mode === 'closed') return 'send';
  if (state.mode === 'open' && now >= state.probeAt) return 'probe';
  return 'hold';
}

/** The gauge value of a mode: 0 closed, 1 open, 2 probing. */
export function modeValue(mode: EndpointMode): number {
  return ENDPOINT_MODES.indexOf(mode);
}

/**
 * Whether a webhook failing without a success since `failingSince` (epoch
 * ms; null: not failing) has failed long enough at `now` to be disabled
 * (delivery.disableAfter).
 */
export function shouldAutoDisable(failingSince: number | null, now: number, disableAfterMs: number): boolean {
  return failingSince !== null && now - failingSince >= disableAfterMs;
}

/** A duration as the config writes it (`5d`, `36h`, `90s`, `1500ms`): the largest unit that divides it. */
export function formatDuration(ms: number): string {
  const units: [string, number][] = [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1_000]];
  const unit = units.find(([, size]) => ms > 0 && ms % size === 0);
  return unit ? `${ms / unit[1]}${unit[0]}` : `${ms}ms`;
}

/** Why a webhook that failed for `disableAfterMs` without a success was disabled (its disabledReason). */
export function autoDisableReason(disableAfterMs: number): string {
  return `failing for ${formatDuration(disableAfterMs)} without a success (delivery.disableAfter)`;
}
