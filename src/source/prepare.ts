/**
 * From configuration to a source ready to stream, shared by `walhook start`
 * and `walhook tail`: the scope, the publications and slot, the type catalog,
 * and the mapping options of `events/`.
 */
import type pg from 'pg';
import type { WalhookConfig } from '../config/schema.js';
import type { MappingOptions } from '../events/mapping.js';
import { twentyWorkspaceUuid, workspaceIdOf } from '../events/naming.js';
import { decodeValue, typeCatalogFromRows, type PgTypeRow, type TypeCatalog } from '../events/values.js';
import type { Logger } from '../log.js';
import { failoverWarnings, readFailoverFacts } from './failover.js';
import {
  checkServer,
  describeIdentity,
  discoverTables,
  ensureSlot,
  replicaIdentityFullSql,
  syncPublications,
  type Scope,
  type TableInScope,
} from './setup.js';

export function mappingOptions(config: WalhookConfig): MappingOptions {
  return {
    objectNames: config.events.objectNames,
    workspacePattern: config.events.workspacePattern ? new RegExp(config.events.workspacePattern) : null,
    twentyWorkspaceIds: config.events.twentyWorkspaceIds,
    softDeleteColumn: config.events.softDeleteColumn,
  };
}

export function scopeOf(config: WalhookConfig): Scope {
  return {
    schemas: config.source.schemas,
    tables: config.source.tables,
    excludeTables: [...config.source.excludeTables, ...config.twenty.excludeTables],
    stateSchema: config.state.schema,
  };
}

export async function loadTypeCatalog(client: pg.ClientBase): Promise<TypeCatalog> {
  const { rows } = await client.query<PgTypeRow>(
    'SELECT oid::int AS oid, typname, typelem::int AS typelem, typcategory, typtype, typbasetype::int AS typbasetype FROM pg_type',
  );
  return typeCatalogFromRows(rows);
}

/** Commit timestamps from wal2json are timestamptz text, decoded like any value. */
export function decodeTimestamp(text: string): string {
  return decodeValue(text, { oid: 1184, name: 'timestamptz' }, typeCatalogFromRows([])) as string;
}

/**
 * Checks the server, brings publications and slot in line with the scope, and
 * returns the tables in scope. With `temporarySlot` the slot is left to the
 * replication connection, which creates it (see ReplicationOptions).
 */
export async function prepareSource(
  client: pg.ClientBase,
  config: WalhookConfig,
  logger: Logger,
  { temporarySlot = false } = {},
): Promise<TableInScope[]> {
  await checkServer(client, config.source.slot);
  const tables = await discoverTables(client, scopeOf(config));
  if (tables.length === 0) {
    logger.warn({ schemas: config.source.schemas, tables: config.source.tables }, 'no table matches source.schemas / source.tables yet');
  }
  if (config.source.plugin === 'pgoutput' && config.source.createPublication) {
    await syncPublications(client, config.source.publication, tables);
  }
  // The publication must exist before the slot: decoding changes older than it fails.
  if (temporarySlot) return tables;
  const slot = await ensureSlot(client, config.source.slot, config.source.plugin, config.source.createSlot);
  if (slot === 'created') logger.info({ slot: config.source.slot, plugin: config.source.plugin }, 'replication slot created');
  for (const { problem, fix } of failoverWarnings(config.source.slot, await readFailoverFacts(client, config.source.slot))) {
    logger.warn({ slot: config.source.slot, fix }, problem);
  }
  return tables;
}

/** One log line per table: what previousRecord will hold. */
export function logIdentities(tables: TableInScope[], logger: Logger): void {
  for (const table of tables) {
    const fix = table.identity === 'full' ? undefined : replicaIdentityFullSql(table);
    logger.info({ schema: table.schema, table: table.table, previousRecord: table.identity, fix }, describeIdentity(table));
  }
}

/**
 * One warning for the schemas whose workspace id is not Twenty's base36 form
 * of a UUID (and that core."dataSource" does not map): their events carry the
 * captured text as workspaceId, not a UUID.
 */
export function warnRawWorkspaceIds(
  tables: TableInScope[],
  options: MappingOptions,
  mappedByTwenty: (schema: string) => boolean,
  logger: Logger,
): void {
  if (!options.twentyWorkspaceIds || options.workspacePattern === null) return;
  const pattern = options.workspacePattern;
  const schemas = [...new Set(tables.map((table) => table.schema))].filter((schema) => {
    const group = pattern.exec(schema)?.[1];
    return group !== undefined && twentyWorkspaceUuid(group) === null && !mappedByTwenty(schema);
  });
  if (schemas.length === 0) return;
  logger.warn(
    { schemas, workspaceIds: schemas.map((schema) => workspaceIdOf(schema, options)) },
    "these schemas' workspace ids are not Twenty's base36 form of a UUID: events carry the id as the schema name gives it " +
      '(set events.twentyWorkspaceIds: false to silence this, or events.workspacePattern to capture another part)',
  );
}

