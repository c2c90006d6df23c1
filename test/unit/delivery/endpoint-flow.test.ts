import { describe, expect, it } from 'vitest';
import { endpointFlowMode, nextEndpointFlow, NORMAL_FLOW, type EndpointFlow, type EndpointFlowEvent } from '../../../src/delivery/endpoint-flow.js';

const run = (events: EndpointFlowEvent[], from: EndpointFlow = NORMAL_FLOW) => events.reduce(nextEndpointFlow, from);
const modeAfter = (events: EndpointFlowEvent[], from?: EndpointFlow) => endpointFlowMode(run(events, from));
const left = (streamed: number): EndpointFlowEvent => ({ type: 'left', streamed, readAhead: 10 });

describe('nextEndpointFlow', () => {
  it('starts normal and stays normal while deliveries come and go under the read-ahead', () => {
    expect(endpointFlowMode(NORMAL_FLOW)).toBe('normal');
    expect(modeAfter([{ type: 'entered', pastReadAhead: false }, left(0), { type: 'attemptSucceeded' }, { type: 'queueEmpty' }])).toBe('normal');
  });

  it('presses once a delivery enters past the read-ahead, until the streamed deliveries drain to half of it', () => {
    const pressing = run([{ type: 'entered', pastReadAhead: true }]);
    expect(endpointFlowMode(pressing)).toBe('pressing');
    expect(modeAfter([left(6)], pressing)).toBe('pressing');
    expect(modeAfter([left(6), left(5)], pressing)).toBe('normal');
    // Entering under the read-ahead again does not end it.
    expect(modeAfter([{ type: 'entered', pastReadAhead: false }], pressing)).toBe('pressing');
  });

  it('fails on a failed attempt and recovers on a success, whatever came between', () => {
    expect(modeAfter([{ type: 'attemptFailed' }])).toBe('failing');
    expect(modeAfter([{ type: 'attemptFailed' }, { type: 'attemptFailed' }, { type: 'queueEmpty' }])).toBe('failing');
    expect(modeAfter([{ type: 'attemptFailed' }, { type: 'attemptSucceeded' }])).toBe('normal');
  });

  it('stays spilled until its queue is empty, even after a success', () => {
    expect(modeAfter([{ type: 'spilled' }])).toBe('spilled');
    expect(modeAfter([{ type: 'spilled' }, { type: 'attemptSucceeded' }, left(0)])).toBe('spilled');
    expect(modeAfter([{ type: 'spilled' }, { type: 'queueEmpty' }])).toBe('normal');
  });

  it('decides by failing, then spilled, then pressing, and keeps each condition underneath', () => {
    const all = run([{ type: 'entered', pastReadAhead: true }, { type: 'spilled' }, { type: 'attemptFailed' }]);
    expect(all).toEqual({ failing: true, spilled: true, pressing: true });
    expect(endpointFlowMode(all)).toBe('failing');
    expect(modeAfter([{ type: 'attemptSucceeded' }], all)).toBe('spilled');
    expect(modeAfter([{ type: 'attemptSucceeded' }, { type: 'queueEmpty' }], all)).toBe('pressing');
    expect(modeAfter([{ type: 'attemptSucceeded' }, { type: 'queueEmpty' }, left(5)], all)).toBe('normal');
  });

  it('returns the same state for an event that changes nothing, so no copy is made per delivery', () => {
    expect(nextEndpointFlow(NORMAL_FLOW, { type: 'attemptSucceeded' })).toBe(NORMAL_FLOW);
    expect(nextEndpointFlow(NORMAL_FLOW, { type: 'entered', pastReadAhead: false })).toBe(NORMAL_FLOW);
    expect(nextEndpointFlow(NORMAL_FLOW, left(0))).toBe(NORMAL_FLOW);
  });
});
