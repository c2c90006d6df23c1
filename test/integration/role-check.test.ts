/** The start-up check of walhook's database role, against real roles on the test cluster. */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readRoleAttributes, roleFindings } from '../../src/source/role-check.js';
import { createTestDatabase, type TestDatabase } from '../harness/database.js';

let db: TestDatabase;
const roles: string[] = [];

beforeAll(async () => {
  db = await createTestDatabase('rolecheck');
});

afterAll(async () => {
  for (const role of roles) await db.sql(`DROP ROLE IF EXISTS ${role}`);
  await db?.drop();
});

/** Findings for a new role with `attributes`, read through a connection as that role. */
async function findingsFor(attributes: string, grant?: string) {
  const role = `walhook_role_${randomBytes(4).toString('hex')}`;
  roles.push(role);
  await db.sql(`CREATE ROLE ${role} LOGIN PASSWORD 'role-check-password' ${attributes}`);
  if (grant) await db.sql(`GRANT ${grant} TO ${role}`);
  const url = new URL(db.url);
  url.username = role;
  url.password = 'role-check-password';
  const client = new pg.Client(url.toString());
  await client.connect();
  try {
    return roleFindings(await readRoleAttributes(client));
  } finally {
    await client.end();
  }
}

describe('the database role check', () => {
  it('says nothing about a role with exactly LOGIN REPLICATION', async () => {
    expect(await findingsFor('REPLICATION')).toEqual([]);
  });

  it('reports a role without REPLICATION as an error, with the fix quoted', async () => {
    const [finding] = await findingsFor('');
    expect(finding).toMatchObject({ level: 'error' });
    expect(finding?.message).toMatch(/lacks the REPLICATION attribute.*ALTER ROLE "walhook_role_[0-9a-f]+" REPLICATION/);
  });

  it('warns about a superuser, and about powers walhook does not need', async () => {
    const superuser = roleFindings(await readRoleAttributes(await connected(db.url)));
    expect(superuser).toEqual([expect.objectContaining({ level: 'warn', message: expect.stringMatching(/is a superuser/) })]);
    const extras = await findingsFor('REPLICATION CREATEDB CREATEROLE', 'pg_read_all_data');
    expect(extras).toHaveLength(1);
    expect(extras[0]?.message).toMatch(/has CREATEROLE, CREATEDB, membership of pg_read_all_data, which walhook does not need/);
  });
});

const opened: pg.Client[] = [];
async function connected(url: string): Promise<pg.Client> {
  const client = new pg.Client(url);
  await client.connect();
  opened.push(client);
  return client;
}
afterAll(async () => {
  for (const client of opened) await client.end();
});
