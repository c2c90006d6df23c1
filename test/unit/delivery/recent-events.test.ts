import { describe, expect, it } from 'vitest';
import { RecentEvents } from '../../../src/delivery/recent-events.js';
import type { Webhook } from '../../../src/delivery/registry.js';
import { decodedEvent, type PendingEvent } from '../../../src/events/pending-event.js';
import type { ChangeEvent } from '../../../src/events/types.js';

const webhook = (id: string) => ({ id }) as Webhook;
const event = (n: number) => decodedEvent({ id: `event-${n}` } as ChangeEvent);

describe('RecentEvents', () => {
  it('keeps the latest events each webhook was considered for, newest first, up to its bound', () => {
    const recent = new RecentEvents(3);
    for (let n = 1; n <= 5; n++) recent.considered(event(n), n % 2 === 0 ? [webhook('a'), webhook('b')] : [webhook('a')]);
    expect(recent.latest('a').map((e) => e.id)).toEqual(['event-5', 'event-4', 'event-3']);
    expect(recent.latest('b').map((e) => e.id)).toEqual(['event-4', 'event-2']);
    recent.forget('a');
    expect(recent.latest('a')).toEqual([]);
  });

  it('leaves out a change that turned out to be no event (a Twenty update of no sent field)', () => {
    const recent = new RecentEvents(3);
    const noEvent: PendingEvent = { ...event(2), event: () => null, filterInput: () => null };
    [event(1), noEvent, event(3)].forEach((pending) => recent.considered(pending, [webhook('a')]));
    expect(recent.latest('a').map((e) => e.id)).toEqual(['event-3', 'event-1']);
  });
});
