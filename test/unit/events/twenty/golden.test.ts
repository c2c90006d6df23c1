/**
 * Golden bodies: a row change through mapping, Twenty's shape and each
 * payload format, compared byte for byte with bodies written out by hand
 * from Twenty's sender (call-webhook.job.ts, transform-event-batch-to-webhook-events.ts)
 * and composite types.
 */
import { describe, expect, it } from 'vitest';
import type { PayloadFormat } from '../../../../src/common/webhook.js';
import { prepareEventJson, renderBody } from '../../../../src/delivery/payload.js';
import { toChangeEvent, type ChangePosition, type MappingOptions } from '../../../../src/events/mapping.js';
import { DEFAULT_WORKSPACE_PATTERN } from '../../../../src/events/naming.js';
import { TwentyMetadata, type TwentyFieldRow } from '../../../../src/events/twenty/metadata.js';
import { finishEvent } from '../../../../src/events/twenty/shape.js';
import { BUILTIN_TYPE_CATALOG } from '../../../../src/events/values.js';
import type { RawTuple, RowChange, TableColumn, TableShape } from '../../../../src/source/types.js';

const WORKSPACE = '20202020-1c25-4d02-bf25-6aeccf7ea419';
const SCHEMA = 'workspace_1wgvd1injqtife6y4rvfbu3h5';
const OBJECT_ID = '7e1b5d3c-9a4f-4b2e-8c6d-1f0a2b3c4d5e';
const MEMBER = '11111111-2222-4333-8444-555555555555';
const USER = '99999999-8888-4777-8666-555555555555';
const WEBHOOK = { id: 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee', targetUrl: 'https://receiver.example/hook' };

const TEXT = 25;
const JSONB = 3802;
const NUMERIC = 1700;
const TIMESTAMPTZ = 1184;
const UUID = 2950;
const FLOAT8 = 701;
const column = (name: string, oid: number, isKey = false): TableColumn => ({ name, type: { oid, name: null }, isKey });

const COLUMNS: TableColumn[] = [
  column('id', UUID, true),
  column('nameFirstName', TEXT),
  column('nameLastName', TEXT),
  column('emailsPrimaryEmail', TEXT),
  column('emailsAdditionalEmails', JSONB),
  column('phonesPrimaryPhoneNumber', TEXT),
  column('phonesPrimaryPhoneCountryCode', TEXT),
  column('phonesPrimaryPhoneCallingCode', TEXT),
  column('phonesAdditionalPhones', JSONB),
  column('linkedinLinkPrimaryLinkLabel', TEXT),
  column('linkedinLinkPrimaryLinkUrl', TEXT),
  column('linkedinLinkSecondaryLinks', JSONB),
  column('addressAddressStreet1', TEXT),
  column('addressAddressStreet2', TEXT),
  column('addressAddressCity', TEXT),
  column('addressAddressPostcode', TEXT),
  column('addressAddressState', TEXT),
  column('addressAddressCountry', TEXT),
  column('addressAddressLat', NUMERIC),
  column('addressAddressLng', NUMERIC),
  column('salaryAmountMicros', NUMERIC),
  column('salaryCurrencyCode', TEXT),
  column('bioBlocknote', TEXT),
  column('bioMarkdown', TEXT),
  column('jobTitle', TEXT),
  column('createdBySource', 0),
  column('createdByWorkspaceMemberId', UUID),
  column('createdByName', TEXT),
  column('createdByContext', JSONB),
  column('updatedBySource', 0),
  column('updatedByWorkspaceMemberId', UUID),
  column('updatedByName', TEXT),
  column('updatedByContext', JSONB),
  column('companyId', UUID),
  column('position', FLOAT8),
  column('legacyImportRef', TEXT),
  column('createdAt', TIMESTAMPTZ),
  column('updatedAt', TIMESTAMPTZ),
  column('deletedAt', TIMESTAMPTZ),
];
const TABLE: TableShape = { schema: SCHEMA, table: 'person', columns: COLUMNS, replicaIdentity: 'full' };

const FIELDS: [string, string, TwentyFieldRow['settings']?][] = [
  ['id', 'UUID'],
  ['name', 'FULL_NAME'],
  ['emails', 'EMAILS'],
  ['phones', 'PHONES'],
  ['linkedinLink', 'LINKS'],
  ['address', 'ADDRESS'],
  ['salary', 'CURRENCY'],
  ['bio', 'RICH_TEXT_V2'],
  ['jobTitle', 'TEXT'],
  ['createdBy', 'ACTOR'],
  ['updatedBy', 'ACTOR'],
  ['company', 'RELATION', { relationType: 'MANY_TO_ONE', joinColumnName: 'companyId' }],
  ['noteTargets', 'RELATION', { relationType: 'ONE_TO_MANY' }],
  ['searchVector', 'TS_VECTOR'],
  ['position', 'POSITION'],
  ['createdAt', 'DATE_TIME'],
  ['updatedAt', 'DATE_TIME'],
  ['deletedAt', 'DATE_TIME'],
];
const METADATA = new TwentyMetadata({
  objects: [{ id: OBJECT_ID, nameSingular: 'person', isCustom: false, workspaceId: WORKSPACE }],
  fields: FIELDS.map(([name, type, settings]) => ({ objectMetadataId: OBJECT_ID, name, type, settings: settings ?? null })),
  dataSources: [{ schema: SCHEMA, workspaceId: WORKSPACE }],
  members: [{ workspaceId: WORKSPACE, id: MEMBER, userId: USER }],
});

const ROW: RawTuple = {
  id: '0d5b2a8e-7c1f-4c8e-9a51-3f0e6b7d2c11',
  nameFirstName: 'Ada',
  nameLastName: 'Lovelace',
  emailsPrimaryEmail: 'ada@acme.example',
  emailsAdditionalEmails: '["ada@home.example"]',
  phonesPrimaryPhoneNumber: '612345678',
  phonesPrimaryPhoneCountryCode: 'FR',
  phonesPrimaryPhoneCallingCode: '+33',
  phonesAdditionalPhones: null,
  linkedinLinkPrimaryLinkLabel: '',
  linkedinLinkPrimaryLinkUrl: 'https://linkedin.com/in/ada',
  linkedinLinkSecondaryLinks: '[]',
  addressAddressStreet1: '1 Analytical Row',
  addressAddressStreet2: '',
  addressAddressCity: 'London',
  addressAddressPostcode: 'W1',
  addressAddressState: '',
  addressAddressCountry: 'United Kingdom',
  addressAddressLat: '51.5072',
  addressAddressLng: '-0.1276',
  salaryAmountMicros: '120000000000',
  salaryCurrencyCode: 'GBP',
  bioBlocknote: null,
  bioMarkdown: '**first** programmer',
  jobTitle: 'Engineer',
  createdBySource: 'MANUAL',
  createdByWorkspaceMemberId: MEMBER,
  createdByName: 'Tim Apple',
  createdByContext: '{}',
  updatedBySource: 'API',
  updatedByWorkspaceMemberId: MEMBER,
  updatedByName: 'Tim Apple',
  updatedByContext: '{}',
  companyId: '3c6a1f2e-5b4d-4e8f-9a0b-1c2d3e4f5a6b',
  position: '1',
  legacyImportRef: 'not a Twenty field',
  createdAt: '2025-02-10 15:30:45.123456+00',
  updatedAt: '2025-02-10 15:30:45.123456+00',
  deletedAt: null,
};

const OPTIONS: MappingOptions = { objectNames: {}, workspacePattern: DEFAULT_WORKSPACE_PATTERN, twentyWorkspaceIds: true, softDeleteColumn: 'deletedAt' };
const POSITION: ChangePosition = {
  id: '2f0c6a3e-8d41-5b7e-9c12-4a6b8d0e1f35',
  commitLsn: 0x15453a0n,
  commitLsnText: '0/15453A0',
  changeLsn: 0x1545300n,
  changeLsnText: '0/1545300',
  commitTime: '2025-02-10T15:30:50.987654Z',
  commitTimeMs: Date.parse('2025-02-10T15:30:50.987654Z'),
};

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
