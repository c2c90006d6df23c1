import { describe, expect, it } from 'vitest';
import { parseTimelineHistory, timelineOf, type ServerIdentity } from '../../../src/source/server-identity.js';

/** A server on timeline 3: promoted at 0/3000000 (1 → 2), then recovered to a point at 0/5000100 (2 → 3). */
const HISTORY = '1\t0/3000000\tno recovery target specified\n\n# a comment\n2\t0/5000100\tbefore 2026-12-01 10:00:00+00\n';

describe('timeline history', () => {
  const server: ServerIdentity = { systemId: '1', timeline: 3, history: parseTimelineHistory(HISTORY) };

  it('parses parent timelines and switch points', () => {
    expect(server.history).toStrictEqual([
      { timeline: 1, endLsn: 0x3000000n },
      { timeline: 2, endLsn: 0x5000100n },
    ]);
  });

  it('puts each position on the timeline that wrote it: a switch point starts the child', () => {
    expect(timelineOf(server, 0x2ffffffn)).toBe(1);
    expect(timelineOf(server, 0x3000000n)).toBe(2);
    expect(timelineOf(server, 0x50000ffn)).toBe(2);
    expect(timelineOf(server, 0x5000100n)).toBe(3);
    expect(timelineOf({ systemId: '1', timeline: 1, history: [] }, 0x5000100n)).toBe(1);
  });

  it('refuses a line it cannot read', () => {
    expect(() => parseTimelineHistory('x\t0/1\n')).toThrow(/timeline history/);
  });
});
