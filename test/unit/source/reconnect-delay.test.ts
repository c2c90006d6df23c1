import { describe, expect, it } from 'vitest';
import { HEALTHY_CONNECTION_MS, reconnectDelay } from '../../../src/source/replication.js';

const settings = { minDelayMs: 100, maxDelayMs: 1_000 };

describe('reconnectDelay', () => {
  it('keeps doubling while each start fails again quickly, up to the maximum', () => {
    let current = settings.minDelayMs;
    const waits: number[] = [];
    for (let attempt = 0; attempt < 6; attempt++) {
      const { waitMs, nextMs } = reconnectDelay(current, 50, settings);
      waits.push(waitMs);
      current = nextMs;
    }
    expect(waits).toEqual([100, 200, 400, 800, 1_000, 1_000]);
  });

  it('starts over after a connection that streamed long enough', () => {
    expect(reconnectDelay(800, HEALTHY_CONNECTION_MS - 1, settings)).toEqual({ waitMs: 800, nextMs: 1_000 });
    expect(reconnectDelay(800, HEALTHY_CONNECTION_MS, settings)).toEqual({ waitMs: 100, nextMs: 200 });
  });
});
