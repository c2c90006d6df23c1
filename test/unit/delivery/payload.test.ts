import { describe, expect, it } from 'vitest';
import { validate as isUuid, version as uuidVersion } from 'uuid';
import type { ChangeEvent, JsonRecord } from '../../../src/events/types.js';
import { PAYLOAD_FORMATS } from '../../../src/common/webhook.js';
import {
  payloadBytes,
  prepareEventJson,
  renderBody,
  type WebhookTarget,
} from '../../../src/delivery/payload.js';

/** Values that a hand-written serialiser gets wrong, in key orders that JSON.stringify reorders. */
const nastyRow: JsonRecord = {
  id: '0b9a4c3e-2d5f-4e3b-9a1c-7f2e8d6b5a40',
  name: 'Zoë Ångström 日本語 Ελληνικά',
  emoji: '👩‍💻🚀 \ud83d\ude00',
  html: '</script><script>alert("x")</script><!--',
  separators: 'line\u2028paragraph\u2029end',
  controls: 'tab\tnewline\nnul\u0000unit\u001fdel\u007f quote" backslash\\ slash/',
  loneSurrogate: 'broken \ud800 pair',
  big: '9223372036854775807',
  aboveSafeInteger: '9007199254740993',
  amount: '1.50',
  float: 0.1 + 0.2,
  huge: 1e21,
  negativeZero: -0,
  flag: false,
  nothing: null,
  '10': 'integer-like key, printed first',
  '2': 'another integer-like key',
  '': 'empty key',
  ['__proto__']: { shadow: 'own property named __proto__' },
  tags: ['a', '', 'ü', null, 3],
  jsonb: { nested: { deeper: [1, [2, [3, { k: 'v' }]], { '': null }] }, 'key with "quotes"': true, 'é': [] },
};

function nastyUpdate(overrides: Partial<ChangeEvent> = {}): ChangeEvent {
  return {
    id: '0/15453A0:3',
    object: 'person',
    action: 'updated',
    operation: 'person.updated',
    workspaceId: '20202020-1c25-4d02-bf25-6aeccf7ea419',
    schema: 'workspace_abc',
    table: 'person',
    record: nastyRow,
    previousRecord: { ...nastyRow, name: 'Zoe', amount: '1.5' },
    updatedFields: ['name', 'amount'],
    unavailableFields: ['avatar\u2028"blob"'],
    recordKey: null,
    commitLsn: 0x15453a0n,
    commitLsnText: '0/15453A0',
    changeLsn: 0x1545300n,
    changeLsnText: '0/1545300',
    commitTime: '2025-02-10T15:30:45.123Z',
    commitTimeMs: Date.parse('2025-02-10T15:30:45.123Z'),
    ...overrides,
  };
}

const insert = nastyUpdate({
  action: 'created',
  operation: 'person.created',
  previousRecord: null,
  updatedFields: null,
  unavailableFields: [],
});

const webhook = (format: WebhookTarget['format']): WebhookTarget => ({
  id: 'wh-"1"\u2028',
  targetUrl: 'https://example.test/hook?a=1&b=</script>&c=ü',
  format,
});
const deliveryId = 'evt_0/15453A0:3:wh-1';

/** The envelope each format describes, written out as a plain object. */
function envelope(event: ChangeEvent, target: WebhookTarget, objectMetadataId: string): unknown {
  switch (target.format) {
    case 'record':
      return {
        id: deliveryId,
        workspaceId: event.workspaceId,
        webhookId: target.id,
        operation: event.operation,
        timestamp: event.commitTime,
        record: event.record,
        previousRecord: event.previousRecord,
        updatedFields: event.updatedFields,
        ...(event.unavailableFields.length > 0 && { unavailableFields: event.unavailableFields }),
      };
    case 'event':
      return { event: event.operation, data: event.record, timestamp: event.commitTime };
    case 'twenty':
      return {
        targetUrl: target.targetUrl,
        eventName: event.operation,
        objectMetadata: { id: objectMetadataId, nameSingular: event.object },
        workspaceId: event.workspaceId,
        webhookId: target.id,
        eventDate: event.commitTime,
        record: event.record,
        ...(event.updatedFields && { updatedFields: event.updatedFields }),
      };
  }
}

