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
    const endpoint = new Endpoint(1, 3, () => undefined);
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

  it('holds the stream only while pressing past its bound, until its streamed deliveries drain to half', () => {
    const endpoint = new Endpoint(1, 4, () => undefined);
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
    const endpoint = new Endpoint(1, 1, () => undefined);
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
    const endpoint = new Endpoint(1, 1, () => changes++);
    endpoint.spill();
    expect(endpoint.spilled).toBe(true);
    await endpoint.run(async () => undefined);
    await endpoint.idle();
    expect(endpoint.spilled).toBe(false);
    expect(changes).toBeGreaterThan(0);
  });
});
