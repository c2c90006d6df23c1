/**
 * `walhook tail` in-process on a test database: starts a session (its own
 * temporary slot and publications) and collects every event line it prints,
 * parsed, plus its warnings and errors, so a test can wait for events and
 * see why none came.
 */
import pg from 'pg';
import { loadConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/common/log.js';
import { startTail, type TailOptions } from '../../src/tail.js';
import { waitFor } from './receiver.js';

/** One line of `walhook tail` output (see `eventLine` in src/tail.ts). */
export interface TailedEvent {
  id: string;
  operation: string;
  workspaceId: string | null;
  schema: string;
  table: string;
  record: Record<string, unknown>;
  previousRecord: Record<string, unknown> | null;
  updatedFields: string[] | null;
  /** Present only when some column could not be sent. */
  unavailableFields?: string[];
  commitLsn: string;
  /** Start of the change's own WAL record. */
  changeLsn: string;
  commitTime: string;
}

export interface TestTail {
  /** The session's replication slot. */
  slotName: string;
  /** Every event so far, in arrival order. */
  readonly events: TailedEvent[];
  /** Log lines at warn level and above, parsed. */
  readonly logs: Record<string, unknown>[];
  /**
   * Waits for the next `count` events after those handed out by earlier
   * calls, and hands them out.
   */
  waitForEvents(count: number, timeoutMs?: number): Promise<TailedEvent[]>;
  stop(): Promise<void>;
}

/**
 * Starts a tail session on `url`; `env` holds WALHOOK_* overrides (plugin,
 * soft-delete column...). `resumable` streams through a regular slot, for
 * tests of what a reconnect must not skip.
 */
export async function startTestTail(url: string, env: Record<string, string> = {}, options: TailOptions = {}): Promise<TestTail> {
  const config = loadConfig({ env: { WALHOOK_DATABASE_URL: url, ...env } });
  const logs: Record<string, unknown>[] = [];
  const logger = createLogger('warn', { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) });
  const events: TailedEvent[] = [];
  let taken = 0;
  const session = await startTail(config, logger, (line) => events.push(JSON.parse(line) as TailedEvent), options);
  const slotName = session.slot;

  return {
    slotName,
    events,
    logs,
    async waitForEvents(count, timeoutMs = 20_000) {
      const wanted = taken + count;
      await waitFor(() => events.length >= wanted, `${count} events`, timeoutMs).catch(() => {
        // Says what did arrive and what the session logged: usually the reason.
        throw new Error(
          `${config.source.plugin} tail: waited ${timeoutMs} ms for ${count} events, got ${events.length - taken}; logs: ${JSON.stringify(logs)}`,
        );
      });
      const batch = events.slice(taken, wanted);
      taken = wanted;
      return batch;
    },
    stop: () => session.stop(),
  };
}

export interface TailSlot {
  name: string;
  /** The walsender streaming it, or null while no session reads it. */
  activePid: number | null;
}

/** The temporary slots of `walhook tail` sessions (in-process or CLI) on the database at `url`. */
export async function listTailSlots(url: string): Promise<TailSlot[]> {
  const client = new pg.Client(url);
  await client.connect();
  try {
    const { rows } = await client.query<TailSlot>(
      "SELECT slot_name AS name, active_pid AS \"activePid\" FROM pg_replication_slots WHERE database = current_database() AND slot_name LIKE 'walhook\\_tail\\_%'",
    );
    return rows;
  } finally {
    await client.end();
  }
}
