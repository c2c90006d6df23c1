/**
 * From configuration to a source ready to stream, shared by `walhook start`
 * and `walhook tail`: the scope, the publications and slot, the tables in
 * scope. What `events/` needs besides is prepared by `events/setup.ts`.
 */
import type pg from 'pg';
import type { WalhookConfig } from '../config/schema.js';
import type { Logger } from '../common/log.js';
import { tablesOfPartition, type PartitionTarget } from '../common/partitions.js';
import { failoverWarnings, readFailoverFacts } from './failover.js';
import {
  checkPublications,
  checkServer,
  describeDrift,
  describeIdentity,
  discoverTables,
  ensureSlot,
  replicaIdentityFullSql,
  SourceSetupError,
  syncPublications,
  type Scope,
  type TableInScope,
} from './setup.js';

export function scopeOf(config: WalhookConfig): Scope {
  return {
    schemas: config.source.schemas,
    tables: config.source.tables,
    excludeTables: [...config.source.excludeTables, ...config.twenty.excludeTables],
    stateSchema: config.state.schema,
  };
}

/** The whole scope through source.slot and source.publication: one partition's worth (what `walhook tail` and `walhook recover` stream). */
export function wholeSource(config: WalhookConfig): PartitionTarget {
  return { index: 0, count: 1, slot: config.source.slot, publication: config.source.publication };
}

/** The tables in scope that `target` streams. */
async function tablesOf(client: pg.ClientBase, config: WalhookConfig, target: PartitionTarget): Promise<TableInScope[]> {
  return tablesOfPartition(await discoverTables(client, scopeOf(config)), target);
}

export interface PreparedSource {
  tables: TableInScope[];
  /** What is wrong with publications walhook may not change (`createPublication: false`), for /readyz; else null. */
  publicationProblem: string | null;
}

/**
 * Checks the server, brings publications and slot of `target` (by default
 * the whole scope) in line with the scope, and returns the tables it streams.
 * With `temporarySlot` the slot is left to the replication connection, which
 * creates it (see ReplicationOptions).
 */
export async function prepareSource(
  client: pg.ClientBase,
  config: WalhookConfig,
  logger: Logger,
  { temporarySlot = false, target = wholeSource(config) }: { temporarySlot?: boolean; target?: PartitionTarget } = {},
): Promise<PreparedSource> {
  const { slot } = target;
  await checkServer(client, slot);
  const tables = await tablesOf(client, config, target);
  if (tables.length === 0) {
    logger.warn({ schemas: config.source.schemas, tables: config.source.tables, slot }, 'no table matches source.schemas / source.tables yet');
  }
  refuseUnsupported(config, tables);
  // The publication must exist before the slot: decoding changes older than it fails.
  const publicationProblem = await reconcilePublications(client, config, tables, logger, target.publication);
  if (temporarySlot) return { tables, publicationProblem };
  const created = await ensureSlot(client, slot, config.source.plugin, config.source.createSlot);
  if (created === 'created') logger.info({ slot, plugin: config.source.plugin }, 'replication slot created');
  for (const { problem, fix } of failoverWarnings(slot, await readFailoverFacts(client, slot))) {
    logger.warn({ slot, fix }, problem);
  }
  return { tables, publicationProblem };
}

/**
 * wal2json reports a partition's rows under the partition's own name and has
 * no publish-via-root: rather than stream them under names nobody subscribed
 * to (or not at all), such a scope is refused.
 */
export function refuseUnsupported(config: WalhookConfig, tables: TableInScope[]): void {
  if (config.source.plugin !== 'wal2json') return;
  const partitioned = tables.filter((t) => t.partitioned).map((t) => `${t.schema}.${t.table}`);
  if (partitioned.length === 0) return;
  throw new SourceSetupError(
    `partitioned table(s) ${partitioned.join(', ')} cannot be streamed with wal2json (it names each partition, not the partitioned table)`,
    `set source.plugin: pgoutput (publishes them through the partitioned table), or leave them out with source.excludeTables`,
  );
}

/**
 * pgoutput's publications against the scope, every time (someone may have run
 * ALTER PUBLICATION … DROP TABLE): repaired when walhook manages them, else
 * reported. Changes written while a table was not published are never sent by
 * pgoutput, so a repair is logged loudly. Returns the problem for /readyz.
 */
export async function reconcilePublications(
  client: pg.ClientBase,
  config: WalhookConfig,
  tables: TableInScope[],
  logger: Logger,
  publication: string,
): Promise<string | null> {
  if (config.source.plugin !== 'pgoutput') return null;
  if (config.source.createPublication) {
    for (const drift of await syncPublications(client, publication, tables)) {
      if (!drift.exists) {
        logger.info({ publication: drift.publication }, 'publication created');
        continue;
      }
      logger.warn(
        { publication: drift.publication, missing: drift.missing, extra: drift.extra, notViaRoot: drift.notViaRoot },
        `${describeDrift(drift)}: repaired. If it was altered by hand, changes written to those tables meanwhile were not published and cannot be streamed`,
      );
    }
    return null;
  }
  const drifts = await checkPublications(client, publication, tables);
  if (drifts.length === 0) return null;
  const problem = `${drifts.map(describeDrift).join('; ')}; source.createPublication is false, so walhook does not change it: alter the publication (publish_via_partition_root = true) or fix source.schemas / source.tables`;
  logger.error({ publications: drifts.map((d) => d.publication) }, problem);
  return problem;
}

/**
 * The periodic look at the scope: publications reconciled every time; the
 * tables returned are `current` itself unless a table, its identity or a
 * column's name or type changed (then the caller reads the type catalog again).
 */
export async function refreshSource(
  client: pg.ClientBase,
  config: WalhookConfig,
  current: TableInScope[],
  logger: Logger,
  target: PartitionTarget,
): Promise<PreparedSource> {
  const tables = await tablesOf(client, config, target);
  refuseUnsupported(config, tables);
  const publicationProblem = await reconcilePublications(client, config, tables, logger, target.publication);
  if (scopeSignature(tables) === scopeSignature(current)) return { tables: current, publicationProblem };
  const before = new Set(current.map(identityKey));
  logIdentities(tables.filter((t) => !before.has(identityKey(t))), logger);
  return { tables, publicationProblem };
}

const identityKey = (t: TableInScope) => `${t.schema}.${t.table}:${t.identity}`;

function scopeSignature(tables: TableInScope[]): string {
  return JSON.stringify(tables.map((t) => [t.schema, t.table, t.identity, t.partitioned, t.columns.map((c) => [c.position, c.name, c.type.oid, c.type.name, c.isKey])]));
}

/** One log line per table: what previousRecord will hold. */
export function logIdentities(tables: TableInScope[], logger: Logger): void {
  for (const table of tables) {
    const fix = table.identity === 'full' ? undefined : replicaIdentityFullSql(table);
    logger.info({ schema: table.schema, table: table.table, previousRecord: table.identity, fix }, describeIdentity(table));
  }
}
