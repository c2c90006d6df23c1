import { describe, expect, it } from 'vitest';
import { validate, version } from 'uuid';
import { deliveryId, eventId } from '../../../src/events/event-id.js';

const LSN = 0x1_5453a0n;

describe('eventId', () => {
  it('is a version 5 UUID', () => {
    const id = eventId(LSN, 0);
    expect(validate(id)).toBe(true);
    expect(version(id)).toBe(5);
  });

  it('is the same for the same position', () => {
    expect(eventId(LSN, 3)).toBe(eventId(0x1_5453a0n, 3));
  });

  it('differs by ordinal and by commit LSN', () => {
    const ids = [eventId(LSN, 0), eventId(LSN, 1), eventId(LSN + 1n, 0), eventId(0n, 0), eventId(LSN << 32n, 0)];
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('rejects an ordinal that is not a non-negative integer', () => {
    expect(() => eventId(LSN, -1)).toThrow(RangeError);
    expect(() => eventId(LSN, 1.5)).toThrow(RangeError);
  });
});

describe('deliveryId', () => {
  it('is a deterministic version 5 UUID of the event and the webhook', () => {
    const event = eventId(LSN, 0);
    const id = deliveryId(event, 'webhook-a');
    expect(version(id)).toBe(5);
    expect(deliveryId(eventId(LSN, 0), 'webhook-a')).toBe(id);
    expect(id).not.toBe(event);
  });

  it('differs by webhook and by event', () => {
    const ids = [
      deliveryId(eventId(LSN, 0), 'webhook-a'),
      deliveryId(eventId(LSN, 0), 'webhook-b'),
      deliveryId(eventId(LSN, 1), 'webhook-a'),
    ];
    expect(new Set(ids).size).toBe(ids.length);
  });
});
