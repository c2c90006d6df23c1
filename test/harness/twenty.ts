/**
 * A Twenty database for tests: `core` metadata, two workspaces (Twenty's
 * layout, see src/demo/schema.ts), rows written the way Twenty's server
 * writes them, and the edits Twenty's UI makes (a custom field, a webhook in
 * Settings → APIs & Webhooks, the legacy per-workspace webhook table).
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { createWorkspace, insertFieldMetadata, newWorkspace, qualified, type DemoWorkspace } from '../../src/demo/schema.js';
import type { TestDatabase } from './database.js';

/** Twenty's seed workspaces ("Apple" and "YCombinator" in its dev seeds). */
export const WORKSPACE_A = newWorkspace('20202020-1c25-4d02-bf25-6aeccf7ea419');
export const WORKSPACE_B = newWorkspace('3b8e6458-5fc1-4e63-8563-008ccddaa6db');

export interface TwentySeed {
  /** Per workspace: a workspace member, its user, a company and a person. */
  members: Map<string, { id: string; userId: string }>;
  companies: Map<string, string>;
  persons: Map<string, string>;
}

/** Creates `core` and both workspaces with their metadata, and seeds a member, a company and a person in each. */
export async function createTwentyDatabase(db: TestDatabase, { replicaIdentityFull = true } = {}): Promise<TwentySeed> {
  const seed: TwentySeed = { members: new Map(), companies: new Map(), persons: new Map() };
  for (const [workspace, name] of [
    [WORKSPACE_A, 'Apple'],
    [WORKSPACE_B, 'YCombinator'],
  ] as const) {
    await withClient(db, (sql) => createWorkspace(sql, workspace, name));
    if (!replicaIdentityFull) {
      const tables = await db.sql<{ table: string }>(`SELECT tablename AS table FROM pg_tables WHERE schemaname = $1`, [workspace.schema]);
      for (const { table } of tables) await db.sql(`ALTER TABLE ${qualified(workspace.schema, table)} REPLICA IDENTITY DEFAULT`);
    }
    const member = { id: randomUUID(), userId: randomUUID() };
    await db.sql(
      `INSERT INTO ${qualified(workspace.schema, 'workspaceMember')} (id, "nameFirstName", "nameLastName", "userEmail", "userId")
       VALUES ($1, 'Tim', 'Apple', 'tim@apple.dev', $2)`,
      [member.id, member.userId],
    );
    seed.members.set(workspace.id, member);
    const [company] = await db.sql<{ id: string }>(
      `INSERT INTO ${qualified(workspace.schema, 'company')} (name, "domainNamePrimaryLinkUrl", employees, "createdBySource", "createdByWorkspaceMemberId", "createdByName")
       VALUES ('Acme', 'https://acme.example', 120, 'MANUAL', $1, 'Tim Apple') RETURNING id`,
      [member.id],
    );
    seed.companies.set(workspace.id, company!.id);
    const [person] = await db.sql<{ id: string }>(
      `INSERT INTO ${qualified(workspace.schema, 'person')} ("nameFirstName", "nameLastName", "emailsPrimaryEmail", "jobTitle", city, "companyId", position)
       VALUES ('Ada', 'Lovelace', 'ada@acme.example', 'Engineer', 'London', $1, 1) RETURNING id`,
      [company!.id],
    );
    seed.persons.set(workspace.id, person!.id);
  }
  return seed;
}

/** A short-lived pool on the test database, for the helpers that take pg's client interface. */
async function withClient<T>(db: TestDatabase, work: (sql: pg.Pool) => Promise<T>): Promise<T> {
  const pool = new pg.Pool({ connectionString: db.url, max: 1 });
  try {
    return await work(pool);
  } finally {
    await pool.end();
  }
}

export async function objectMetadataId(db: TestDatabase, workspace: DemoWorkspace, nameSingular: string): Promise<string> {
  const [row] = await db.sql<{ id: string }>(
    'SELECT id FROM core."objectMetadata" WHERE "workspaceId" = $1 AND "nameSingular" = $2',
    [workspace.id, nameSingular],
  );
  if (!row) throw new Error(`no objectMetadata row for ${nameSingular} in workspace ${workspace.id}`);
  return row.id;
}

/**
 * What Twenty does when a user adds a custom field in Settings → Data model:
 * the column(s) in the workspace table and the fieldMetadata row.
 */
export async function addCustomField(
  db: TestDatabase,
  workspace: DemoWorkspace,
  table: string,
  nameSingular: string,
  field: { name: string; type: string; columns: string },
): Promise<void> {
  await db.sql(`ALTER TABLE ${qualified(workspace.schema, table)} ${field.columns.split(',').map((c) => `ADD COLUMN ${c}`).join(', ')}`);
  const objectId = await objectMetadataId(db, workspace, nameSingular);
  await withClient(db, (sql) => insertFieldMetadata(sql, workspace.id, objectId, field.name, field.type));
}

/** A webhook as Twenty's Settings page creates it: a row of core.webhook with a clear-text secret. */
export async function insertCoreWebhook(
  db: TestDatabase,
  workspace: DemoWorkspace,
  webhook: { targetUrl: string; operations?: string[]; secret: string; description?: string },
): Promise<string> {
  const [row] = await db.sql<{ id: string }>(
    `INSERT INTO core.webhook ("targetUrl", operations, description, secret, "workspaceId")
     VALUES ($1, coalesce($2::text[], '{*.*}'), $3, $4, $5) RETURNING id`,
    [webhook.targetUrl, webhook.operations ?? null, webhook.description ?? null, webhook.secret, workspace.id],
  );
  return row!.id;
}

/** The per-workspace webhook table of Twenty versions before core.webhook. */
export async function createLegacyWebhookTable(db: TestDatabase, workspace: DemoWorkspace): Promise<void> {
  await db.sql(`
    CREATE TABLE ${qualified(workspace.schema, 'webhook')} (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      "targetUrl" text NOT NULL DEFAULT '',
      operations text[] NOT NULL DEFAULT '{*.*}',
      description text,
      secret text NOT NULL DEFAULT '',
      position double precision,
      "createdAt" timestamptz NOT NULL DEFAULT now(),
      "updatedAt" timestamptz NOT NULL DEFAULT now(),
      "deletedAt" timestamptz
    )`);
}
