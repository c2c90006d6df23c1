import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../harness/database.js';
import { createTwentyDatabase, WORKSPACE_A, WORKSPACE_B } from '../harness/twenty.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase('twenty_harness');
  await createTwentyDatabase(db);
});
afterAll(async () => db?.drop());

describe('the Twenty test database', () => {
  it('has core metadata for two workspaces, mapped to their schemas by core."dataSource"', async () => {
    const sources = await db.sql<{ schema: string; workspaceId: string }>('SELECT schema, "workspaceId" FROM core."dataSource" ORDER BY schema');
    expect(sources.map((s) => [s.schema, s.workspaceId]).sort()).toEqual(
      [[WORKSPACE_A.schema, WORKSPACE_A.id], [WORKSPACE_B.schema, WORKSPACE_B.id]].sort(),
    );
    const objects = await db.sql<{ nameSingular: string }>(
      'SELECT "nameSingular" FROM core."objectMetadata" WHERE "workspaceId" = $1 ORDER BY 1',
      [WORKSPACE_A.id],
    );
    expect(objects.map((o) => o.nameSingular)).toEqual(
      expect.arrayContaining(['company', 'note', 'opportunity', 'person', 'pet', 'task', 'workspaceMember']),
    );
  });

  it('stores composite fields as one column per property, with a generated searchVector and a join column', async () => {
    const columns = await db.sql<{ column_name: string; is_generated: string }>(
      `SELECT column_name, is_generated FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'person'`,
      [WORKSPACE_A.schema],
    );
    const names = columns.map((c) => c.column_name);
    expect(names).toEqual(expect.arrayContaining(['nameFirstName', 'nameLastName', 'emailsPrimaryEmail', 'createdBySource', 'companyId']));
    expect(columns.find((c) => c.column_name === 'searchVector')?.is_generated).toBe('ALWAYS');
    const [row] = await db.sql<{ searchVector: string }>(`SELECT "searchVector"::text AS "searchVector" FROM "${WORKSPACE_A.schema}".person`);
    expect(row?.searchVector).toContain("'ada'");
  });
});
