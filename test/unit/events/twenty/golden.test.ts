/**
 * Golden bodies: a row change through mapping, Twenty's shape and each
 * payload format, compared byte for byte with bodies written out by hand
 * from Twenty's sender (call-webhook.job.ts, transform-event-batch-to-webhook-events.ts)
 * and composite types.
 */
import { describe, expect, it } from 'vitest';
import type { PayloadFormat } from '../../../../src/common/webhook.js';
import { prepareEventJson, renderBody } from '../../../../src/delivery/payload.js';
import { toChangeEvent } from '../../../../src/events/mapping.js';
import { finishEvent } from '../../../../src/events/twenty/shape.js';
import { BUILTIN_TYPE_CATALOG } from '../../../../src/events/values.js';
import type { RawTuple, RowChange, TableShape } from '../../../../src/source/types.js';
import { COLUMNS, MEMBER, METADATA, OBJECT_ID, OPTIONS, POSITION, ROW, TABLE, USER, WEBHOOK, WORKSPACE } from '../../../fixtures/twenty-person.js';

function body(change: RowChange, format: PayloadFormat): string | null {
  const event = finishEvent(toChangeEvent(change, POSITION, OPTIONS, BUILTIN_TYPE_CATALOG), METADATA);
  return event === null ? null : renderBody(prepareEventJson(event), { ...WEBHOOK, format }, 'd0d0d0d0-0000-5000-8000-000000000000');
}

const RECORD =
  '{"id":"0d5b2a8e-7c1f-4c8e-9a51-3f0e6b7d2c11","name":{"firstName":"Ada","lastName":"Lovelace"},' +
  '"emails":{"primaryEmail":"ada@acme.example","additionalEmails":["ada@home.example"]},' +
  '"phones":{"primaryPhoneNumber":"612345678","primaryPhoneCountryCode":"FR","primaryPhoneCallingCode":"+33","additionalPhones":null},' +
  '"linkedinLink":{"primaryLinkLabel":"","primaryLinkUrl":"https://linkedin.com/in/ada","secondaryLinks":[]},' +
  '"address":{"addressStreet1":"1 Analytical Row","addressStreet2":"","addressCity":"London","addressPostcode":"W1","addressState":"","addressCountry":"United Kingdom","addressLat":51.5072,"addressLng":-0.1276},' +
  '"salary":{"amountMicros":120000000000,"currencyCode":"GBP"},' +
  '"bio":{"blocknote":null,"markdown":"**first** programmer"},' +
  '"jobTitle":"CTO",' +
  '"createdBy":{"source":"MANUAL","workspaceMemberId":"11111111-2222-4333-8444-555555555555","name":"Tim Apple","context":{}},' +
  '"updatedBy":{"source":"API","workspaceMemberId":"11111111-2222-4333-8444-555555555555","name":"Tim Apple","context":{}},' +
  '"companyId":"3c6a1f2e-5b4d-4e8f-9a0b-1c2d3e4f5a6b","position":1,' +
  '"createdAt":"2025-02-10T15:30:45.123Z","updatedAt":"2025-02-10T15:31:00.000Z","deletedAt":null}';

const UPDATED_ROW: RawTuple = { ...ROW, jobTitle: 'CTO', updatedAt: '2025-02-10 15:31:00+00' };
const update: RowChange = { kind: 'update', table: TABLE, oldRow: ROW, newRow: UPDATED_ROW };

describe('golden bodies with Twenty’s shape', () => {
  it('twenty format: Twenty’s keys in Twenty’s order, the real objectMetadata.id, ms eventDate, actor ids, updatedFields by field', () => {
    expect(body(update, 'twenty')).toBe(
      '{"targetUrl":"https://receiver.example/hook","eventName":"person.updated",' +
        `"objectMetadata":{"id":"${OBJECT_ID}","nameSingular":"person"},"workspaceId":"${WORKSPACE}",` +
        `"webhookId":"${WEBHOOK.id}","eventDate":"2025-02-10T15:30:50.987Z","userId":"${USER}","workspaceMemberId":"${MEMBER}",` +
        `"record":${RECORD},"updatedFields":["jobTitle"]}`,
    );
  });

  it('record format: the same nested record and previousRecord', () => {
    const previous = RECORD.replace('"jobTitle":"CTO"', '"jobTitle":"Engineer"').replace('"updatedAt":"2025-02-10T15:31:00.000Z"', '"updatedAt":"2025-02-10T15:30:45.123Z"');
    expect(body(update, 'record')).toBe(
      `{"id":"d0d0d0d0-0000-5000-8000-000000000000","workspaceId":"${WORKSPACE}","webhookId":"${WEBHOOK.id}",` +
        `"operation":"person.updated","timestamp":"2025-02-10T15:30:50.987654Z","record":${RECORD},"previousRecord":${previous},"updatedFields":["jobTitle"]}`,
    );
  });

  it('event format: the nested record as data', () => {
    expect(body(update, 'event')).toBe(`{"event":"person.updated","data":${RECORD},"timestamp":"2025-02-10T15:30:50.987654Z"}`);
  });

  it('a created record names its creator; no updatedFields on anything but updates', () => {
    const created = body({ kind: 'insert', table: TABLE, oldRow: null, newRow: UPDATED_ROW }, 'twenty')!;
    expect(created).toContain(`"eventDate":"2025-02-10T15:30:50.987Z","userId":"${USER}","workspaceMemberId":"${MEMBER}","record":`);
    expect(JSON.parse(created)).not.toHaveProperty('updatedFields');
    const softDeleted = body({ kind: 'update', table: TABLE, oldRow: ROW, newRow: { ...ROW, deletedAt: '2025-02-11 00:00:00+00' } }, 'twenty')!;
    expect(JSON.parse(softDeleted)).toMatchObject({ eventName: 'person.deleted' });
    expect(JSON.parse(softDeleted)).not.toHaveProperty('updatedFields');
  });

  it('an update of nothing but updatedAt (or of nothing) is no event', () => {
    expect(body({ kind: 'update', table: TABLE, oldRow: ROW, newRow: { ...ROW, updatedAt: '2025-02-12 00:00:00+00' } }, 'twenty')).toBeNull();
    expect(body({ kind: 'update', table: TABLE, oldRow: ROW, newRow: ROW }, 'record')).toBeNull();
  });

  it('lists a composite field once, by its name, whichever of its columns changed; a changed join column by its name', () => {
    const moved = body({ kind: 'update', table: TABLE, oldRow: ROW, newRow: { ...ROW, addressAddressCity: 'Paris', companyId: null, nameLastName: 'King' } }, 'twenty')!;
    expect(JSON.parse(moved).updatedFields).toEqual(['name', 'address', 'companyId']);
  });

  it('with REPLICA IDENTITY DEFAULT, an update is sent with updatedFields left out (unknown), its previousRecord the key', () => {
    const keyOnly: TableShape = { ...TABLE, replicaIdentity: 'default', columns: COLUMNS };
    const sent = body({ kind: 'update', table: keyOnly, oldRow: null, newRow: UPDATED_ROW }, 'twenty')!;
    expect(JSON.parse(sent)).not.toHaveProperty('updatedFields');
    const asRecord = JSON.parse(body({ kind: 'update', table: keyOnly, oldRow: null, newRow: UPDATED_ROW }, 'record')!);
    expect(asRecord).toMatchObject({ updatedFields: null, previousRecord: { id: ROW.id } });
  });
});
