/**
 * `walhook tail`: prints every event as one JSON line, as it happens. It reads
 * through a slot and publications of its own, created for the session and
 * dropped on exit, so the production slot is never touched.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { WalhookConfig } from './config/schema.js';
import type { ChangeEvent } from './events/types.js';
import type { Logger } from './log.js';
import { decodeTimestamp, insertsOnlySet, loadTypeCatalog, logIdentities, mappingOptions, prepareSource } from './source/prepare.js';
import { Pipeline } from './pipeline.js';
import { formatLsn } from './source/lsn.js';
import { ReplicationStream } from './source/replication.js';
import { publicationNames } from './source/setup.js';

export function eventLine(event: ChangeEvent): string {
  return JSON.stringify({
    id: event.id,
    operation: event.operation,
    workspaceId: event.workspaceId,
    schema: event.schema,
    table: event.table,
    record: event.record,
    previousRecord: event.previousRecord,
    updatedFields: event.updatedFields,
    ...(event.unavailableFields.length > 0 ? { unavailableFields: event.unavailableFields } : {}),
    commitLsn: formatLsn(event.commitLsn),
    commitTime: event.commitTime,
  });
}

export interface TailSession {
  stop(): Promise<void>;
}

export async function startTail(
  baseConfig: WalhookConfig,
  logger: Logger,
  write: (line: string) => void,
): Promise<TailSession> {
  const name = `walhook_tail_${randomBytes(4).toString('hex')}`;
  const config: WalhookConfig = {
    ...baseConfig,
    source: { ...baseConfig.source, slot: name, publication: name, createSlot: true, createPublication: true },
  };
  const client = new pg.Client({ connectionString: config.database.url, application_name: 'walhook tail' });
  await client.connect();
  const tables = await prepareSource(client, config, logger);
  logIdentities(tables, logger);
  const catalog = await loadTypeCatalog(client);
  const insertsOnly = insertsOnlySet(tables);
  const pipeline = new Pipeline(
    {
      dispatch: (event, hold) => {
        write(eventLine(event));
        hold()();
      },
    },
    { mapping: mappingOptions(config), catalog: () => catalog, insertsOnly: () => insertsOnly, logger },
    (lsn) => stream.confirm(lsn),
  );
  const names = publicationNames(name);
  const stream = new ReplicationStream(
    {
      connectionString: config.database.url,
      slot: name,
      plugin: config.source.plugin,
      publications: [names.all, names.insertsOnly],
      tables: () => tables,
      decodeTimestamp,
      statusIntervalMs: config.source.statusInterval,
      reconnect: { minDelayMs: config.source.reconnect.minDelay, maxDelayMs: config.source.reconnect.maxDelay },
      logger,
    },
    (message) => pipeline.handle(message),
  );
  stream.on('disconnected', () => pipeline.disconnected());
  stream.start();
  logger.info({ slot: name }, 'tailing; Ctrl-C stops and removes the temporary slot');
  return {
    async stop() {
      await stream.stop();
      await dropSession(client, name).catch((error: unknown) =>
        logger.error({ err: error, slot: name }, `could not drop temporary slot ${name}: drop it with pg_drop_replication_slot('${name}')`),
      );
      await client.end();
    },
  };
}

async function dropSession(client: pg.Client, name: string): Promise<void> {
  // The walsender may take a moment to release the slot after the stream closed.
  for (let attempt = 0; ; attempt++) {
    try {
      await client.query(
        'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1',
        [name],
      );
      break;
    } catch (error) {
      if (attempt >= 20 || !/is active/.test((error as Error).message)) throw error;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
  const names = publicationNames(name);
  for (const publication of [names.all, names.insertsOnly]) {
    await client.query(`DROP PUBLICATION IF EXISTS ${client.escapeIdentifier(publication)}`);
  }
}
