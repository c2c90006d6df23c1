/**
 * What `events/` needs before a stream starts, shared by `walhook start` and
 * `walhook tail`: the mapping options from the configuration, the server's
 * type catalog, the decoder of wal2json's commit times, and a warning for
 * workspace ids that are not Twenty's.
 */
import type pg from 'pg';
import type { Logger } from '../common/log.js';
import type { WalhookConfig } from '../config/schema.js';
import type { TableInScope } from '../source/setup.js';
import type { MappingOptions } from './mapping.js';
import { twentyWorkspaceUuid, workspaceIdOf } from './naming.js';
import { decodeValue, typeCatalogFromRows, type PgTypeRow, type TypeCatalog } from './values.js';

export function mappingOptions(config: WalhookConfig): MappingOptions {
  return {
    objectNames: config.events.objectNames,
    workspacePattern: config.events.workspacePattern ? new RegExp(config.events.workspacePattern) : null,
    twentyWorkspaceIds: config.events.twentyWorkspaceIds,
    softDeleteColumn: config.events.softDeleteColumn,
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
