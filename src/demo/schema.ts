/**
 * A Twenty database, laid out as Twenty lays it out, for the demo and the
 * tests: walhook meets what it would meet in production.
 *
 * - `core`: the metadata Twenty's server keeps (`workspace`, `dataSource`,
 *   `objectMetadata`, `fieldMetadata`) and the webhooks made in Settings →
 *   APIs & Webhooks (`core.webhook`), with the columns walhook reads.
 * - one schema per workspace, `workspace_<base36 of its UUID>`, one table per
 *   object (custom objects prefixed `_`), composite fields flattened into one
 *   column per property (`nameFirstName`, `amountAmountMicros`), select fields
 *   as enums, a generated `searchVector`, many-to-one relations as a join
 *   column (`companyId`), soft deletes in `deletedAt`.
 *
 * Each field is written out with both its columns and its metadata row, side
 * by side, from Twenty's server sources (standard objects under
 * `modules/*\/standard-objects`, composite types under
 * `engine/metadata-modules/field-metadata/composite-types`).
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { uuidToBase36 } from '../events/naming.js';

export interface DemoWorkspace {
  /** The workspace UUID, which walhook reads back from the schema name as `workspaceId`. */
  id: string;
  schema: string;
}

export function newWorkspace(id: string = randomUUID()): DemoWorkspace {
  return { id, schema: `workspace_${uuidToBase36(id)}` };
}

/** Tables in creation order (later ones reference earlier ones). */
export const DEMO_TABLES = ['workspaceMember', 'company', 'person', 'opportunity', 'note', 'task', '_pet', 'timelineActivity', 'connectedAccount'] as const;
export type DemoTable = (typeof DEMO_TABLES)[number];

/** `"schema"."table"`. */
export function qualified(schema: string, table: string): string {
  return `"${schema}"."${table}"`;
}

/** One field: its metadata and the columns that store it. */
interface FieldSpec {
  name: string;
  type: string;
  /** Column definitions, `{s}` standing for the quoted schema (enum types live there). */
  columns: string;
  settings?: Record<string, unknown>;
}

const field = (name: string, type: string, columns: string, settings?: Record<string, unknown>): FieldSpec => ({
  name,
  type,
  columns,
  ...(settings && { settings }),
});

const ACTOR_SOURCES = `'EMAIL', 'CALENDAR', 'WORKFLOW', 'AGENT', 'API', 'IMPORT', 'MANUAL', 'SYSTEM', 'WEBHOOK'`;

/** Fields every object has. */
function systemFields(table: string, searchText: string | null): FieldSpec[] {
  return [
    field('id', 'UUID', `id uuid PRIMARY KEY DEFAULT gen_random_uuid()`),
    field('createdAt', 'DATE_TIME', `"createdAt" timestamptz NOT NULL DEFAULT now()`),
    field('updatedAt', 'DATE_TIME', `"updatedAt" timestamptz NOT NULL DEFAULT now()`),
    field('deletedAt', 'DATE_TIME', `"deletedAt" timestamptz`),
    field('position', 'POSITION', `position double precision`),
    ...(searchText === null
      ? []
      : [
          field('createdBy', 'ACTOR', `"createdBySource" {s}."${table}_createdBySource_enum" NOT NULL DEFAULT 'MANUAL',
    "createdByWorkspaceMemberId" uuid,
    "createdByName" text NOT NULL DEFAULT '',
    "createdByContext" jsonb`),
          field('updatedBy', 'ACTOR', `"updatedBySource" {s}."${table}_updatedBySource_enum" NOT NULL DEFAULT 'MANUAL',
    "updatedByWorkspaceMemberId" uuid,
    "updatedByName" text NOT NULL DEFAULT '',
    "updatedByContext" jsonb`),
          field('searchVector', 'TS_VECTOR', `"searchVector" tsvector GENERATED ALWAYS AS (to_tsvector('simple', ${searchText})) STORED`),
        ]),
  ];
}

