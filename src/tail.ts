/**
 * `walhook tail`: prints every event as one JSON line, as it happens. It reads
 * through publications of its own and a TEMPORARY slot, which the server drops
 * when the replication connection ends — on Ctrl-C, a closed terminal or a
 * kill -9 alike — so nothing is left retaining WAL and the production slot is
 * never touched. The publications are dropped on exit; those of a session that
 * was killed are dropped by the next session (a session holds an advisory lock
 * for its life, so a free lock means nobody is using them).
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { WalhookConfig } from './config/schema.js';
import type { ChangeEvent } from './events/types.js';
import type { Logger } from './common/log.js';
import { StreamingSession } from './events/streaming-session.js';
import { publicationNames } from './source/setup.js';

const NAME_PREFIX = 'walhook_tail_';
/** First key of the sessions' advisory locks (the second is the session name's hash): "walhook tail" in ASCII. */
const LOCK_SPACE = 0x77_74_61_6c;

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
    commitLsn: event.commitLsnText,
    changeLsn: event.changeLsnText,
    commitTime: event.commitTime,
  });
}

export interface TailOptions {
  /**
   * Stream through a regular slot instead, which outlives a lost connection, so a reconnect skips
   * nothing. It is dropped on exit, but a killed session leaves it (the next session drops it).
   */
  resumable?: boolean;
}

export interface TailSession {
  /** The session's slot and the base name of its publications. */
  readonly slot: string;
  stop(): Promise<void>;
}

export async function startTail(
  baseConfig: WalhookConfig,
  logger: Logger,
  write: (line: string) => void,
  { resumable = false }: TailOptions = {},
): Promise<TailSession> {
  const name = `${NAME_PREFIX}${randomBytes(4).toString('hex')}`;
  const config: WalhookConfig = {
    ...baseConfig,
    source: { ...baseConfig.source, slot: name, publication: name, createSlot: true, createPublication: true },
  };
  const client = new pg.Client({ connectionString: config.database.url, application_name: 'walhook tail' });
  // A server restart ends this idle session; the stream reconnects on its own, and stop() says what it could not drop.
  client.on('error', (error) => logger.warn({ err: error }, 'tail setup connection lost'));
  await client.connect();
  await client.query('SELECT pg_advisory_lock($1, hashtext($2))', [LOCK_SPACE, name]);
  await dropAbandonedSessions(client, logger);
  let connected = (): void => undefined;
  const streaming = new Promise<void>((resolve) => (connected = resolve));
  const session = new StreamingSession({
    config,
    withClient: (work) => work(client),
    sink: {
      dispatch: (pending, hold) => {
        const event = pending.event();
        if (event !== null) write(eventLine(event));
        hold()();
      },
    },
    logFor: () => logger,
    temporarySlot: !resumable,
    connected: () => connected(),
    disconnected: () => {
      if (!resumable) logger.warn({ slot: name }, 'the temporary slot ended with its connection: changes committed until the reconnect are not shown');
    },
  });
  await session.prepare().catch(async (error: unknown) => {
    // Nothing is left behind by a session that could not start.
    await dropSession(client, name).catch(() => undefined);
    await client.end();
    throw error;
  });
  session.start();
  await streaming;
  logger.info({ slot: name }, 'tailing; Ctrl-C stops it');
  return {
    slot: name,
    async stop() {
      await session.stop();
      await dropSession(client, name).catch((error: unknown) =>
        logger.error({ err: error, slot: name }, `could not drop the session's slot or publications: the next walhook tail drops them`),
      );
      await client.end();
    },
  };
}

/**
 * What pg_drop_replication_slot raises while a walsender still holds the slot, and for a slot that
 * is gone: a temporary slot drops itself as its walsender exits, which can fall between finding the
 * slot and dropping it.
 */
const SLOT_IN_USE = '55006';
const SLOT_GONE = '42704';
/** How long the walsender of a closed stream may take to let go of its slot. */
const SLOT_RELEASE_WAIT_MS = 10_000;

/**
 * Drops the slot (when one is left: a temporary slot goes by itself) and the publications of
 * session `name`. The publications are dropped even when the slot cannot be, so a session that
 * stops leaves at most its slot for the next session to drop.
 */
async function dropSession(client: pg.Client, name: string): Promise<void> {
  let slotProblem: unknown = null;
  try {
    await dropSlot(client, name);
  } catch (error) {
    slotProblem = error;
  }
  const names = publicationNames(name);
  for (const publication of [names.all, names.insertsOnly]) {
    await client.query(`DROP PUBLICATION IF EXISTS ${client.escapeIdentifier(publication)}`);
  }
  if (slotProblem !== null) throw slotProblem;
}

async function dropSlot(client: pg.Client, name: string): Promise<void> {
  const deadline = Date.now() + SLOT_RELEASE_WAIT_MS;
  for (;;) {
    try {
      await client.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1', [name]);
      return;
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === SLOT_GONE) return;
      if (code !== SLOT_IN_USE || Date.now() >= deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

/** What sessions that were killed left in this database: sessions whose lock nobody holds. */
async function dropAbandonedSessions(client: pg.Client, logger: Logger): Promise<void> {
  const { rows } = await client.query<{ name: string }>(
    `SELECT substring(pubname FROM $1) AS name FROM pg_publication WHERE pubname ~ $1
     UNION SELECT slot_name FROM pg_replication_slots WHERE database = current_database() AND slot_name ~ $1`,
    [`^(${NAME_PREFIX}[0-9a-f]{8})(_inserts)?$`],
  );
  for (const { name } of rows) {
    const { rows: [lock] } = await client.query<{ free: boolean }>('SELECT pg_try_advisory_lock($1, hashtext($2)) AS free', [LOCK_SPACE, name]);
    if (!lock?.free) continue;
    try {
      await dropSession(client, name);
      logger.info({ session: name }, 'dropped the slot and publications of a walhook tail that was killed');
    } catch (error) {
      logger.warn({ err: error, session: name }, 'could not drop what a killed walhook tail left; the next session tries again');
    } finally {
      await client.query('SELECT pg_advisory_unlock($1, hashtext($2))', [LOCK_SPACE, name]);
    }
  }
}
