/**
 * An audit of who streams a slot: polls pg_replication_slots.active_pid
 * (with the walsender's application_name, which a test sets per instance in
 * its database URL) and records each change of reader, so a test can check
 * that an instance never streamed again after it was replaced, and that two
 * never overlapped.
 */
import type { TestDatabase } from './database.js';

export interface SlotReader {
  /** null while nobody streams the slot. */
  pid: number | null;
  applicationName: string | null;
  /**
   * pg_stat_activity.backend_type: `walsender` for a stream; `client backend` for a session running
   * pg_create_logical_replication_slot, which holds the slot while it creates it.
   */
  backendType: string | null;
  /** Epoch ms this reader was first seen. */
  since: number;
}

export interface SlotReaderAudit {
  /** The readers seen so far, in order (consecutive samples of one reader are one entry). */
  readonly readers: SlotReader[];
  /** Stops polling; resolves with every reader seen. */
  stop(): Promise<SlotReader[]>;
}

export function auditSlotReaders(db: Pick<TestDatabase, 'sql'>, slot: string, intervalMs = 100): SlotReaderAudit {
  const readers: SlotReader[] = [];
  let polling = true;
  const poll = (async () => {
    while (polling) {
      const [row] = await db
        .sql<{ pid: number | null; application_name: string | null; backend_type: string | null }>(
          `SELECT s.active_pid AS pid, a.application_name, a.backend_type
             FROM pg_replication_slots s LEFT JOIN pg_stat_activity a ON a.pid = s.active_pid
            WHERE s.slot_name = $1`,
          [slot],
        )
        .catch(() => []);
      const pid = row?.pid ?? null;
      const last = readers.at(-1);
      if (row && (!last || last.pid !== pid)) readers.push({ pid, applicationName: row.application_name ?? null, backendType: row.backend_type ?? null, since: Date.now() });
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  })();
  return {
    readers,
    async stop() {
      polling = false;
      await poll;
      return readers;
    },
  };
}

/** `url` with an application_name, which names every session it opens (walsender included) in pg_stat_activity. */
export function namedUrl(url: string, applicationName: string): string {
  const parsed = new URL(url);
  parsed.searchParams.set('application_name', applicationName);
  return parsed.toString();
}
