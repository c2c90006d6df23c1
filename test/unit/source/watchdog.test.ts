import { describe, expect, it } from 'vitest';
import { initialWatchdog, stallProblem, watch, type WatchdogSample, type WatchdogState } from '../../../src/source/watchdog.js';

const STALL_MS = 1_000;
const stuck = (now: number, progress = 'p1'): WatchdogSample => ({ now, streaming: true, waitingBytes: 4_096, inFlight: 0, progress });

/** Feeds `samples` in order; returns the actions and the final state. */
function run(samples: WatchdogSample[], state: WatchdogState = initialWatchdog(0)) {
  const actions: string[] = [];
  for (const sample of samples) {
    const next = watch(state, sample, STALL_MS);
    state = next.state;
    actions.push(next.action);
  }
  return { actions, state };
}

describe('watch', () => {
  it('resumes once no progress was made for the bound, then reconnects every bound while it stays stalled', () => {
    const { actions, state } = run([stuck(0), stuck(500), stuck(1_000), stuck(1_500), stuck(2_000), stuck(3_000)]);
    expect(actions).toEqual(['none', 'none', 'resume', 'none', 'reconnect', 'reconnect']);
    expect(state).toMatchObject({ mode: 'stalled', attempts: 3 });
  });

  it('is not a stall while deliveries are in flight, nothing waits in the slot, or the stream is not connected', () => {
    for (const change of [{ inFlight: 3 }, { waitingBytes: 0 }, { waitingBytes: null }, { streaming: false }]) {
      const { actions, state } = run([0, 1_000, 2_000, 3_000].map((now) => ({ ...stuck(now), ...change })));
      expect(actions, JSON.stringify(change)).toEqual(['none', 'none', 'none', 'none']);
      expect(state.mode).toBe('watching');
    }
  });

  it('counts any progress (a message, a confirmation) as a sign of life, and a stall ends with it', () => {
    const { actions, state } = run([stuck(0), stuck(900, 'p2'), stuck(1_800, 'p2'), stuck(2_000, 'p2'), stuck(2_100, 'p3')]);
    expect(actions).toEqual(['none', 'none', 'none', 'resume', 'none']);
    expect(state).toMatchObject({ mode: 'watching', attempts: 0, progressAt: 2_100 });
  });
});

describe('stallProblem', () => {
  it('says what is stuck for /readyz while stalled, and nothing otherwise', () => {
    const { state } = run([stuck(0), stuck(1_000)]);
    expect(stallProblem(state, { now: 2_000, waitingBytes: 4_096 })).toMatch(/stream is stalled: 4096 bytes of WAL wait in the slot.*for 2 s/);
    expect(stallProblem(initialWatchdog(0), { now: 2_000, waitingBytes: 4_096 })).toBeNull();
  });
});
