import { describe, expect, it } from 'vitest';
import { describeIdentity } from '../../../src/source/setup.js';

describe('describeIdentity', () => {
  it('quotes the identifiers of the ALTER TABLE it suggests, so a hostile table name pasted into psql stays a name', () => {
    const hint = describeIdentity({ schema: 'workspace_a', table: 'x REPLICA IDENTITY FULL; DROP TABLE "person"; --', identity: 'key', partitioned: false, columns: [] });
    expect(hint).toContain('run ALTER TABLE "workspace_a"."x REPLICA IDENTITY FULL; DROP TABLE ""person""; --" REPLICA IDENTITY FULL');
  });

  it('quotes ordinary names too, since PostgreSQL folds unquoted ones to lower case', () => {
    expect(describeIdentity({ schema: 'workspace_a', table: 'Person', identity: 'key', partitioned: false, columns: [] })).toMatch(/ALTER TABLE "workspace_a"\."Person" REPLICA/);
  });
});