const cases = [
  ['update', nastyUpdate()],
  ['insert', insert],
  ['event without workspace', nastyUpdate({ workspaceId: null })],
] as const;

describe('renderBody', () => {
  for (const format of PAYLOAD_FORMATS) {
    for (const [name, event] of cases) {
      it(`${format} body of an ${name} is JSON.stringify of its envelope and survives a re-serialisation`, () => {
        const body = renderBody(prepareEventJson(event), webhook(format), deliveryId);
        const parsed = JSON.parse(body) as { objectMetadata?: { id: string } };

        expect(body).toBe(JSON.stringify(envelope(event, webhook(format), parsed.objectMetadata?.id ?? '')));
        expect(JSON.stringify(parsed)).toBe(body);
      });
    }
  }

  it('keeps the raw characters JSON.stringify keeps (U+2028, </script>, emoji) and escapes lone surrogates', () => {
    const body = renderBody(prepareEventJson(nastyUpdate()), webhook('event'), deliveryId);
    expect(body).toContain('line\u2028paragraph');
    expect(body).toContain('</script><script>');
    expect(body).toContain('👩‍💻🚀');
    expect(body).toContain('broken \\ud800 pair');
    expect(body).toContain('"aboveSafeInteger":"9007199254740993"');
    expect(body).toContain('"amount":"1.50"');
  });

  it('sends updatedFields as null in the record format and leaves it out in the twenty format when the event has none', () => {
    const prepared = prepareEventJson(insert);
    const record = JSON.parse(renderBody(prepared, webhook('record'), deliveryId)) as Record<string, unknown>;
    const twenty = JSON.parse(renderBody(prepared, webhook('twenty'), deliveryId)) as Record<string, unknown>;
    expect(record).toMatchObject({ previousRecord: null, updatedFields: null });
    expect(record).not.toHaveProperty('unavailableFields');
    expect(twenty).not.toHaveProperty('updatedFields');
  });

  it('gives objectMetadata a stable name-based UUID per workspace and object', () => {
    const metadataId = (event: ChangeEvent): string => {
      const body = JSON.parse(renderBody(prepareEventJson(event), webhook('twenty'), deliveryId)) as {
        objectMetadata: { id: string };
      };
      return body.objectMetadata.id;
    };
    const id = metadataId(nastyUpdate());
    expect(isUuid(id) && uuidVersion(id)).toBe(5);
    expect(metadataId(insert)).toBe(id);
    expect(metadataId(nastyUpdate({ object: 'company' }))).not.toBe(id);
    expect(metadataId(nastyUpdate({ workspaceId: '3b8e6458-5fc1-4e63-8563-008ccddaa6db' }))).not.toBe(id);
  });

  it('serialises the record once per event however many webhooks and formats get it', () => {
    let serialisations = 0;
    const counted = { toJSON: () => (serialisations++, 'counted') } as unknown as JsonRecord[string];
    const prepared = prepareEventJson(nastyUpdate({ record: { ...nastyRow, counted }, previousRecord: null }));
    for (const format of PAYLOAD_FORMATS) {
      for (const id of ['a', 'b', 'c']) renderBody(prepared, { ...webhook(format), id }, `${deliveryId}:${id}`);
    }
    expect(serialisations).toBe(1);
  });

  it('puts the per-webhook fields of each webhook into its own body', () => {
    const prepared = prepareEventJson(nastyUpdate());
    const first = JSON.parse(renderBody(prepared, { ...webhook('twenty'), id: 'one', targetUrl: 'https://a.test/' }, 'd1'));
    const second = JSON.parse(renderBody(prepared, { ...webhook('record'), id: 'two' }, 'd2'));
    expect(first).toMatchObject({ webhookId: 'one', targetUrl: 'https://a.test/' });
    expect(second).toMatchObject({ webhookId: 'two', id: 'd2' });
  });
});

describe('payloadBytes', () => {
  it('counts UTF-8 bytes, not UTF-16 code units', () => {
    // 6 ASCII + é (2 bytes) + 😀 (4 bytes) + 2 ASCII
    expect(payloadBytes('{"a":"é😀"}')).toBe(14);
    expect(payloadBytes('\u2028')).toBe(3);
  });
});
