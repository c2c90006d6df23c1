/**
 * The demo's CRM: one Twenty workspace, laid out as Twenty lays it out, so
 * walhook meets what it would meet in production. Twenty keeps a workspace in
 * the schema `workspace_<base36 of its UUID>`, one table per object (custom
 * objects prefixed `_`), composite fields flattened into columns
 * (`nameFirstName`, `amountAmountMicros`), select fields as enums, and soft
 * deletes in `deletedAt`.
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
export const DEMO_TABLES = ['company', 'person', 'opportunity', 'note', '_pet'] as const;
export type DemoTable = (typeof DEMO_TABLES)[number];

/** `"schema"."table"`; the base36 schema name and the tables need no escaping, but quoting keeps it uniform. */
export function qualified(schema: string, table: DemoTable): string {
  return `"${schema}"."${table}"`;
}

/** Columns every Twenty object has. */
const SYSTEM_COLUMNS = `
    position double precision,
    "createdAt" timestamptz NOT NULL DEFAULT now(),
    "updatedAt" timestamptz NOT NULL DEFAULT now(),
    "deletedAt" timestamptz`;

export function workspaceDdl(schema: string): string {
  const table = (name: DemoTable) => qualified(schema, name);
  return `
  CREATE SCHEMA "${schema}";
  CREATE TYPE "${schema}"."opportunity_stage_enum" AS ENUM ('NEW', 'SCREENING', 'MEETING', 'PROPOSAL', 'WON', 'LOST');
  CREATE TYPE "${schema}"."_pet_species_enum" AS ENUM ('DOG', 'CAT', 'RABBIT');
  CREATE TABLE ${table('company')} (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name text,
    "domainNamePrimaryLinkUrl" text,
    employees integer,
    "annualRecurringRevenueAmountMicros" bigint,
    "annualRecurringRevenueCurrencyCode" text,
    "addressAddressCity" text,
    "addressAddressCountry" text,
    "idealCustomerProfile" boolean NOT NULL DEFAULT false,${SYSTEM_COLUMNS}
  );
  CREATE TABLE ${table('person')} (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    "nameFirstName" text,
    "nameLastName" text,
    "emailsPrimaryEmail" text,
    "emailsAdditionalEmails" jsonb,
    "phonesPrimaryPhoneNumber" text,
    "jobTitle" text,
    city text,
    "companyId" uuid REFERENCES ${table('company')} (id),${SYSTEM_COLUMNS}
  );
  CREATE TABLE ${table('opportunity')} (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name text,
    "amountAmountMicros" numeric,
    "amountCurrencyCode" text,
    stage "${schema}"."opportunity_stage_enum" NOT NULL DEFAULT 'NEW',
    "closeDate" timestamptz,
    "companyId" uuid REFERENCES ${table('company')} (id),
    "pointOfContactId" uuid REFERENCES ${table('person')} (id),${SYSTEM_COLUMNS}
  );
  CREATE TABLE ${table('note')} (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    title text,
    "bodyV2Markdown" text,${SYSTEM_COLUMNS}
  );
  CREATE TABLE ${table('_pet')} (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name text,
    species "${schema}"."_pet_species_enum",
    "ownerId" uuid REFERENCES ${table('person')} (id),${SYSTEM_COLUMNS}
  );
  ${
    // FULL: updates and soft deletes carry the whole previous row, so previousRecord and updatedFields are complete.
    DEMO_TABLES.map((name) => `ALTER TABLE ${table(name)} REPLICA IDENTITY FULL;`).join('\n  ')
  }`;
}

export async function createWorkspace(client: pg.Pool | pg.ClientBase, workspace: DemoWorkspace): Promise<void> {
  await client.query(workspaceDdl(workspace.schema));
}