const manyToOne = (name: string, target: string) =>
  field(name, 'RELATION', `"${name}Id" uuid REFERENCES {s}."${target}" (id) ON DELETE SET NULL`, {
    relationType: 'MANY_TO_ONE',
    joinColumnName: `${name}Id`,
    onDelete: 'SET_NULL',
  });
const oneToMany = (name: string) => field(name, 'RELATION', '', { relationType: 'ONE_TO_MANY' });

interface ObjectSpec {
  nameSingular: string;
  namePlural: string;
  isCustom: boolean;
  /** Enum types, as `name: 'A', 'B'` (created in the workspace schema). */
  enums: Record<string, string>;
  fields: FieldSpec[];
}

const text = (column: string) => `coalesce("${column}", '')`;

/** The objects of a workspace; the table is the singular name, `_` + name for custom objects. */
export const TWENTY_OBJECTS: readonly ObjectSpec[] = [
  {
    nameSingular: 'workspaceMember',
    namePlural: 'workspaceMembers',
    isCustom: false,
    enums: {},
    fields: [
      ...systemFields('workspaceMember', null),
      field('name', 'FULL_NAME', `"nameFirstName" text NOT NULL DEFAULT '', "nameLastName" text NOT NULL DEFAULT ''`),
      field('userEmail', 'TEXT', `"userEmail" text`),
      field('userId', 'UUID', `"userId" uuid NOT NULL`),
      field('locale', 'TEXT', `locale text NOT NULL DEFAULT 'en'`),
      field('timeZone', 'TEXT', `"timeZone" text NOT NULL DEFAULT 'system'`),
    ],
  },
  {
    nameSingular: 'company',
    namePlural: 'companies',
    isCustom: false,
    enums: { company_createdBySource_enum: ACTOR_SOURCES, company_updatedBySource_enum: ACTOR_SOURCES },
    fields: [
      ...systemFields('company', `${text('name')} || ' ' || ${text('domainNamePrimaryLinkUrl')}`),
      field('name', 'TEXT', `name text NOT NULL DEFAULT ''`),
      field('domainName', 'LINKS', `"domainNamePrimaryLinkUrl" text NOT NULL DEFAULT '',
    "domainNamePrimaryLinkLabel" text NOT NULL DEFAULT '',
    "domainNameSecondaryLinks" jsonb`),
      field('employees', 'NUMBER', `employees double precision`),
      field('address', 'ADDRESS', `"addressAddressStreet1" text NOT NULL DEFAULT '',
    "addressAddressStreet2" text NOT NULL DEFAULT '',
    "addressAddressCity" text NOT NULL DEFAULT '',
    "addressAddressPostcode" text NOT NULL DEFAULT '',
    "addressAddressState" text NOT NULL DEFAULT '',
    "addressAddressCountry" text NOT NULL DEFAULT '',
    "addressAddressLat" numeric,
    "addressAddressLng" numeric`),
      field('annualRecurringRevenue', 'CURRENCY', `"annualRecurringRevenueAmountMicros" numeric,
    "annualRecurringRevenueCurrencyCode" text NOT NULL DEFAULT ''`),
      field('idealCustomerProfile', 'BOOLEAN', `"idealCustomerProfile" boolean NOT NULL DEFAULT false`),
      manyToOne('accountOwner', 'workspaceMember'),
      oneToMany('people'),
      oneToMany('opportunities'),
    ],
  },
  {
    nameSingular: 'person',
    namePlural: 'people',
    isCustom: false,
    enums: { person_createdBySource_enum: ACTOR_SOURCES, person_updatedBySource_enum: ACTOR_SOURCES },
    fields: [
      ...systemFields('person', `${text('nameFirstName')} || ' ' || ${text('nameLastName')} || ' ' || ${text('emailsPrimaryEmail')}`),
      field('name', 'FULL_NAME', `"nameFirstName" text NOT NULL DEFAULT '', "nameLastName" text NOT NULL DEFAULT ''`),
      field('emails', 'EMAILS', `"emailsPrimaryEmail" text NOT NULL DEFAULT '', "emailsAdditionalEmails" jsonb`),
      field('linkedinLink', 'LINKS', `"linkedinLinkPrimaryLinkUrl" text NOT NULL DEFAULT '',
    "linkedinLinkPrimaryLinkLabel" text NOT NULL DEFAULT '',
    "linkedinLinkSecondaryLinks" jsonb`),
      field('jobTitle', 'TEXT', `"jobTitle" text NOT NULL DEFAULT ''`),
      field('phones', 'PHONES', `"phonesPrimaryPhoneNumber" text NOT NULL DEFAULT '',
    "phonesPrimaryPhoneCountryCode" text NOT NULL DEFAULT '',
    "phonesPrimaryPhoneCallingCode" text NOT NULL DEFAULT '',
    "phonesAdditionalPhones" jsonb`),
      field('city', 'TEXT', `city text NOT NULL DEFAULT ''`),
      field('avatarUrl', 'TEXT', `"avatarUrl" text NOT NULL DEFAULT ''`),
      manyToOne('company', 'company'),
      oneToMany('pointOfContactForOpportunities'),
    ],
  },
  {
    nameSingular: 'opportunity',
    namePlural: 'opportunities',
    isCustom: false,
    enums: {
      opportunity_stage_enum: `'NEW', 'SCREENING', 'MEETING', 'PROPOSAL', 'CUSTOMER', 'WON', 'LOST'`,
      opportunity_createdBySource_enum: ACTOR_SOURCES,
      opportunity_updatedBySource_enum: ACTOR_SOURCES,
    },
    fields: [
      ...systemFields('opportunity', text('name')),
      field('name', 'TEXT', `name text NOT NULL DEFAULT ''`),
      field('amount', 'CURRENCY', `"amountAmountMicros" numeric, "amountCurrencyCode" text NOT NULL DEFAULT ''`),
      field('closeDate', 'DATE_TIME', `"closeDate" timestamptz`),
      field('stage', 'SELECT', `stage {s}."opportunity_stage_enum" NOT NULL DEFAULT 'NEW'`),
      manyToOne('pointOfContact', 'person'),
      manyToOne('company', 'company'),
    ],
  },
  {
    nameSingular: 'note',
    namePlural: 'notes',
    isCustom: false,
    enums: { note_createdBySource_enum: ACTOR_SOURCES, note_updatedBySource_enum: ACTOR_SOURCES },
    fields: [
      ...systemFields('note', text('title')),
      field('title', 'TEXT', `title text NOT NULL DEFAULT ''`),
      field('bodyV2', 'RICH_TEXT_V2', `"bodyV2Blocknote" text, "bodyV2Markdown" text`),
    ],
  },
  {
    nameSingular: 'task',
    namePlural: 'tasks',
    isCustom: false,
    enums: {
      task_status_enum: `'TODO', 'IN_PROGRESS', 'DONE'`,
      task_createdBySource_enum: ACTOR_SOURCES,
      task_updatedBySource_enum: ACTOR_SOURCES,
    },
    fields: [
      ...systemFields('task', text('title')),
      field('title', 'TEXT', `title text NOT NULL DEFAULT ''`),
      field('bodyV2', 'RICH_TEXT_V2', `"bodyV2Blocknote" text, "bodyV2Markdown" text`),
      field('dueAt', 'DATE_TIME', `"dueAt" timestamptz`),
      field('status', 'SELECT', `status {s}."task_status_enum" DEFAULT 'TODO'`),
      manyToOne('assignee', 'workspaceMember'),
    ],
  },
  {
    nameSingular: 'pet',
    namePlural: 'pets',
    isCustom: true,
    enums: {
      _pet_species_enum: `'DOG', 'CAT', 'RABBIT'`,
      _pet_createdBySource_enum: ACTOR_SOURCES,
      _pet_updatedBySource_enum: ACTOR_SOURCES,
    },
    fields: [
      ...systemFields('_pet', text('name')),
      field('name', 'TEXT', `name text NOT NULL DEFAULT ''`),
      field('species', 'SELECT', `species {s}."_pet_species_enum"`),
      manyToOne('owner', 'person'),
    ],
  },
  {
    nameSingular: 'timelineActivity',
    namePlural: 'timelineActivities',
    isCustom: false,
    enums: {},
    fields: [
      ...systemFields('timelineActivity', null),
      field('name', 'TEXT', `name text NOT NULL DEFAULT ''`),
      field('happensAt', 'DATE_TIME', `"happensAt" timestamptz NOT NULL DEFAULT now()`),
      field('properties', 'RAW_JSON', `properties jsonb`),
      manyToOne('person', 'person'),
    ],
  },
  {
    nameSingular: 'connectedAccount',
    namePlural: 'connectedAccounts',
    isCustom: false,
    enums: {},
    fields: [
      ...systemFields('connectedAccount', null),
      field('handle', 'TEXT', `handle text NOT NULL DEFAULT ''`),
      field('provider', 'TEXT', `provider text NOT NULL DEFAULT 'google'`),
      field('accessToken', 'TEXT', `"accessToken" text`),
      field('refreshToken', 'TEXT', `"refreshToken" text`),
      manyToOne('accountOwner', 'workspaceMember'),
    ],
  },
];

