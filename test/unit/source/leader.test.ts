import { describe, expect, it } from 'vitest';
import { leaseViewAt, mayTryLease, nextLeadership, noLeaderProblem, type Leadership, type LeadershipEvent, type LeaseTiming } from '../../../src/source/leader.js';
import type { LeaseRecord } from '../../../src/state/leases.js';

const timing: LeaseTiming = { leaseMs: 5_000, marginMs: 1_500, intervalMs: 1_000 };

function run(events: LeadershipEvent[], from: Leadership = { mode: 'stopped' }) {
  let state = from;
  const effects = [];
  for (const event of events) {
    const next = nextLeadership(state, event, timing);
    state = next.state;
    effects.push(next.effect);
  }
  return { state, effects };
}

describe('leadership state machine', () => {
  it('leads from the take until lease − margin after the statement was sent, not after its answer', () => {
    const { state, effects } = run([{ type: 'start' }, { type: 'acquired', term: 3, sentAt: 1_000, now: 1_800 }]);
    expect(state).toEqual({ mode: 'leading', term: 3, validUntil: 4_500 });
    expect(effects).toEqual([null, 'elected']);
  });

  it('does not lead on a take whose answer came after its useful life', () => {
    const { state, effects } = run([{ type: 'start' }, { type: 'acquired', term: 1, sentAt: 0, now: 3_500 }]);
    expect(state).toEqual({ mode: 'standby', notBefore: 0 });
    expect(effects).toEqual([null, null]);
  });

  it('each renewal moves the deadline from when it was sent; a late answer to an old one never moves it back', () => {
    const leading: Leadership = { mode: 'leading', term: 2, validUntil: 3_500 };
    const { state } = run(
      [
        { type: 'renewed', term: 2, sentAt: 2_000 },
        { type: 'renewed', term: 2, sentAt: 1_000 },
      ],
      leading,
    );
    expect(state).toEqual({ mode: 'leading', term: 2, validUntil: 5_500 });
  });

  it('stops streaming once the deadline passes without a renewal (a cut-off network), before the server expiry', () => {
    const leading: Leadership = { mode: 'leading', term: 2, validUntil: 3_500 };
    expect(run([{ type: 'clock', now: 3_499 }], leading).effects).toEqual([null]);
    const { state, effects } = run([{ type: 'clock', now: 3_500 }], leading);
    expect(state).toEqual({ mode: 'standby', notBefore: 0 });
    expect(effects).toEqual(['lost']);
    // The server lets others take it only after sentAt + leaseMs = 5_000: 1.5 s after this instance stopped.
    expect(3_500 + timing.marginMs).toBe(0 + timing.leaseMs);
  });

  it('stops at once when a renewal finds the lease taken; answers about another term change nothing', () => {
    const leading: Leadership = { mode: 'leading', term: 2, validUntil: 3_500 };
    expect(run([{ type: 'refused', term: 1 }], leading)).toEqual({ state: leading, effects: [null] });
    expect(run([{ type: 'renewed', term: 1, sentAt: 3_000 }], leading)).toEqual({ state: leading, effects: [null] });
    expect(run([{ type: 'refused', term: 2 }], leading)).toEqual({ state: { mode: 'standby', notBefore: 0 }, effects: ['lost'] });
  });

  it('resigning hands the lease back and rests before trying again; stopping a leader hands it back too', () => {
    const leading: Leadership = { mode: 'leading', term: 2, validUntil: 3_500 };
    expect(run([{ type: 'resign', now: 1_000, cooldownMs: 10_000 }], leading)).toEqual({
      state: { mode: 'standby', notBefore: 11_000 },
      effects: ['release'],
    });
    expect(run([{ type: 'stop' }], leading)).toEqual({ state: { mode: 'stopped' }, effects: ['release'] });
    expect(run([{ type: 'stop' }], { mode: 'standby', notBefore: 0 })).toEqual({ state: { mode: 'stopped' }, effects: [null] });
  });

  it('a rest after resigning ends early when its reason is gone; a leader or a stopped instance is not affected', () => {
    expect(run([{ type: 'rest-over' }], { mode: 'standby', notBefore: 11_000 })).toEqual({ state: { mode: 'standby', notBefore: 0 }, effects: [null] });
    const leading: Leadership = { mode: 'leading', term: 2, validUntil: 3_500 };
    expect(run([{ type: 'rest-over' }], leading)).toEqual({ state: leading, effects: [null] });
    expect(run([{ type: 'rest-over' }])).toEqual({ state: { mode: 'stopped' }, effects: [null] });
  });

  it('a standby ignores renewals, refusals and resignations; a stopped instance ignores takes', () => {
    const standby: Leadership = { mode: 'standby', notBefore: 0 };
    for (const event of [
      { type: 'renewed', term: 1, sentAt: 0 },
      { type: 'refused', term: 1 },
      { type: 'resign', now: 0, cooldownMs: 1 },
      { type: 'clock', now: 99_999 },
    ] satisfies LeadershipEvent[]) {
      expect(run([event], standby)).toEqual({ state: standby, effects: [null] });
    }
    expect(run([{ type: 'acquired', term: 1, sentAt: 0, now: 0 }])).toEqual({ state: { mode: 'stopped' }, effects: [null] });
  });
});

