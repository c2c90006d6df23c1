import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  base36ToUuid,
  DEFAULT_WORKSPACE_PATTERN,
  objectName,
  uuidToBase36,
  workspaceIdOf,
  type NamingOptions,
} from '../../../src/events/naming.js';

// Twenty's seed workspace and the schema name its test suites use for it.
const TWENTY_SEED_WORKSPACE = '20202020-1c25-4d02-bf25-6aeccf7ea419';
const TWENTY_SEED_SCHEMA = 'workspace_1wgvd1injqtife6y4rvfbu3h5';

const twenty: NamingOptions = { objectNames: {}, workspacePattern: DEFAULT_WORKSPACE_PATTERN, twentyWorkspaceIds: true };

describe('objectName', () => {
  it('keeps Twenty standard tables, already singular', () => {
    for (const table of ['person', 'company', 'opportunity', 'note', 'workspaceMember']) {
      expect(objectName(TWENTY_SEED_SCHEMA, table, twenty)).toBe(table);
    }
  });

  it('drops the leading underscore of custom objects', () => {
    expect(objectName(TWENTY_SEED_SCHEMA, '_pet', twenty)).toBe('pet');
    expect(objectName(TWENTY_SEED_SCHEMA, '_buyerRequest', twenty)).toBe('buyerRequest');
  });

  it('prefers a schema.table override, then a table override, over the rules', () => {
    const options = { ...twenty, objectNames: { 'crm.people': 'person', people: 'human', _pet: 'animal' } };
    expect(objectName('crm', 'people', options)).toBe('person');
    expect(objectName('other', 'people', options)).toBe('human');
    expect(objectName('crm', '_pet', options)).toBe('animal');
  });

  it('ignores names inherited from Object.prototype', () => {
    expect(objectName('public', 'constructor', twenty)).toBe('constructor');
  });
});

describe('workspaceIdOf', () => {
  it("turns Twenty's schema name back into the workspace UUID", () => {
    expect(workspaceIdOf(TWENTY_SEED_SCHEMA, twenty)).toBe(TWENTY_SEED_WORKSPACE);
  });

  it('returns group 1 as is without twentyWorkspaceIds', () => {
    const options = { ...twenty, twentyWorkspaceIds: false, workspacePattern: /^tenant_([a-z0-9]+)$/ };
    expect(workspaceIdOf('tenant_acme', options)).toBe('acme');
  });

  it('returns null when the schema does not match or there is no pattern', () => {
    expect(workspaceIdOf('public', twenty)).toBeNull();
    expect(workspaceIdOf(TWENTY_SEED_SCHEMA, { ...twenty, workspacePattern: null })).toBeNull();
  });

  it("passes an id that is not Twenty's base36 of a UUID as it is, never as an invented UUID", () => {
    // `acme` is valid base 36 (0x075e66), but no UUID Twenty makes: it used to become 00000000-…-075e66.
    expect(workspaceIdOf('workspace_acme', twenty)).toBe('acme');
    expect(workspaceIdOf('workspace_not-base36', twenty)).toBe('not-base36');
  });
});

describe('uuidToBase36 / base36ToUuid', () => {
  it("matches Twenty's schema name for its seed workspace", () => {
    expect(`workspace_${uuidToBase36(TWENTY_SEED_WORKSPACE)}`).toBe(TWENTY_SEED_SCHEMA);
  });

  it('round-trips random UUIDs, the nil UUID and the max UUID', () => {
    const uuids = [
      ...Array.from({ length: 200 }, () => randomUUID()),
      '00000000-0000-0000-0000-000000000000',
      '00000000-0000-0000-0000-00000000000a',
      'ffffffff-ffff-ffff-ffff-ffffffffffff',
    ];
    for (const uuid of uuids) expect(base36ToUuid(uuidToBase36(uuid))).toBe(uuid);
  });

  it('rejects what no UUID encodes to', () => {
    expect(base36ToUuid('')).toBeNull();
    expect(base36ToUuid('ABC')).toBeNull();
    expect(base36ToUuid('a-b')).toBeNull();
    // 2^128 itself, one past the largest UUID.
    expect(base36ToUuid((1n << 128n).toString(36))).toBeNull();
    expect(base36ToUuid('1'.repeat(26))).toBeNull();
  });
});
