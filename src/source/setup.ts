/**
 * Everything the slot needs before streaming starts: server checks with
 * instructions to fix what is wrong, the set of tables in scope, the
 * publications that carry them, and the slot itself.
 */
import pg from 'pg';
import { OperatorError } from '../common/operator-error.js';
import { createsFailoverSlots } from './failover.js';
import type { TableColumn } from './types.js';

export type IdentityKind = 'full' | 'key' | 'none';

export interface TableInScope {
  schema: string;
  table: string;
  /** A partitioned table: its partitions' rows are published as its own (publish_via_partition_root). */
  partitioned: boolean;
  /** What `previousRecord` can hold: the full row, the key only, or nothing (no UPDATE/DELETE published). */
  identity: IdentityKind;
  /** Columns in attnum order, key flags as pgoutput sets them (every column with REPLICA IDENTITY FULL). */
  columns: CatalogColumn[];
}

/** A column as the catalog knows it now; `position` is its attnum, which a rename or type change keeps. */
export type CatalogColumn = TableColumn & { position: number };

export interface Scope {
  /** Schema name patterns with `*` wildcards (Twenty: `workspace_*`). */
  schemas: string[];
  /** Extra tables as `schema.table`. */
  tables: string[];
  /** Tables (`schema.table`, wildcards allowed) never streamed. */
  excludeTables: string[];
  /** The sidecar's own schema: never published. */
  stateSchema: string;
}

/** The server or the database cannot feed the stream yet; `fix` says what to change there. */
export class SourceSetupError extends OperatorError {
  override readonly name = 'SourceSetupError';
  readonly code = 'SOURCE_SETUP';

  constructor(message: string, fix: string) {
    super(message, fix);
  }
}

interface ServerFacts {
  wal_level: string;
  max_replication_slots: number;
  used_slots: number;
  rolsuper: boolean;
  rolreplication: boolean;
  current_user: string;
  server_version_num: number;
}

/** Fails with what to change when the server cannot feed a logical slot. */
export async function checkServer(client: pg.ClientBase, slot: string): Promise<void> {
  const { rows } = await client.query<ServerFacts>(`
    SELECT current_setting('wal_level') AS wal_level,
           current_setting('max_replication_slots')::int AS max_replication_slots,
           (SELECT count(*) FROM pg_replication_slots)::int AS used_slots,
           r.rolsuper, r.rolreplication, current_user,
           current_setting('server_version_num')::int AS server_version_num
      FROM pg_roles r WHERE r.rolname = current_user`);
  const facts = rows[0];
  if (!facts) throw new Error('could not read server settings');
  if (facts.server_version_num < 140000) {
    throw new SourceSetupError(
      `PostgreSQL ${facts.server_version_num} is too old: walhook needs 14 or newer (pgoutput protocol v2)`,
      'upgrade PostgreSQL to 14+',
    );
  }
  if (facts.wal_level !== 'logical') {
    throw new SourceSetupError(
      `wal_level is '${facts.wal_level}', logical decoding needs 'logical'`,
      `run ALTER SYSTEM SET wal_level = logical; and restart PostgreSQL`,
    );
  }
  if (!facts.rolsuper && !facts.rolreplication) {
    throw new SourceSetupError(
      `role '${facts.current_user}' may not open replication connections`,
      `ALTER ROLE "${facts.current_user}" WITH REPLICATION;`,
    );
  }
  const slotExists = await slotInfo(client, slot);
  if (!slotExists && facts.used_slots >= facts.max_replication_slots) {
    throw new SourceSetupError(
      `all ${facts.max_replication_slots} replication slots are in use (max_replication_slots), none left for '${slot}'`,
      'raise max_replication_slots (restart needed) or drop an unused slot with pg_drop_replication_slot()',
    );
  }
}

interface TableRow {
  schema: string;
  table: string;
  partitioned: boolean;
  relreplident: string;
  has_primary_key: boolean;
  columns: { name: string; position: number; oid: number; type: string; key: boolean }[];
}

/**
 * Tables matching the scope, with what each can send as `previousRecord`.
 * A partitioned table is one table in scope and its partitions none: their
 * rows are streamed as the partitioned table's (see syncPublications).
 */
