import { describe, expect, it } from 'vitest';
import { pathFor, RecordGate } from '../../../src/delivery/record-order.js';

const WEBHOOK = 'b2f1c7de-0000-4000-8000-000000000001';
const OTHER_WEBHOOK = 'b2f1c7de-0000-4000-8000-000000000002';
const A = '["public","person","a"]';
const B = '["public","person","b"]';

describe('record order: which path a new change of a record takes', () => {
  it('takes the fast path only while its record is free; else behind the earlier change, where that is', () => {
    expect(pathFor('free')).toBe('fast');
    expect(pathFor('inMemory')).toBe('afterInMemory');
    expect(pathFor('waiting')).toBe('table');
  });
});

describe('RecordGate', () => {
  it('holds a record while one of its deliveries is in memory, and only that record of that webhook', () => {
    const gate = new RecordGate();
    let settled = 0;
    const settle = gate.track(WEBHOOK, A, () => settled++);
    expect(gate.mode(WEBHOOK, A)).toBe('inMemory');
    expect(gate.mode(WEBHOOK, B)).toBe('free');
    expect(gate.mode(OTHER_WEBHOOK, A)).toBe('free');
    settle();
    expect(settled).toBe(1);
    expect(gate.mode(WEBHOOK, A)).toBe('free');
  });

  it('stays inMemory until the last of several deliveries of the record settles', () => {
    const gate = new RecordGate();
    const first = gate.track(WEBHOOK, A, () => undefined);
    const second = gate.track(WEBHOOK, A, () => undefined);
    first();
    expect(gate.mode(WEBHOOK, A)).toBe('inMemory');
    second();
    expect(gate.mode(WEBHOOK, A)).toBe('free');
  });

  it('a head failing on the fast path hands the record straight from inMemory to waiting (its row is written before it settles)', () => {
    const gate = new RecordGate();
    const settle = gate.track(WEBHOOK, A, () => undefined);
    gate.wrote(WEBHOOK, A);
    settle();
    expect(gate.mode(WEBHOOK, A)).toBe('waiting');
  });

  it('routes the changes queued behind a record again, in order, once its last delivery in memory settled', () => {
    const gate = new RecordGate();
    const routed: string[] = [];
    const settle = gate.track(WEBHOOK, A, () => routed.push('head settled'));
    gate.after(WEBHOOK, A, () => routed.push('second'));
    gate.after(WEBHOOK, A, () => routed.push('third'));
    gate.after(WEBHOOK, B, () => routed.push('other record'));
    expect(routed).toEqual([]);
    settle();
    expect(routed).toEqual(['head settled', 'second', 'third']);
    expect(gate.mode(WEBHOOK, A)).toBe('free');
  });

  it('a record waiting in the table takes precedence over one in memory: later changes go to the table', () => {
    const gate = new RecordGate();
    gate.track(WEBHOOK, A, () => undefined);
    gate.wrote(WEBHOOK, A);
    expect(gate.mode(WEBHOOK, A)).toBe('waiting');
  });

  it('frees a waiting record once the table holds none of its rows', async () => {
    const gate = new RecordGate();
    gate.found([{ webhookId: WEBHOOK, recordKey: A }]);
    expect(gate.mode(WEBHOOK, A)).toBe('waiting');
    expect(await gate.settledOne(WEBHOOK, A, async () => true)).toBe(true);
    expect(gate.mode(WEBHOOK, A)).toBe('waiting');
    expect(await gate.settledOne(WEBHOOK, A, async () => false)).toBe(false);
    expect(gate.mode(WEBHOOK, A)).toBe('free');
  });

  it('keeps the record waiting when a row of it was written while the table was asked (that row was not visible yet)', async () => {
    const gate = new RecordGate();
    gate.wrote(WEBHOOK, A);
    const remain = await gate.settledOne(WEBHOOK, A, async () => {
      gate.wrote(WEBHOOK, A);
      return false;
    });
    expect(remain).toBe(false);
    expect(gate.mode(WEBHOOK, A)).toBe('waiting');
    expect(gate.heldRecords).toBe(1);
  });
});
