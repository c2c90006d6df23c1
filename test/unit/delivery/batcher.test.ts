import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  accumulatorLimits,
  BatchAccumulator,
  batchBody,
  batchIdOf,
  MEMBER_OVERHEAD_BYTES,
  type BatchMember,
} from '../../../src/delivery/batcher.js';

/** An accumulator on a clock the test moves. */
function accumulator(maxEvents: number, budgetBytes: number, lingerMs: number) {
  const clock = { ms: 1_000_000 };
  return { clock, batches: new BatchAccumulator<number>({ maxEvents, budgetBytes, lingerMs }, () => clock.ms) };
}

function member(bodyBytes: number): BatchMember {
  return { id: randomUUID(), body: JSON.stringify({ pad: 'x'.repeat(bodyBytes - 10) }) };
}

describe('BatchAccumulator', () => {
  it('completes a batch at maxEvents, in the order added', () => {
    const { batches } = accumulator(3, 1_000, 200);
    expect(batches.add(1, 10)).toEqual([]);
    expect(batches.add(2, 10)).toEqual([]);
    expect(batches.add(3, 10)).toEqual([[1, 2, 3]]);
    expect(batches.size).toBe(0);
    expect(batches.dueAt()).toBeNull();
  });

  it('closes a batch before the item that would take it past its budget (commas counted), which starts the next', () => {
    const { batches } = accumulator(100, 32, 200);
    expect(batches.add(1, 10)).toEqual([]);
    expect(batches.add(2, 10)).toEqual([]);
    // 10 + 1 + 10 + 1 + 10 = 32 fits exactly and fills the budget.
    expect(batches.add(3, 10)).toEqual([[1, 2, 3]]);
    expect(batches.add(4, 20)).toEqual([]);
    expect(batches.add(5, 12)).toEqual([[4]]);
    expect(batches.take()).toEqual([5]);
  });

  it('sends an item larger than the budget alone, closing the batch before it', () => {
    const { batches } = accumulator(100, 50, 200);
    batches.add(1, 10);
    expect(batches.add(2, 80)).toEqual([[1], [2]]);
    expect(batches.size).toBe(0);
  });

  it('is due linger after its first item, not its last', () => {
    const { clock, batches } = accumulator(100, 1_000, 200);
    batches.add(1, 10);
    clock.ms += 150;
    batches.add(2, 10);
    expect(batches.dueAt()).toBe(1_000_200);
    clock.ms += 49;
    expect(batches.takeDue()).toBeNull();
    clock.ms += 1;
    expect(batches.takeDue()).toEqual([1, 2]);
    expect(batches.takeDue()).toBeNull();
    clock.ms += 1_000;
    batches.add(3, 10);
    expect(batches.dueAt()).toBe(clock.ms + 200);
  });
});

describe('batch bodies', () => {
  it('hold each event id and body unchanged, in order, and survive JSON.parse + JSON.stringify byte for byte', () => {
    const members = [member(40), member(60), { id: randomUUID(), body: '{"event":"person.created","data":{"name":"é"}}' }];
    const id = batchIdOf(members.map((m) => m.id));
    const body = batchBody(id, 'a-webhook', members);
    const parsed = JSON.parse(body) as { batchId: string; webhookId: string; count: number; events: { id: string; body: unknown }[] };
    expect(parsed.batchId).toBe(id);
    expect(parsed.webhookId).toBe('a-webhook');
    expect(parsed.count).toBe(3);
    expect(parsed.events.map((event) => event.id)).toEqual(members.map((m) => m.id));
    expect(parsed.events.map((event) => JSON.stringify(event.body))).toEqual(members.map((m) => m.body));
    expect(JSON.stringify(parsed)).toBe(body);
  });

  it('have an id that depends only on their members, in order', () => {
    const ids = [randomUUID(), randomUUID()];
    expect(batchIdOf(ids)).toBe(batchIdOf([...ids]));
    expect(batchIdOf(ids)).not.toBe(batchIdOf([...ids].reverse()));
    expect(batchIdOf(ids)).not.toBe(batchIdOf(ids.slice(0, 1)));
  });

  it.each([
    [10, 2_000],
    [100, 5_000],
    [3, 1_024],
  ])('never exceed maxBytes with the budget the policy gives (maxEvents %i, maxBytes %i)', (maxEvents, maxBytes) => {
    const limits = accumulatorLimits({ maxEvents, maxBytes, linger: 200 }, 1024 ** 2);
    const batches = new BatchAccumulator<BatchMember>(limits);
    const sent: BatchMember[][] = [];
    for (let i = 0; i < 500; i++) {
      const next = member(20 + ((i * 37) % 300));
      sent.push(...batches.add(next, Buffer.byteLength(next.body) + MEMBER_OVERHEAD_BYTES));
    }
    sent.push(batches.take());
    for (const members of sent) {
      expect(members.length).toBeLessThanOrEqual(maxEvents);
      expect(Buffer.byteLength(batchBody(batchIdOf(members.map((m) => m.id)), randomUUID(), members))).toBeLessThanOrEqual(maxBytes);
    }
    expect(sent.flat()).toHaveLength(500);
  });

  it('cap the budget at the payload limit when maxBytes is larger', () => {
    expect(accumulatorLimits({ maxEvents: 10, maxBytes: 10_000_000, linger: 1 }, 5_000).budgetBytes).toBeLessThan(5_000);
  });
});