describe('what an instance knows of the lease', () => {
  const someoneElse: LeaseRecord = { holder: 'pod-a/7/abc', term: 4, secondsSinceRenewal: 1, secondsUntilExpiry: 4, expired: false, released: false };

  it('ages a reading by the time since it was made, and counts it expired once its server-side expiry has passed', () => {
    const reading = { record: someoneElse, at: 10_000 };
    expect(leaseViewAt(reading, false, null, 12_000, 0)).toEqual({ held: false, holder: 'pod-a/7/abc', secondsSinceRenewal: 3, expired: false, error: null });
    expect(leaseViewAt(reading, false, null, 14_000, 0).expired).toBe(true);
    expect(leaseViewAt({ record: { ...someoneElse, expired: true }, at: 10_000 }, false, null, 10_000, 0).expired).toBe(true);
  });

  it('a standby tries to take a lease only when it may succeed: never read, run out or released by now, or its own', () => {
    const reading = { record: someoneElse, at: 10_000 };
    expect(mayTryLease(null, 'pod-b/1/def', 10_000)).toBe(true);
    expect(mayTryLease({ record: null, at: 10_000 }, 'pod-b/1/def', 10_000)).toBe(true);
    expect(mayTryLease(reading, 'pod-b/1/def', 12_000), 'held elsewhere for 2 s more').toBe(false);
    expect(mayTryLease(reading, 'pod-b/1/def', 14_000), 'run out since the reading').toBe(true);
    expect(mayTryLease({ record: { ...someoneElse, released: true, expired: true }, at: 10_000 }, 'pod-b/1/def', 10_000)).toBe(true);
    expect(mayTryLease(reading, 'pod-a/7/abc', 12_000), 'its own').toBe(true);
  });

  it('a lease never taken is unrenewed since this instance began watching', () => {
    expect(leaseViewAt(null, false, 'permission denied', 7_000, 2_000)).toEqual({
      held: false,
      holder: null,
      secondsSinceRenewal: 5,
      expired: true,
      error: 'permission denied',
    });
    expect(leaseViewAt({ record: null, at: 5_000 }, false, null, 7_000, 2_000).secondsSinceRenewal).toBe(5);
  });

  it('is a readiness problem, naming the slot, the last holder and the error, only past the bound and only when not held here', () => {
    const view = { held: false, holder: 'pod-a/7/abc', secondsSinceRenewal: 16, expired: true, error: 'canceling statement due to lock timeout' };
    expect(noLeaderProblem({ ...view, secondsSinceRenewal: 15 }, 'walhook', 15_000)).toBeNull();
    expect(noLeaderProblem({ ...view, held: true }, 'walhook', 15_000)).toBeNull();
    expect(noLeaderProblem(view, 'walhook', 15_000)).toBe(
      "no walhook instance has renewed the leadership lease of slot 'walhook' for 16 s (last holder pod-a/7/abc, expired; " +
        'taking it fails: canceling statement due to lock timeout): nobody streams the slot and changes wait in it',
    );
    expect(noLeaderProblem({ ...view, holder: null, error: null }, 'walhook', 15_000)).toMatch(/\(it was never taken\)/);
  });
});
