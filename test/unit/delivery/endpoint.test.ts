import { describe, expect, it } from 'vitest';
import { Endpoint } from '../../../src/delivery/endpoint.js';

/** A task that runs until `finish` is called. */
function pending(): { task: () => Promise<void>; finish: () => void } {
  let finish = () => undefined as void;
  const done = new Promise<void>((resolve) => (finish = resolve));
  return { task: () => done, finish };
}

describe('Endpoint', () => {
  it('tells the room left under its bound, counting what waits and what runs, and never less than none', async () => {
    const endpoint = new Endpoint(1, 3, 3, () => undefined);
    const tasks = [pending(), pending(), pending(), pending()];
    expect(endpoint.room()).toBe(3);
    const runs = tasks.map(({ task }) => endpoint.run(task));
    expect(endpoint.backlog).toBe(4);
    expect(endpoint.full()).toBe(true);
    expect(endpoint.room()).toBe(0);
    for (const { finish } of tasks) finish();
    await Promise.all(runs);
    await endpoint.idle();
    expect(endpoint.room()).toBe(3);
    expect(endpoint.full()).toBe(false);
  });

  it('holds its read-ahead before it is full, counting what waits and what runs', async () => {
    const endpoint = new Endpoint(1, 4, 2, () => undefined);
    const tasks = [pending(), pending()];
    const first = endpoint.run(tasks[0]!.task);
    expect(endpoint.readAheadHeld()).toBe(false);
    const second = endpoint.run(tasks[1]!.task);
    expect(endpoint.readAheadHeld()).toBe(true);
    expect(endpoint.full()).toBe(false);
    for (const { finish } of tasks) finish();
    await Promise.all([first, second]);
    await endpoint.idle();
    expect(endpoint.readAheadHeld()).toBe(false);
  });

  describe('retryRoom', () => {
    const now = 1_000_000;
    const leaseMs = 60_000;

    it('is the room left in its queue while nothing holds it back', async () => {
      const endpoint = new Endpoint(1, 10, 10, () => undefined);
      expect(endpoint.retryRoom(null, leaseMs, now)).toBe(10);
      const tasks = [pending(), pending(), pending(), pending()];
      const runs = tasks.map(({ task }) => endpoint.run(task));
      expect(endpoint.retryRoom(null, leaseMs, now)).toBe(6);
      for (const { finish } of tasks) finish();
      await Promise.all(runs);
    });

    it('is none until the time its endpoint asked to be left alone to (Retry-After), and its room from then', () => {
      const endpoint = new Endpoint(1, 10, 10, () => undefined);
      endpoint.throttledUntil = now + 1;
      expect(endpoint.retryRoom(null, leaseMs, now)).toBe(0);
      expect(endpoint.retryRoom(null, leaseMs, now + 1)).toBe(10);
    });

    it('is none while its breaker probe is in flight, but its room while open: a due retry may go as the probe', () => {
      const endpoint = new Endpoint(1, 10, 10, () => undefined);
      endpoint.health = { mode: 'probing' };
      expect(endpoint.retryRoom(null, leaseMs, now)).toBe(0);
      endpoint.health = { mode: 'open', probeAt: now + leaseMs };
      expect(endpoint.retryRoom(null, leaseMs, now)).toBe(10);
      endpoint.health = { mode: 'closed', failures: 2 };
      expect(endpoint.retryRoom(null, leaseMs, now)).toBe(10);
    });

    it('with maxPerSecond, is no more than it sends in half a lease, at least one, and never more than its room', async () => {
      const endpoint = new Endpoint(1, 10, 10, () => undefined);
      // 0.2 a second for 30 s (half of the 60 s lease): 6.
      expect(endpoint.retryRoom(0.2, leaseMs, now)).toBe(6);
      expect(endpoint.retryRoom(100, leaseMs, now)).toBe(10);
      expect(endpoint.retryRoom(0.001, leaseMs, now)).toBe(1);
      const tasks = Array.from({ length: 10 }, pending);
      const runs = tasks.map(({ task }) => endpoint.run(task));
      expect(endpoint.retryRoom(0.001, leaseMs, now)).toBe(0);
      for (const { finish } of tasks) finish();
      await Promise.all(runs);
    });
  });

  it('holds the stream only while pressing past its read-ahead, until its streamed deliveries drain to half of it', () => {
    const endpoint = new Endpoint(1, 100, 4, () => undefined);
    for (let i = 0; i < 4; i++) endpoint.enter(false);
    expect(endpoint.holdingStream).toBe(0);
    endpoint.enter(true);
    expect(endpoint.holdingStream).toBe(5);
    endpoint.leave();
    endpoint.leave();
    expect(endpoint.holdingStream).toBe(3);
    endpoint.leave();
    expect(endpoint.holdingStream).toBe(0);
  });

  it('never holds the stream while failing or spilled: those deliveries go to the state table instead', () => {
    const endpoint = new Endpoint(1, 1, 1, () => undefined);
    endpoint.enter(true);
    endpoint.attempted(false);
    expect(endpoint.mode).toBe('failing');
    expect(endpoint.holdingStream).toBe(0);
    endpoint.attempted(true);
    expect(endpoint.holdingStream).toBe(1);
    endpoint.spill();
    expect(endpoint.mode).toBe('spilled');
    expect(endpoint.holdingStream).toBe(0);
  });

  it('leaves spilled when its queue runs empty, and tells flow control whenever a task is done', async () => {
    let changes = 0;
    const endpoint = new Endpoint(1, 1, 1, () => changes++);
    endpoint.spill();
    expect(endpoint.spilled).toBe(true);
    await endpoint.run(async () => undefined);
    await endpoint.idle();
    expect(endpoint.spilled).toBe(false);
    expect(changes).toBeGreaterThan(0);
  });
});
