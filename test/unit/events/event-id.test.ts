import { describe, expect, it } from 'vitest';
import { v5 as uuidV5, validate, version } from 'uuid';
import { deliveryId, EVENT_ID_NAMESPACE, eventId, type WalPosition } from '../../../src/events/event-id.js';

const AT: WalPosition = { systemId: '7714429071551766002', timeline: 1, lsn: 0x1_5453a0n, index: 0 };
const at = (changes: Partial<WalPosition>) => eventId({ ...AT, ...changes });

describe('eventId', () => {
  it('is a version 5 UUID', () => {
    const id = eventId(AT);
    expect(validate(id)).toBe(true);
    expect(version(id)).toBe(5);
  });

  it('is the same for the same WAL record and index', () => {
    expect(at({ index: 3 })).toBe(eventId({ systemId: '7714429071551766002', timeline: 1, lsn: 0x1_5453a0n, index: 3 }));
  });

  it('differs by system identifier, timeline, LSN and index', () => {
    const ids = [
      eventId(AT),
      at({ index: 1 }),
      at({ lsn: AT.lsn + 1n }),
      at({ lsn: 0n }),
      at({ lsn: AT.lsn << 32n }),
      at({ timeline: 2 }),
      at({ systemId: '7714429071551766003' }),
    ];
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('keeps the values ids have: the RFC 4122 v5 UUID of "<system id>/<timeline>/<LSN>/<index>" in walhook\'s namespace', () => {
    expect(at({ index: 3 })).toBe(uuidV5('7714429071551766002/1/0/15453A0/3', EVENT_ID_NAMESPACE));
    expect(at({ index: 3 })).toBe('a7f53e59-6647-5fb3-bc37-d20f1570533e');
  });

  it('rejects an index, timeline or system identifier out of range', () => {
    expect(() => at({ index: -1 })).toThrow(RangeError);
    expect(() => at({ index: 1.5 })).toThrow(RangeError);
    expect(() => at({ timeline: 0 })).toThrow(RangeError);
    expect(() => at({ systemId: '' })).toThrow(RangeError);
  });
});

describe('deliveryId', () => {
  it('is a deterministic version 5 UUID of the event and the webhook', () => {
    const event = eventId(AT);
    const id = deliveryId(event, 'webhook-a');
    expect(version(id)).toBe(5);
    expect(deliveryId(eventId(AT), 'webhook-a')).toBe(id);
    expect(id).not.toBe(event);
  });

  it('is the RFC 4122 v5 UUID of the webhook id in the event id as namespace', () => {
    const event = eventId(AT);
    expect(deliveryId(event, 'webhook-a')).toBe(uuidV5('webhook-a', event));
    expect(deliveryId(event, 'webhook-a')).toBe('63661ed0-77bf-5252-b822-7b1c345fa5e5');
    expect(deliveryId(event, 'ünïcode-webhook')).toBe(uuidV5('ünïcode-webhook', event));
  });

  it('is the same v5 UUID for names of any length and script, one after another (the hash input buffer is reused)', () => {
    const event = eventId(AT);
    const names = ['a'.repeat(300), 'b', '🦄'.repeat(200), '東京-webhook', '', 'x'.repeat(5_000), 'webhook-a'];
    for (const name of names) expect(deliveryId(event, name)).toBe(uuidV5(name, event));
  });

  it('differs by webhook and by event', () => {
    const ids = [deliveryId(eventId(AT), 'webhook-a'), deliveryId(eventId(AT), 'webhook-b'), deliveryId(at({ index: 1 }), 'webhook-a')];
    expect(new Set(ids).size).toBe(ids.length);
  });
});