export async function discoverTables(client: pg.ClientBase, scope: Scope): Promise<TableInScope[]> {
  const { rows } = await client.query<TableRow>(`
    SELECT n.nspname AS schema, c.relname AS table, c.relkind = 'p' AS partitioned, c.relreplident::text AS relreplident,
           EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary) AS has_primary_key,
           coalesce((
             SELECT json_agg(json_build_object(
                      'name', a.attname, 'position', a.attnum, 'oid', a.atttypid::int, 'type', format_type(a.atttypid, a.atttypmod),
                      'key', c.relreplident = 'f' OR coalesce(a.attnum = ANY (ident.indkey), false))
                    ORDER BY a.attnum)
               FROM pg_attribute a
               LEFT JOIN LATERAL (
                 SELECT i.indkey FROM pg_index i
                  WHERE i.indrelid = c.oid AND ((c.relreplident = 'd' AND i.indisprimary) OR (c.relreplident = 'i' AND i.indisreplident))
               ) ident ON true
              WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '[]') AS columns
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
       AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
     ORDER BY 1, 2`);
  const schemaPatterns = scope.schemas.map(globToRegExp);
  const tablePatterns = scope.tables.map(globToRegExp);
  const excluded = scope.excludeTables.map(globToRegExp);
  return rows
    .filter((row) => row.schema !== scope.stateSchema)
    .filter((row) => {
      const qualified = `${row.schema}.${row.table}`;
      if (excluded.some((pattern) => pattern.test(qualified))) return false;
      return schemaPatterns.some((p) => p.test(row.schema)) || tablePatterns.some((p) => p.test(qualified));
    })
    .map((row) => ({
      schema: row.schema,
      table: row.table,
      partitioned: row.partitioned,
      identity: identityOf(row),
      columns: row.columns.map((column) => ({
        name: column.name,
        position: column.position,
        type: { oid: column.oid, name: column.type },
        isKey: column.key,
      })),
    }));
}

function identityOf(row: TableRow): IdentityKind {
  if (row.relreplident === 'f') return 'full';
  if (row.relreplident === 'i' || (row.relreplident === 'd' && row.has_primary_key)) return 'key';
  return 'none';
}

export function globToRegExp(glob: string): RegExp {
  const escaped = glob.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*');
  return new RegExp(`^${escaped}$`);
}

/** `"schema"."table"`, quoted as SQL needs it (Twenty's tables are camelCase: `"workspaceMember"`). */
export function quotedTable(table: Pick<TableInScope, 'schema' | 'table'>): string {
  const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;
  return `${quote(table.schema)}.${quote(table.table)}`;
}

/** The statement that gives a table full old rows, ready to paste. */
export function replicaIdentityFullSql(table: Pick<TableInScope, 'schema' | 'table'>): string {
  return `ALTER TABLE ${quotedTable(table)} REPLICA IDENTITY FULL;`;
}

/** One line per table for the start-up log: what `previousRecord` and `updatedFields` will contain. */
export function describeIdentity(table: TableInScope): string {
  const name = `${table.schema}.${table.table}`;
  switch (table.identity) {
    case 'full':
      return `${name}: previousRecord is the full row (REPLICA IDENTITY FULL)`;
    case 'key':
      return (
        `${name}: REPLICA IDENTITY DEFAULT, so PostgreSQL sends no old values of non-key columns: previousRecord holds the key only, ` +
        'updatedFields is unknown (null; left out of the twenty format), an update that changes nothing cannot be told apart and is sent, ' +
        `and a soft delete or restore arrives as updated. To get all of them, run ${replicaIdentityFullSql(table)}`
      );
    case 'none':
      return `${name}: no primary key or replica identity, so only inserts are streamed (publishing its updates/deletes would make them fail on the CRM); add a primary key or run ${replicaIdentityFullSql(table)}`;
  }
}

/**
 * The publications for pgoutput: `name` carries every change of tables with a
 * replica identity; `name_inserts` carries only inserts of tables without one,
 * because PostgreSQL rejects UPDATE/DELETE on a table published for them when
 * it has no replica identity — walhook must never break the CRM's writes.
 */
export function publicationNames(name: string): { all: string; insertsOnly: string } {
  return { all: name, insertsOnly: `${name}_inserts` };
}

/**
 * What each publication must carry for the scope, with `publish` and
 * publish_via_partition_root (PostgreSQL 13+: a partition's rows are
 * published under the partitioned table's name and columns, and
 * pg_publication_tables lists the partitioned table, not its partitions).
 */
function wantedPublications(name: string, tables: TableInScope[]): { name: string; publish: string; tables: TableInScope[] }[] {
  const names = publicationNames(name);
  return [
    { name: names.all, publish: 'insert, update, delete, truncate', tables: tables.filter((t) => t.identity !== 'none') },
    { name: names.insertsOnly, publish: 'insert', tables: tables.filter((t) => t.identity === 'none') },
  ];
}

