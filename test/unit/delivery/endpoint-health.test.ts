import { describe, expect, it } from 'vitest';
import { admission, autoDisableReason, CLOSED, formatDuration, modeValue, nextHealth, shouldAutoDisable, type EndpointHealth, type HealthEvent } from '../../../src/delivery/endpoint-health.js';

const settings = { failures: 3, probeIntervalMs: 200 };
const run = (events: HealthEvent[], from: EndpointHealth = CLOSED) => events.reduce((state, event) => nextHealth(state, event, settings), from);
const failed = (at = 1_000): HealthEvent => ({ type: 'failed', at });

describe('nextHealth', () => {
  it('counts consecutive failures while closed, and opens at the threshold with the first probe one interval later', () => {
    expect(run([failed(), failed()])).toEqual({ mode: 'closed', failures: 2 });
    expect(run([failed(), failed(), failed(5_000)])).toEqual({ mode: 'open', probeAt: 5_200 });
  });

  it('a success in between starts the count again', () => {
    expect(run([failed(), failed(), { type: 'succeeded' }, failed(), failed()])).toEqual({ mode: 'closed', failures: 2 });
  });

  it('open → probing when the probe is sent; the probe succeeding closes, failing reopens for another interval', () => {
    const open = run([failed(), failed(), failed(1_000)]);
    const probing = nextHealth(open, { type: 'probeSent' }, settings);
    expect(probing).toEqual({ mode: 'probing' });
    expect(nextHealth(probing, { type: 'succeeded' }, settings)).toEqual(CLOSED);
    expect(nextHealth(probing, failed(3_000), settings)).toEqual({ mode: 'open', probeAt: 3_200 });
  });

  it('a late failure of a request sent before the breaker opened keeps the probe time; a late success closes it', () => {
    const open: EndpointHealth = { mode: 'open', probeAt: 1_200 };
    expect(nextHealth(open, failed(1_100), settings)).toBe(open);
    expect(nextHealth(open, { type: 'succeeded' }, settings)).toEqual(CLOSED);
  });

  it('probeSent means nothing unless open', () => {
    expect(nextHealth(CLOSED, { type: 'probeSent' }, settings)).toBe(CLOSED);
    const probing: EndpointHealth = { mode: 'probing' };
    expect(nextHealth(probing, { type: 'probeSent' }, settings)).toBe(probing);
  });

  it('with a threshold of 1 the first failure opens', () => {
    expect(nextHealth(CLOSED, failed(0), { failures: 1, probeIntervalMs: 30_000 })).toEqual({ mode: 'open', probeAt: 30_000 });
  });
});

describe('admission', () => {
  it('sends while closed, holds while open until the probe time, then lets one probe go, and holds while it is in flight', () => {
    expect(admission(CLOSED, 0)).toBe('send');
    expect(admission({ mode: 'closed', failures: 2 }, 0)).toBe('send');
    expect(admission({ mode: 'open', probeAt: 1_200 }, 1_199)).toBe('hold');
    expect(admission({ mode: 'open', probeAt: 1_200 }, 1_200)).toBe('probe');
    expect(admission({ mode: 'probing' }, 9_999)).toBe('hold');
  });
});

describe('modeValue', () => {
  it('is 0 closed, 1 open, 2 probing', () => {
    expect([modeValue('closed'), modeValue('open'), modeValue('probing')]).toEqual([0, 1, 2]);
  });
});

describe('auto-disable (delivery.disableAfter)', () => {
  const day = 86_400_000;

  it('disables once the failing streak has lasted disableAfter, not before, and never a webhook that is not failing', () => {
    expect(shouldAutoDisable(null, 10 * day, 5 * day)).toBe(false);
    expect(shouldAutoDisable(0, 5 * day - 1, 5 * day)).toBe(false);
    expect(shouldAutoDisable(0, 5 * day, 5 * day)).toBe(true);
    expect(shouldAutoDisable(1_000, 1_000 + 6 * day, 5 * day)).toBe(true);
    // A clock that went back (another instance marked it) is not a streak long enough.
    expect(shouldAutoDisable(2_000, 1_000, 5 * day)).toBe(false);
  });

  it('names the duration as the config writes it in the reason', () => {
    expect(autoDisableReason(5 * day)).toBe('failing for 5d without a success (delivery.disableAfter)');
    expect(formatDuration(36 * 3_600_000)).toBe('36h');
    expect(formatDuration(90_000)).toBe('90s');
    expect(formatDuration(1_000)).toBe('1s');
    expect(formatDuration(1_500)).toBe('1500ms');
  });
});
