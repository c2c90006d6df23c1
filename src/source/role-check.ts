/**
 * What the role in database.url may do, checked once at start. walhook needs
 * REPLICATION (a logical walsender), CONNECT and CREATE on the CRM database
 * (its publication) and ownership of the tables in scope (to add them to the
 * publication); anything beyond that is power an attacker who gets walhook's
 * credentials would also get. See README "Least privilege".
 */
import pg from 'pg';

export interface RoleAttributes {
  name: string;
  superuser: boolean;
  replication: boolean;
  createRole: boolean;
  createDb: boolean;
  bypassRls: boolean;
  /** Predefined roles it is a member of that read or write beyond its own tables. */
  broadRoles: string[];
}

export interface RoleFinding {
  level: 'warn' | 'error';
  message: string;
}

/** Predefined roles that open data or the server beyond what walhook needs. */
const BROAD_ROLES = ['pg_read_all_data', 'pg_write_all_data', 'pg_read_server_files', 'pg_write_server_files', 'pg_execute_server_program'];

export async function readRoleAttributes(client: pg.ClientBase): Promise<RoleAttributes> {
  const { rows } = await client.query<{
    name: string;
    superuser: boolean;
    replication: boolean;
    create_role: boolean;
    create_db: boolean;
    bypass_rls: boolean;
    broad_roles: string[];
  }>(
    `SELECT r.rolname AS name, r.rolsuper AS superuser, r.rolreplication AS replication, r.rolcreaterole AS create_role,
            r.rolcreatedb AS create_db, r.rolbypassrls AS bypass_rls,
            ARRAY(SELECT b.rolname::text FROM pg_roles b WHERE b.rolname = ANY($1::text[]) AND pg_has_role(r.oid, b.oid, 'USAGE') ORDER BY 1) AS broad_roles
     FROM pg_roles r WHERE r.rolname = current_user`,
    [BROAD_ROLES],
  );
  const row = rows[0];
  if (!row) throw new Error('current_user is not in pg_roles');
  return {
    name: row.name,
    superuser: row.superuser,
    replication: row.replication,
    createRole: row.create_role,
    createDb: row.create_db,
    bypassRls: row.bypass_rls,
    broadRoles: row.superuser ? [] : row.broad_roles,
  };
}

/** What to tell the operator about the role: nothing when it has exactly what walhook needs. */
export function roleFindings(role: RoleAttributes): RoleFinding[] {
  const findings: RoleFinding[] = [];
  const dedicated = 'use a dedicated role with LOGIN REPLICATION that owns the tables in scope (README "Least privilege")';
  if (role.superuser) {
    findings.push({ level: 'warn', message: `database role ${role.name} is a superuser: anyone with walhook's credentials controls the whole cluster; ${dedicated}` });
    return findings;
  }
  if (!role.replication) {
    findings.push({ level: 'error', message: `database role ${role.name} lacks the REPLICATION attribute, so it cannot stream: ALTER ROLE ${pg.escapeIdentifier(role.name)} REPLICATION` });
  }
  const extras = [
    role.createRole && 'CREATEROLE',
    role.createDb && 'CREATEDB',
    role.bypassRls && 'BYPASSRLS',
    ...role.broadRoles.map((name) => `membership of ${name}`),
  ].filter((extra): extra is string => typeof extra === 'string');
  if (extras.length > 0) {
    findings.push({ level: 'warn', message: `database role ${role.name} has ${extras.join(', ')}, which walhook does not need; ${dedicated}` });
  }
  return findings;
}
