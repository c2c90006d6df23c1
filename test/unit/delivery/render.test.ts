import { describe, expect, it } from 'vitest';
import { renderDeliveries } from '../../../src/delivery/fan-out.js';
import { MAX_NESTING_DEPTH, nestsDeeperThan } from '../../../src/delivery/payload.js';
import { toWebhook } from '../../../src/delivery/registry.js';
import type { ChangeEvent, JsonValue } from '../../../src/events/types.js';

const webhook = toWebhook({
  id: '6f1c1a52-6a8e-4a3c-9c55-2f4fd0a6f0c1',
  targetUrl: 'http://127.0.0.1:9/hook',
  operations: ['*.*'],
  description: '',
  format: 'record',
  signatures: ['standard'],
  secrets: ['s3cret-s3cret-s3cret'],
  source: 'config',
});

/** A record whose `doc` nests `levels` arrays deep, the record itself being one more level. */
function nested(levels: number): JsonValue {
  let value: JsonValue = [];
  for (let level = 1; level < levels; level++) value = [value];
  return value;
}

function eventWith(record: Record<string, JsonValue>): ChangeEvent {
  return {
    id: '0b7d2f0e-5d2c-5a1e-8f7a-6c1f0c3f5a11',
    object: 'note',
    action: 'created',
    operation: 'note.created',
    workspaceId: null,
    schema: 'workspace_x',
    table: 'note',
    record,
    previousRecord: null,
    updatedFields: null,
    unavailableFields: [],
    recordKey: null,
    commitLsn: 0x1000n,
    commitLsnText: '0/1000',
    changeLsn: 0xf00n,
    changeLsnText: '0/F00',
    commitTime: '2026-12-01T00:00:00.000Z',
    commitTimeMs: Date.parse('2026-12-01T00:00:00.000Z'),
  };
}

describe('renderDeliveries', () => {
  it('renders one delivery per webhook', () => {
    const rendered = renderDeliveries(eventWith({ id: 'a', body: 'x' }), [webhook]);
    expect('jobs' in rendered && rendered.jobs.map((job) => JSON.parse(job.body).record)).toEqual([{ id: 'a', body: 'x' }]);
  });

  it('says a value nested too deep for JSON.stringify cannot be rendered, instead of throwing', () => {
    let deep: JsonValue = [];
    for (let depth = 0; depth < 100_000; depth++) deep = [deep];
    expect(renderDeliveries(eventWith({ id: 'a', doc: deep }), [webhook])).toMatchObject({ unrenderable: 'nested_too_deep' });
  });

  it('renders a record at the nesting limit and sets aside one level more', () => {
    expect(renderDeliveries(eventWith({ id: 'a', doc: nested(MAX_NESTING_DEPTH - 1) }), [webhook])).toHaveProperty('jobs');
    expect(renderDeliveries(eventWith({ id: 'a', doc: nested(MAX_NESTING_DEPTH) }), [webhook])).toMatchObject({
      unrenderable: 'nested_too_deep',
      error: `a value nests deeper than ${MAX_NESTING_DEPTH} levels`,
    });
  });

  it('gives a value 8,000 levels deep the same answer however deep the stack already is', () => {
    // Below V8's stack limit for JSON.stringify on a shallow stack, above it on a deep one: the outcome must not depend on that.
    const event = eventWith({ id: 'a', doc: nested(8_000) });
    const atDepth = (frames: number): unknown => (frames === 0 ? renderDeliveries(event, [webhook]) : atDepth(frames - 1));
    for (const frames of [0, 2_000, 6_000]) expect(atDepth(frames)).toMatchObject({ unrenderable: 'nested_too_deep' });
  });

  it('says a record beyond the longest string V8 builds cannot be rendered', { timeout: 180_000 }, () => {
    // One 64 MB string referenced nine times: the body would pass V8's 512 MB limit (slow: it really builds that much).
    const large = 'x'.repeat(64 * 1024 * 1024);
    const record: Record<string, JsonValue> = { id: 'a' };
    for (let column = 0; column < 9; column++) record[`c${column}`] = large;
    expect(renderDeliveries(eventWith(record), [webhook])).toMatchObject({ unrenderable: 'too_large' });
  });
});

describe('nestsDeeperThan', () => {
  it('counts levels of objects and arrays, a flat record being one', () => {
    expect(nestsDeeperThan({ id: 'a', name: 'x' }, 1)).toBe(false);
    expect(nestsDeeperThan({ name: { first: 'a' } }, 1)).toBe(true);
    expect(nestsDeeperThan({ name: { first: 'a' } }, 2)).toBe(false);
    expect(nestsDeeperThan({ a: [1, { b: [] }] }, 3)).toBe(true);
    expect(nestsDeeperThan({ a: [1, { b: [] }] }, 4)).toBe(false);
  });

  it('treats scalars and null as no nesting', () => {
    for (const value of [null, 'text', 3, true, undefined]) expect(nestsDeeperThan(value, 0)).toBe(false);
  });

  it('walks a value far deeper than the call stack allows without throwing', () => {
    expect(nestsDeeperThan({ doc: nested(200_000) }, MAX_NESTING_DEPTH)).toBe(true);
  });
});