/** How a publication differs from what the scope needs; empty when it matches. */
export interface PublicationDrift {
  publication: string;
  exists: boolean;
  /** publish_via_partition_root is off. */
  notViaRoot: boolean;
  /** In scope but not published. */
  missing: TableRef[];
  /** Published but out of scope (or belonging in the other publication). */
  extra: TableRef[];
}

export interface TableRef {
  schema: string;
  table: string;
}

export function describeDrift(drift: PublicationDrift): string {
  if (!drift.exists) return `publication ${drift.publication} does not exist (walhook streams it, and pgoutput stops at every change while it is missing)`;
  const parts = [
    ...(drift.missing.length > 0 ? [`does not publish ${drift.missing.map(qualifiedName).join(', ')}`] : []),
    ...(drift.extra.length > 0 ? [`publishes ${drift.extra.map(qualifiedName).join(', ')} out of scope`] : []),
    ...(drift.notViaRoot ? ['has publish_via_partition_root off'] : []),
  ];
  return `publication ${drift.publication} ${parts.join('; ')}`;
}

const qualifiedName = (t: { schema: string; table: string }) => `${t.schema}.${t.table}`;

async function driftOf(client: pg.ClientBase, publication: string, tables: TableInScope[]): Promise<PublicationDrift | null> {
  const found = await client.query<{ viaroot: boolean }>('SELECT pubviaroot AS viaroot FROM pg_publication WHERE pubname = $1', [publication]);
  const viaRoot = found.rows[0]?.viaroot;
  if (viaRoot === undefined) return { publication, exists: false, notViaRoot: false, missing: tables, extra: [] };
  const { rows } = await client.query<TableRef>(
    'SELECT schemaname AS schema, tablename AS table FROM pg_publication_tables WHERE pubname = $1',
    [publication],
  );
  const published = new Set(rows.map(qualifiedName));
  const wanted = new Set(tables.map(qualifiedName));
  const drift: PublicationDrift = {
    publication,
    exists: true,
    notViaRoot: !viaRoot && tables.some((t) => t.partitioned),
    missing: tables.filter((t) => !published.has(qualifiedName(t))),
    extra: rows.filter((t) => !wanted.has(qualifiedName(t))),
  };
  return drift.notViaRoot || drift.missing.length > 0 || drift.extra.length > 0 ? drift : null;
}

/** For `createPublication: false`: how the operator's publications differ from the scope (nothing is changed). */
export async function checkPublications(client: pg.ClientBase, name: string, tables: TableInScope[]): Promise<PublicationDrift[]> {
  const drifts: PublicationDrift[] = [];
  for (const wanted of wantedPublications(name, tables)) {
    // Even with no table to publish: walhook streams both, and pgoutput fails on every change while one named is missing.
    const drift = await driftOf(client, wanted.name, wanted.tables);
    if (drift) drifts.push(drift);
  }
  return drifts;
}

/**
 * Creates the publications when missing and makes them match the scope,
 * whoever changed them (ALTER PUBLICATION … DROP TABLE by hand included).
 * Returns what was found different and repaired. One transaction: a table
 * moving between the two publications (its key was dropped or added) is in
 * exactly one of them at every point of the WAL.
 */
