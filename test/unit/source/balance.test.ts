import pino from 'pino';
import { describe, expect, it } from 'vitest';
import {
  mayClaim,
  nextClaim,
  PartitionBalancer,
  partitionQuota,
  partitionsToHandOver,
  surplusPartitions,
  type ClaimEvent,
  type ClaimMode,
} from '../../../src/source/balance.js';

describe('the balance rule', () => {
  it('gives each replica at most ⌈partitions / live replicas⌉, all of them to one alone', () => {
    expect(partitionQuota(4, 1)).toBe(4);
    expect(partitionQuota(4, 2)).toBe(2);
    expect(partitionQuota(4, 3)).toBe(2);
    expect(partitionQuota(4, 5)).toBe(1);
    expect(partitionQuota(5, 2)).toBe(3);
    // Before any replica is counted (never below one: this replica is alive).
    expect(partitionQuota(4, 0)).toBe(4);
  });

  it('covers every partition whenever each replica fills its quota', () => {
    for (let partitions = 1; partitions <= 16; partitions++) {
      for (let live = 1; live <= 8; live++) expect(partitionQuota(partitions, live) * live).toBeGreaterThanOrEqual(partitions);
    }
  });

  it('hands over the highest partitions beyond the quota, whatever order they were taken in', () => {
    expect(surplusPartitions([3, 0, 2, 1], 2)).toEqual([2, 3]);
    expect(surplusPartitions([1, 3], 2)).toEqual([]);
    expect(surplusPartitions([], 1)).toEqual([]);
  });
});

describe('what a replica hands over', () => {
  it('what is beyond its quota when a replica joins', () => {
    expect(partitionsToHandOver('a', [0, 1, 2, 3], [{ id: 'b', held: 0 }], 4)).toEqual([2, 3]);
  });

  it('one partition, from the most loaded replica only (greatest id among equals), when another holds two fewer', () => {
    // 4 over 3 replicas: 2, 2, 0 becomes 2, 1, 1 — one replica moves, not both.
    const others = (me: string) => [{ id: 'a', held: 2 }, { id: 'b', held: 2 }, { id: 'c', held: 0 }].filter((replica) => replica.id !== me);
    expect(partitionsToHandOver('b', [1, 3], others('b'), 4)).toEqual([3]);
    expect(partitionsToHandOver('a', [0, 2], others('a'), 4)).toEqual([]);
    expect(partitionsToHandOver('c', [], others('c'), 4)).toEqual([]);
  });

  it('nothing while a partition is free (someone under quota takes it) or the counts differ by one at most', () => {
    expect(partitionsToHandOver('b', [1, 3], [{ id: 'a', held: 1 }, { id: 'c', held: 0 }], 4)).toEqual([]);
    expect(partitionsToHandOver('a', [0, 2], [{ id: 'b', held: 1 }, { id: 'c', held: 1 }], 4)).toEqual([]);
    expect(partitionsToHandOver('a', [0, 1, 2, 3], [], 4)).toEqual([]);
  });
});

describe('the claim of one partition', () => {
  function run(events: ClaimEvent[], from: ClaimMode = 'standby') {
    let mode = from;
    const effects = [];
    for (const event of events) {
      const next = nextClaim(mode, event);
      mode = next.mode;
      effects.push(next.effect);
    }
    return { mode, effects };
  }

  it('leads once elected, hands over when surplus, and stands by again once handed over', () => {
    expect(run(['elected', 'surplus', 'handed-over'])).toEqual({ mode: 'standby', effects: [null, 'hand-over', null] });
  });

  it('hands over only what it leads, once', () => {
    expect(run(['surplus'])).toEqual({ mode: 'standby', effects: [null] });
    expect(run(['surplus'], 'handing-over')).toEqual({ mode: 'handing-over', effects: [null] });
  });

  it('a lost lease stands by from anywhere, and a late hand-over changes nothing after it', () => {
    expect(run(['lost'], 'leading').mode).toBe('standby');
    expect(run(['lost', 'handed-over'], 'handing-over')).toEqual({ mode: 'standby', effects: [null, null] });
  });

  it('tries only while standing by with room under a known quota, counting attempts in flight', () => {
    expect(mayClaim('standby', 1, 0, 2)).toBe(true);
    expect(mayClaim('standby', 1, 1, 2)).toBe(false);
    expect(mayClaim('standby', 2, 0, 2)).toBe(false);
    expect(mayClaim('standby', 0, 0, null)).toBe(false);
    expect(mayClaim('leading', 0, 0, 4)).toBe(false);
    expect(mayClaim('handing-over', 0, 0, 4)).toBe(false);
  });
});

describe('PartitionBalancer', () => {
  /** A state database whose replicas table holds `others.count` replicas besides this one, holding no lease. */
  function balancer(others: { count: number }, handedOver: number[], left: { count: number } = { count: 0 }) {
    const db = { query: async () => ({ rows: Array.from({ length: others.count }, (_, n) => ({ id: `other${n}`, held: 0 })) }) } as never;
    return new PartitionBalancer(
      {
        db,
        schema: 'walhook',
        replica: 'me',
        leaseNames: ['slot:s_p0', 'slot:s_p1', 'slot:s_p2', 'slot:s_p3'],
        intervalMs: 60_000,
        ttlMs: 6_000,
        handOver: async (index) => void handedOver.push(index),
        replicaLeft: () => left.count++,
      },
      pino({ level: 'silent' }),
    );
  }

  it('lets no election try before the first heartbeat, then up to the quota with attempts in flight counted', async () => {
    const others = { count: 1 };
    const subject = balancer(others, []);
    expect(subject.gateFor(0).enter()).toBe(false);
    await subject.start();
    await subject.stop();
    expect(subject.quota).toBe(2);
    const [a, b, c] = [subject.gateFor(0), subject.gateFor(1), subject.gateFor(2)];
    expect(a.enter()).toBe(true);
    expect(b.enter()).toBe(true);
    expect(c.enter()).toBe(false);
    a.leave(true);
    b.leave(false);
    expect(subject.held).toEqual([0]);
    expect(c.enter()).toBe(true);
    c.leave(true);
    expect(subject.held).toEqual([0, 2]);
    expect(subject.gateFor(3).enter()).toBe(false);
  });

  it('hands over the partitions beyond the quota when a replica joins', async () => {
    const others = { count: 0 };
    const handedOver: number[] = [];
    const subject = balancer(others, handedOver);
    await subject.start();
    for (const index of [0, 1, 2, 3]) {
      const gate = subject.gateFor(index);
      expect(gate.enter()).toBe(true);
      gate.leave(true);
    }
    expect(subject.held).toEqual([0, 1, 2, 3]);
    others.count = 1;
    await (subject as unknown as { round(): Promise<void> }).round();
    await subject.stop();
    expect(handedOver).toEqual([2, 3]);
    expect(subject.held).toEqual([0, 1]);
    expect(subject.modeOf(3)).toBe('standby');
    // At the quota again: no election of this replica tries to take them back.
    expect(subject.gateFor(3).enter()).toBe(false);
  });

  it('says when a replica left, so that partitions handed over to it need not wait out their rest', async () => {
    const others = { count: 1 };
    const left = { count: 0 };
    const subject = balancer(others, [], left);
    await subject.start();
    const round = () => (subject as unknown as { round(): Promise<void> }).round();
    await round();
    expect(left.count).toBe(0);
    others.count = 0;
    await round();
    await subject.stop();
    expect(left.count).toBe(1);
    expect(subject.quota).toBe(4);
  });
});
