/**
 * The stall watchdog: the last line of defence for "nothing stuck". The
 * stream is stalled when changes wait in the slot (WAL beyond the confirmed
 * position), none of its deliveries is in flight (so nothing will settle and
 * move it), and nothing arrived or was confirmed for `stallAfterMs`. Then
 * waiting helps nobody: the daemon logs it, reports it (metric, /readyz),
 * and recovers — first by resuming reading (a pause nothing undid), then,
 * while it stays stalled, by reconnecting every `stallAfterMs` (a walsender
 * or network path that went silent).
 *
 * Modes: `watching` → `stalled` (no progress for the bound; action resume)
 * → `stalled` (still none for another bound; action reconnect) → `watching`
 * (progress, or nothing left waiting).
 */

export type WatchdogMode = 'watching' | 'stalled';
export type WatchdogAction = 'none' | 'resume' | 'reconnect';

export interface WatchdogSample {
  /** Epoch ms. */
  now: number;
  /** This instance streams the slot (leader, connected). */
  streaming: boolean;
  /** WAL between the server's position and the slot's confirmed one; null when unknown. */
  waitingBytes: number | null;
  /** Deliveries of streamed changes not yet settled. */
  inFlight: number;
  /** Changes whenever the stream makes progress (messages received, position confirmed). */
  progress: string;
}

export interface WatchdogState {
  mode: WatchdogMode;
  progress: string;
  /** When progress was last seen (or the watch began). */
  progressAt: number;
  /** When the last recovery was tried, while stalled. */
  actedAt: number | null;
  /** Recoveries tried during this stall. */
  attempts: number;
}

export function initialWatchdog(now: number): WatchdogState {
  return { mode: 'watching', progress: '', progressAt: now, actedAt: null, attempts: 0 };
}

/** Every transition, in one place. */
export function watch(state: WatchdogState, sample: WatchdogSample, stallAfterMs: number): { state: WatchdogState; action: WatchdogAction } {
  const waiting = sample.streaming && (sample.waitingBytes ?? 0) > 0 && sample.inFlight === 0;
  if (!waiting || sample.progress !== state.progress) {
    return { state: { mode: 'watching', progress: sample.progress, progressAt: sample.now, actedAt: null, attempts: 0 }, action: 'none' };
  }
  if (state.mode === 'watching') {
    if (sample.now - state.progressAt < stallAfterMs) return { state, action: 'none' };
    return { state: { ...state, mode: 'stalled', actedAt: sample.now, attempts: 1 }, action: 'resume' };
  }
  if (sample.now - (state.actedAt ?? state.progressAt) < stallAfterMs) return { state, action: 'none' };
  return { state: { ...state, actedAt: sample.now, attempts: state.attempts + 1 }, action: 'reconnect' };
}

/** What /readyz says about a stall, or null when there is none. */
export function stallProblem(state: WatchdogState, sample: Pick<WatchdogSample, 'now' | 'waitingBytes'>): string | null {
  if (state.mode !== 'stalled') return null;
  const seconds = Math.round((sample.now - state.progressAt) / 1000);
  return (
    `the stream is stalled: ${sample.waitingBytes ?? 'some'} bytes of WAL wait in the slot, no delivery is in flight, ` +
    `and nothing was received or confirmed for ${seconds} s; recovering (${state.attempts} attempt(s): resume, then reconnect)`
  );
}
