import { describe, expect, it } from 'vitest';
import { FlowControl, nextFlowMode, readAheadOf, type FlowLimits, type FlowLoad } from '../../../src/delivery/flow-control.js';

const limits: FlowLimits = { maxDeliveries: 100, maxBytes: 1_000, readAhead: 10 };
const idle: FlowLoad = { deliveries: 0, bytes: 0, heldByEndpoint: 0 };

function controlled(initial: FlowLoad = idle) {
  let load = initial;
  const valve: string[] = [];
  const flow = new FlowControl(limits, () => load, { pause: () => valve.push('pause'), resume: () => valve.push('resume') });
  return {
    flow,
    valve,
    set(next: Partial<FlowLoad>) {
      load = { ...load, ...next };
      flow.update();
    },
  };
}

describe('readAheadOf', () => {
  it('holds 16 deliveries per request in flight, never more than the endpoint’s bound', () => {
    expect(readAheadOf({ concurrency: 8, maxQueuedPerEndpoint: 1_000 })).toBe(128);
    expect(readAheadOf({ concurrency: 1, maxQueuedPerEndpoint: 1_000 })).toBe(16);
    expect(readAheadOf({ concurrency: 2, maxQueuedPerEndpoint: 10 })).toBe(10);
  });
});

describe('nextFlowMode', () => {
  it('pauses at any budget: deliveries, bytes, or an endpoint that cannot overflow', () => {
    expect(nextFlowMode('reading', { type: 'load', load: { ...idle, deliveries: 99 } }, limits)).toBe('reading');
    expect(nextFlowMode('reading', { type: 'load', load: { ...idle, deliveries: 100 } }, limits)).toBe('paused');
    expect(nextFlowMode('reading', { type: 'load', load: { ...idle, bytes: 1_000 } }, limits)).toBe('paused');
    expect(nextFlowMode('reading', { type: 'load', load: { ...idle, heldByEndpoint: 10 } }, limits)).toBe('paused');
  });

  it('resumes only once every budget is back to half', () => {
    const load = (l: Partial<FlowLoad>) => ({ type: 'load' as const, load: { ...idle, ...l } });
    expect(nextFlowMode('paused', load({ deliveries: 50 }), limits)).toBe('paused');
    expect(nextFlowMode('paused', load({ deliveries: 49, bytes: 500 }), limits)).toBe('paused');
    expect(nextFlowMode('paused', load({ deliveries: 49, bytes: 499, heldByEndpoint: 6 }), limits)).toBe('paused');
    expect(nextFlowMode('paused', load({ deliveries: 49, bytes: 499, heldByEndpoint: 5 }), limits)).toBe('reading');
  });

  it('treats a new connection as reading, and stays stopped once stopped', () => {
    expect(nextFlowMode('paused', { type: 'reconnected', load: { ...idle, deliveries: 60 } }, limits)).toBe('reading');
    expect(nextFlowMode('paused', { type: 'reconnected', load: { ...idle, deliveries: 100 } }, limits)).toBe('paused');
    expect(nextFlowMode('reading', { type: 'stop' }, limits)).toBe('stopped');
    expect(nextFlowMode('stopped', { type: 'load', load: idle }, limits)).toBe('stopped');
  });
});

describe('FlowControl', () => {
  it('resumes on whatever lowers the load, not only on a settle of its own', () => {
    const { flow, valve, set } = controlled();
    set({ heldByEndpoint: 10 });
    expect(flow.mode).toBe('paused');
    expect(flow.pause?.reason).toMatch(/endpoint holds 10 deliveries/);
    // The endpoint failed or another endpoint freed up: its queue no longer counts.
    set({ heldByEndpoint: 0 });
    expect(flow.mode).toBe('reading');
    expect(valve).toEqual(['pause', 'resume']);
    expect(flow.pause).toBeNull();
  });

  it('pauses and resumes once per crossing, however often it is told', () => {
    const { valve, set } = controlled();
    set({ deliveries: 100 });
    set({ deliveries: 120 });
    set({ deliveries: 70 });
    set({ deliveries: 10 });
    set({ deliveries: 5 });
    expect(valve).toEqual(['pause', 'resume']);
  });

  it('pauses a new connection that is still over budget, and leaves one under budget reading', () => {
    const { flow, valve, set } = controlled();
    set({ deliveries: 100 });
    flow.reconnected();
    expect(valve).toEqual(['pause', 'pause']);
    set({ deliveries: 60 });
    flow.reconnected();
    expect(flow.mode).toBe('reading');
    expect(valve).toEqual(['pause', 'pause']);
  });

  it('applies the budget to a stream attached later, and never resumes after stop', () => {
    let load: FlowLoad = { ...idle, bytes: 2_000 };
    const valve: string[] = [];
    const flow = new FlowControl(limits, () => load);
    flow.update();
    expect(flow.mode).toBe('paused');
    flow.attach({ pause: () => valve.push('pause'), resume: () => valve.push('resume') });
    expect(valve).toEqual(['pause']);
    flow.stop();
    load = idle;
    flow.update();
    expect(flow.mode).toBe('stopped');
    expect(valve).toEqual(['pause']);
  });

  it('decides once per task however often it is told of a change, and with the load of the end of the task', async () => {
    let load: FlowLoad = idle;
    let loads = 0;
    const valve: string[] = [];
    const flow = new FlowControl(limits, () => (loads++, load), { pause: () => valve.push('pause'), resume: () => valve.push('resume') });
    for (let told = 0; told < 5; told++) flow.changed();
    load = { ...idle, deliveries: 100 };
    expect(flow.mode).toBe('reading');
    await Promise.resolve();
    expect(loads).toBe(1);
    expect(flow.mode).toBe('paused');
    expect(valve).toEqual(['pause']);
    // A synchronous update in between leaves nothing for the pending one to do.
    load = idle;
    flow.changed();
    flow.update();
    await Promise.resolve();
    expect(loads).toBe(2);
    expect(valve).toEqual(['pause', 'resume']);
  });
});
