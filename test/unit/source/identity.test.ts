import { describe, expect, it } from 'vitest';
import { describeIdentity, replicaIdentityFullSql, type TableInScope } from '../../../src/source/setup.js';

const table = (identity: TableInScope['identity'], name = 'workspaceMember'): TableInScope => ({
  schema: 'workspace_1wgvd1injqtife6y4rvfbu3h5',
  table: name,
  identity,
  partitioned: false,
  columns: [],
});

describe('the identity advice', () => {
  it("quotes Twenty's camelCase table names so the statement runs as printed", () => {
    expect(replicaIdentityFullSql(table('key'))).toBe('ALTER TABLE "workspace_1wgvd1injqtife6y4rvfbu3h5"."workspaceMember" REPLICA IDENTITY FULL;');
    expect(replicaIdentityFullSql({ schema: 'we"ird', table: 'a"b' })).toBe('ALTER TABLE "we""ird"."a""b" REPLICA IDENTITY FULL;');
  });

  it('says, for a default identity, what is unknown and how to fix it', () => {
    const line = describeIdentity(table('key'));
    expect(line).toContain('updatedFields is unknown');
    expect(line).toContain('previousRecord holds the key only');
    expect(line.endsWith('ALTER TABLE "workspace_1wgvd1injqtife6y4rvfbu3h5"."workspaceMember" REPLICA IDENTITY FULL;')).toBe(true);
    expect(describeIdentity(table('full'))).not.toContain('ALTER TABLE');
  });
});
