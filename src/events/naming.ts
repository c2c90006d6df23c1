/**
 * Which CRM object and workspace a table belongs to. Twenty keeps one schema
 * per workspace (`workspace_<base36 of the workspace UUID>`, see its
 * `getWorkspaceSchemaName` and `uuidToBase36`) and one table per object, named
 * after the object in singular (`person`, `company`; custom objects `_pet`).
 */

export interface NamingOptions {
  /** Object name overrides, keyed by `schema.table` or by `table`. */
  objectNames: Record<string, string>;
  /** Schema name pattern; group 1 is the workspace id. Null: no workspaces. Must not carry the `g` or `y` flag (exec would keep state). */
  workspacePattern: RegExp | null;
  /** Group 1 is Twenty's base36 form of the workspace UUID: turn it back into the UUID (an id that is not one is passed as it is). */
  twentyWorkspaceIds: boolean;
}

export const DEFAULT_WORKSPACE_PATTERN = /^workspace_(.+)$/;

export function objectName(schema: string, table: string, options: NamingOptions): string {
  const override = ownEntry(options.objectNames, `${schema}.${table}`) ?? ownEntry(options.objectNames, table);
  if (override !== undefined) return override;
  return table.startsWith('_') ? table.slice(1) : table;
}

/** Own keys only: a table named `constructor` must not pick up Object.prototype's. */
function ownEntry(record: Record<string, string>, key: string): string | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

/** Workspace ids by schema, per options object: computed once per schema, not once per change. */
const workspaceIds = new WeakMap<NamingOptions, Map<string, string | null>>();

/**
 * The workspace a schema holds, or null when the schema matches no workspace.
 * With twentyWorkspaceIds, a captured id that is Twenty's base36 form of a
 * UUID gives that UUID; any other (`workspace_acme`) is passed as it is,
 * never turned into an invented UUID (`isTwentyWorkspaceSuffix` tells which).
 */
export function workspaceIdOf(schema: string, options: NamingOptions): string | null {
  let known = workspaceIds.get(options);
  if (!known) workspaceIds.set(options, (known = new Map()));
  const cached = known.get(schema);
  if (cached !== undefined) return cached;
  const group = options.workspacePattern?.exec(schema)?.[1];
  const id = group === undefined ? null : options.twentyWorkspaceIds ? (twentyWorkspaceUuid(group) ?? group) : group;
  known.set(schema, id);
  return id;
}

/** A UUID as Twenty makes them (RFC 4122 variant, version 1–8): what a real workspace id decodes to. */
const GENERATED_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** The workspace UUID a schema suffix stands for, or null when the suffix is not Twenty's base36 of a generated UUID. */
export function twentyWorkspaceUuid(suffix: string): string | null {
  const uuid = base36ToUuid(suffix);
  return uuid !== null && GENERATED_UUID.test(uuid) ? uuid : null;
}

/** Twenty's schema suffix: the UUID's 128 bits written in base 36 (lowercase, no padding). */
export function uuidToBase36(uuid: string): string {
  return BigInt(`0x${uuid.replace(/-/g, '')}`).toString(36);
}

const BASE36_DIGITS = '0123456789abcdefghijklmnopqrstuvwxyz';
/** 36^25 > 2^128, so a 128-bit number never needs more digits. */
const MAX_BASE36_UUID_LENGTH = 25;
const UUID_LIMIT = 1n << 128n;

/** The reverse of `uuidToBase36`; null when `text` is not base 36 or exceeds 128 bits. */
export function base36ToUuid(text: string): string | null {
  if (text.length === 0 || text.length > MAX_BASE36_UUID_LENGTH) return null;
  let value = 0n;
  for (const char of text) {
    const digit = BASE36_DIGITS.indexOf(char);
    if (digit < 0) return null;
    value = value * 36n + BigInt(digit);
  }
  if (value >= UUID_LIMIT) return null;
  const hex = value.toString(16).padStart(32, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