export async function syncPublications(client: pg.ClientBase, name: string, tables: TableInScope[]): Promise<PublicationDrift[]> {
  await client.query('BEGIN');
  try {
    const repaired = await alignPublications(client, name, tables);
    await client.query('COMMIT');
    return repaired;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

async function alignPublications(client: pg.ClientBase, name: string, tables: TableInScope[]): Promise<PublicationDrift[]> {
  const repaired: PublicationDrift[] = [];
  for (const wanted of wantedPublications(name, tables)) {
    const found = await driftOf(client, wanted.name, wanted.tables);
    if (!found) continue;
    repaired.push(found);
    const ident = (s: string) => client.escapeIdentifier(s);
    if (!found.exists) {
      await withFix(
        client.query(`CREATE PUBLICATION ${ident(wanted.name)} WITH (publish = '${wanted.publish}', publish_via_partition_root = true)`),
        `creating publication ${wanted.name}`,
      );
    } else if (found.notViaRoot) {
      await withFix(
        client.query(`ALTER PUBLICATION ${ident(wanted.name)} SET (publish_via_partition_root = true)`),
        `setting publish_via_partition_root on ${wanted.name}`,
      );
    }
    // Through the root, pg_publication_tables lists partitioned tables rather than their partitions: look again.
    const drift = found.exists && !found.notViaRoot ? found : await driftOf(client, wanted.name, wanted.tables);
    if (drift) await alignTables(client, wanted.name, drift);
  }
  return repaired;
}

async function alignTables(client: pg.ClientBase, name: string, drift: PublicationDrift): Promise<void> {
  const ident = (s: string) => client.escapeIdentifier(s);
  const quoted = (t: TableRef) => `${ident(t.schema)}.${ident(t.table)}`;
  if (drift.extra.length > 0) {
    await withFix(client.query(`ALTER PUBLICATION ${ident(name)} DROP TABLE ${drift.extra.map(quoted).join(', ')}`), `removing tables from publication ${name}`);
  }
  if (drift.missing.length > 0) {
    await withFix(client.query(`ALTER PUBLICATION ${ident(name)} ADD TABLE ${drift.missing.map(quoted).join(', ')}`), `adding tables to publication ${name}`);
  }
}

async function withFix<T>(query: Promise<T>, doing: string): Promise<T> {
  try {
    return await query;
  } catch (error) {
    const message = (error as Error).message;
    const fix = /must be owner|permission denied/.test(message)
      ? 'run walhook as the owner of the CRM tables (or a superuser), or create the publication yourself and set source.createPublication: false'
      : 'see the PostgreSQL error above';
    throw new SourceSetupError(`${doing} failed: ${message}`, fix);
  }
}

export interface SlotInfo {
  plugin: string;
  database: string;
  wal_status: string | null;
  active_pid: number | null;
}

export async function slotInfo(client: pg.ClientBase, slot: string): Promise<SlotInfo | null> {
  const { rows } = await client.query<SlotInfo>(
    'SELECT plugin, database, wal_status, active_pid FROM pg_replication_slots WHERE slot_name = $1',
    [slot],
  );
  return rows[0] ?? null;
}

/** Creates the logical slot when missing; refuses a slot of another plugin, database, or one that is lost. */
export async function ensureSlot(client: pg.ClientBase, slot: string, plugin: string, create: boolean): Promise<'created' | 'existing'> {
  const info = await slotInfo(client, slot);
  if (!info) {
    if (!create) {
      throw new SourceSetupError(`replication slot '${slot}' does not exist`, `create it (SELECT pg_create_logical_replication_slot('${slot}', '${plugin}')) or set source.createSlot: true`);
    }
    // On 17+ the slot is a failover slot, which standbys with sync_replication_slots = on keep a copy of.
    const { rows } = await client.query<{ version: number }>(`SELECT current_setting('server_version_num')::int AS version`);
    const createSql = createsFailoverSlots(rows[0]?.version ?? 0)
      ? 'SELECT pg_create_logical_replication_slot($1, $2, failover => true)'
      : 'SELECT pg_create_logical_replication_slot($1, $2)';
    await withFix(client.query(createSql, [slot, plugin]), `creating slot ${slot}`);
    return 'created';
  }
  const { rows } = await client.query<{ db: string }>('SELECT current_database() AS db');
  if (info.database !== rows[0]?.db) {
    throw new SourceSetupError(`slot '${slot}' belongs to database '${info.database}', not '${rows[0]?.db}'`, 'choose another source.slot name');
  }
  if (info.plugin !== plugin) {
    throw new SourceSetupError(`slot '${slot}' uses plugin '${info.plugin}' but source.plugin is '${plugin}'`, `set source.plugin: ${info.plugin}, or use another slot name`);
  }
  if (info.wal_status === 'lost') {
    const { problem, fix } = lostSlot(slot);
    throw new SourceSetupError(problem, fix);
  }
  return 'existing';
}

/** What a lost slot means and what the operator must do, in one place. */
export function lostSlot(slot: string): { problem: string; fix: string } {
  return {
    problem:
      `replication slot '${slot}' is lost: PostgreSQL removed WAL it still needed (max_slot_wal_keep_size was exceeded), ` +
      'so changes made meanwhile can no longer be streamed',
    fix:
      `run walhook recover (or set recovery.automatic: true): it drops the slot, recreates it and backfills the rows changed ` +
      `since the last settled change. By hand: SELECT pg_drop_replication_slot('${slot}'); restart walhook (it recreates the slot), ` +
      'then backfill the rows changed since the last delivered event. Deletes made meanwhile cannot be recovered',
  };
}
