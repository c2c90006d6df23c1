/** A Twenty person with every kind of field, its metadata and a row of it: the input of the golden and lazy-decoding tests. */
import type { ChangePosition, MappingOptions } from '../../../../src/events/mapping.js';
import { DEFAULT_WORKSPACE_PATTERN } from '../../../../src/events/naming.js';
import { TwentyMetadata, type TwentyFieldRow } from '../../../../src/events/twenty/metadata.js';
import type { RawTuple, TableColumn, TableShape } from '../../../../src/source/types.js';

export const WORKSPACE = '20202020-1c25-4d02-bf25-6aeccf7ea419';
export const SCHEMA = 'workspace_1wgvd1injqtife6y4rvfbu3h5';
export const OBJECT_ID = '7e1b5d3c-9a4f-4b2e-8c6d-1f0a2b3c4d5e';
export const MEMBER = '11111111-2222-4333-8444-555555555555';
export const USER = '99999999-8888-4777-8666-555555555555';
export const WEBHOOK = { id: 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee', targetUrl: 'https://receiver.example/hook' };

export const TEXT = 25;
export const JSONB = 3802;
export const NUMERIC = 1700;
export const TIMESTAMPTZ = 1184;
export const UUID = 2950;
export const FLOAT8 = 701;
export const column = (name: string, oid: number, isKey = false): TableColumn => ({ name, type: { oid, name: null }, isKey });

export const COLUMNS: TableColumn[] = [
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
export const TABLE: TableShape = { schema: SCHEMA, table: 'person', columns: COLUMNS, replicaIdentity: 'full' };

export const FIELDS: [string, string, TwentyFieldRow['settings']?][] = [
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
export const METADATA = new TwentyMetadata({
  objects: [{ id: OBJECT_ID, nameSingular: 'person', isCustom: false, workspaceId: WORKSPACE }],
  fields: FIELDS.map(([name, type, settings]) => ({ objectMetadataId: OBJECT_ID, name, type, settings: settings ?? null })),
  dataSources: [{ schema: SCHEMA, workspaceId: WORKSPACE }],
  members: [{ workspaceId: WORKSPACE, id: MEMBER, userId: USER }],
});

export const ROW: RawTuple = {
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

export const OPTIONS: MappingOptions = { objectNames: {}, workspacePattern: DEFAULT_WORKSPACE_PATTERN, twentyWorkspaceIds: true, softDeleteColumn: 'deletedAt' };
export const POSITION: ChangePosition = {
  id: '2f0c6a3e-8d41-5b7e-9c12-4a6b8d0e1f35',
  commitLsn: 0x15453a0n,
  commitLsnText: '0/15453A0',
  changeLsn: 0x1545300n,
  changeLsnText: '0/1545300',
  commitTime: '2025-02-10T15:30:50.987654Z',
  commitTimeMs: Date.parse('2025-02-10T15:30:50.987654Z'),
};