function tableOf(object: ObjectSpec): string {
  return object.isCustom ? `_${object.nameSingular}` : object.nameSingular;
}

/** Twenty's `core` schema, as far as walhook reads it. */
export const CORE_DDL = `
  CREATE SCHEMA IF NOT EXISTS core;
  CREATE TABLE IF NOT EXISTS core.workspace (
    id uuid PRIMARY KEY,
    "displayName" text,
    "createdAt" timestamptz NOT NULL DEFAULT now(),
    "updatedAt" timestamptz NOT NULL DEFAULT now(),
    "deletedAt" timestamptz
  );
  CREATE TABLE IF NOT EXISTS core."dataSource" (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    label text,
    url text,
    schema text NOT NULL,
    type text NOT NULL DEFAULT 'postgres',
    "isRemote" boolean NOT NULL DEFAULT false,
    "workspaceId" uuid NOT NULL REFERENCES core.workspace (id) ON DELETE CASCADE,
    "createdAt" timestamptz NOT NULL DEFAULT now(),
    "updatedAt" timestamptz NOT NULL DEFAULT now()
  );
  CREATE TABLE IF NOT EXISTS core."objectMetadata" (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    "dataSourceId" uuid REFERENCES core."dataSource" (id) ON DELETE CASCADE,
    "nameSingular" text NOT NULL,
    "namePlural" text NOT NULL,
    "labelSingular" text NOT NULL,
    "labelPlural" text NOT NULL,
    "isCustom" boolean NOT NULL DEFAULT false,
    "isActive" boolean NOT NULL DEFAULT true,
    "isSystem" boolean NOT NULL DEFAULT false,
    "workspaceId" uuid NOT NULL,
    "createdAt" timestamptz NOT NULL DEFAULT now(),
    "updatedAt" timestamptz NOT NULL DEFAULT now(),
    UNIQUE ("nameSingular", "workspaceId")
  );
  CREATE TABLE IF NOT EXISTS core."fieldMetadata" (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    "objectMetadataId" uuid NOT NULL REFERENCES core."objectMetadata" (id) ON DELETE CASCADE,
    type varchar NOT NULL,
    name varchar NOT NULL,
    label varchar NOT NULL,
    "defaultValue" jsonb,
    options jsonb,
    settings jsonb,
    "isCustom" boolean NOT NULL DEFAULT false,
    "isActive" boolean NOT NULL DEFAULT true,
    "isSystem" boolean NOT NULL DEFAULT false,
    "isNullable" boolean DEFAULT true,
    "relationTargetObjectMetadataId" uuid,
    "workspaceId" uuid NOT NULL,
    "createdAt" timestamptz NOT NULL DEFAULT now(),
    "updatedAt" timestamptz NOT NULL DEFAULT now(),
    UNIQUE ("name", "objectMetadataId", "workspaceId")
  );
  CREATE TABLE IF NOT EXISTS core.webhook (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    "targetUrl" varchar NOT NULL,
    operations text[] NOT NULL DEFAULT '{*.*}',
    description varchar,
    secret varchar NOT NULL,
    "workspaceId" uuid NOT NULL REFERENCES core.workspace (id) ON DELETE CASCADE,
    "createdAt" timestamptz NOT NULL DEFAULT now(),
    "updatedAt" timestamptz NOT NULL DEFAULT now(),
    "deletedAt" timestamptz
  );
  CREATE INDEX IF NOT EXISTS "IDX_WEBHOOK_WORKSPACE_ID" ON core.webhook ("workspaceId");`;

/** The workspace's tables (no metadata): what an older Twenty, or a plain CRM, would hold. */
export function workspaceDdl(schema: string, { replicaIdentityFull = true } = {}): string {
  const s = `"${schema}"`;
  const statements = [`CREATE SCHEMA ${s}`];
  for (const object of TWENTY_OBJECTS) {
    for (const [name, values] of Object.entries(object.enums)) statements.push(`CREATE TYPE ${s}."${name}" AS ENUM (${values})`);
    const columns = object.fields.map((f) => f.columns.replaceAll('{s}', s)).filter((c) => c !== '');
    statements.push(`CREATE TABLE ${qualified(schema, tableOf(object))} (\n    ${columns.join(',\n    ')}\n  )`);
    // FULL: updates and soft deletes carry the whole previous row, so previousRecord and updatedFields are complete.
    if (replicaIdentityFull) statements.push(`ALTER TABLE ${qualified(schema, tableOf(object))} REPLICA IDENTITY FULL`);
  }
  return statements.join(';\n  ');
}

/** Twenty's metadata for the workspace: its workspace and dataSource rows, one objectMetadata row per object and one fieldMetadata row per field. */
export async function insertWorkspaceMetadata(client: pg.Pool | pg.ClientBase, workspace: DemoWorkspace, displayName: string): Promise<void> {
  await client.query(CORE_DDL);
  await client.query('INSERT INTO core.workspace (id, "displayName") VALUES ($1, $2)', [workspace.id, displayName]);
  const { rows } = await client.query<{ id: string }>(
    'INSERT INTO core."dataSource" (schema, "workspaceId", label) VALUES ($1, $2, $3) RETURNING id',
    [workspace.schema, workspace.id, `${displayName} data source`],
  );
  const dataSourceId = rows[0]!.id;
  for (const object of TWENTY_OBJECTS) {
    const { rows: objectRows } = await client.query<{ id: string }>(
      `INSERT INTO core."objectMetadata" ("dataSourceId", "nameSingular", "namePlural", "labelSingular", "labelPlural", "isCustom", "workspaceId")
       VALUES ($1, $2, $3, $2, $3, $4, $5) RETURNING id`,
      [dataSourceId, object.nameSingular, object.namePlural, object.isCustom, workspace.id],
    );
    for (const spec of object.fields) {
      await insertFieldMetadata(client, workspace.id, objectRows[0]!.id, spec.name, spec.type, spec.settings ?? null);
    }
  }
}

export async function insertFieldMetadata(
  client: pg.Pool | pg.ClientBase,
  workspaceId: string,
  objectMetadataId: string,
  name: string,
  type: string,
  settings: Record<string, unknown> | null = null,
): Promise<string> {
  const { rows } = await client.query<{ id: string }>(
    `INSERT INTO core."fieldMetadata" ("objectMetadataId", type, name, label, settings, "workspaceId")
     VALUES ($1, $2, $3, $3, $4, $5) RETURNING id`,
    [objectMetadataId, type, name, settings === null ? null : JSON.stringify(settings), workspaceId],
  );
  return rows[0]!.id;
}

/** A Twenty workspace: its tables, and its metadata in `core`. */
export async function createWorkspace(client: pg.Pool | pg.ClientBase, workspace: DemoWorkspace, displayName = 'Demo'): Promise<void> {
  await client.query(workspaceDdl(workspace.schema));
  await insertWorkspaceMetadata(client, workspace, displayName);
}
