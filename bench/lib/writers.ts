/**
 * Ways to write CRM changes: in bulk on the server (a procedure that commits
 * every N rows, so 200 k single-row transactions take seconds, not minutes),
 * and as a paced stream of single-row transactions from a client (the
 * latency scenario's load, the chaos scenarios' steady stream).
 */
import { insertPersons, WORKSPACE_SCHEMA, type InsertedPerson } from '../../test/harness/crm.js';
import type { TestDatabase } from '../../test/harness/database.js';

const BULK_PROCEDURE = `
  CREATE OR REPLACE PROCEDURE public.bench_insert_persons(first_index int, row_count int, per_transaction int)
  LANGUAGE plpgsql AS $$
  BEGIN
    FOR i IN first_index .. first_index + row_count - 1 LOOP
      INSERT INTO ${WORKSPACE_SCHEMA}.person ("nameFirstName", "nameLastName", "emailsPrimaryEmail", "jobTitle", city, position)
      VALUES ('Person', i::text, 'person' || i || '@example.com', 'Engineer', 'Paris', i);
      IF (i - first_index + 1) % per_transaction = 0 THEN COMMIT; END IF;
    END LOOP;
  END $$`;

/**
 * Inserts persons `from`..`from + count - 1` on the server, committing every
 * `perTransaction` rows (1: one transaction per row; `count`: one transaction).
 */
export async function writePersons(db: TestDatabase, { count, from = 1, perTransaction }: { count: number; from?: number; perTransaction: number }): Promise<void> {
  await db.sql(BULK_PROCEDURE);
  // Literal arguments: a procedure may COMMIT only when CALLed through the simple query protocol.
  await db.sql(`CALL public.bench_insert_persons(${Math.trunc(from)}, ${Math.trunc(count)}, ${Math.trunc(perTransaction)})`);
}

export interface PacedWriterSummary {
  /** Inserts sent. */
  issued: number;
  /** Inserts whose commit was acknowledged. */
  committed: number;
  /** Inserts that failed (server down, connection lost: their commit may or may not have happened). */
  failed: number;
  /** Rows per second actually committed. */
  achievedRate: number;
}

export interface PacedWriter {
  readonly committed: number;
  /** Stops sending, waits for the inserts in flight, and sums up. */
  stop(): Promise<PacedWriterSummary>;
}

/** More inserts than this in flight and the writer waits: it is the server, not the pace, that limits. */
const MAX_IN_FLIGHT = 32;
const TICK_MS = 5;

/**
 * Inserts one person per transaction at `ratePerSecond`, numbered from
 * `from`, until stopped, into the workspaces of `schemas` in turn (default:
 * the CRM schema's). Failures are counted, never thrown: the chaos
 * scenarios write on through server restarts.
 */
export function startPacedWriter(
  db: TestDatabase,
  {
    ratePerSecond,
    from = 1,
    schemas = [WORKSPACE_SCHEMA],
    onCommitted,
  }: { ratePerSecond: number; from?: number; schemas?: readonly string[]; onCommitted?: (person: InsertedPerson) => void },
): PacedWriter {
  let running = true;
  let issued = 0;
  let committed = 0;
  let failed = 0;
  const inFlight = new Set<Promise<void>>();
  const startedAt = performance.now();

  const issueOne = () => {
    const insert = insertPersons(db, 1, from + issued, schemas[issued % schemas.length]).then(
      ([person]) => {
        committed++;
        if (person) onCommitted?.(person);
      },
      () => {
        failed++;
      },
    );
    issued++;
    inFlight.add(insert);
    void insert.then(() => inFlight.delete(insert));
  };

  const loop = (async () => {
    while (running) {
      const due = Math.floor(((performance.now() - startedAt) / 1000) * ratePerSecond);
      while (issued < due && inFlight.size < MAX_IN_FLIGHT) issueOne();
      await new Promise((resolve) => setTimeout(resolve, TICK_MS));
    }
    await Promise.all(inFlight);
  })();

  return {
    get committed() {
      return committed;
    },
    async stop() {
      const seconds = (performance.now() - startedAt) / 1000;
      running = false;
      await loop;
      return { issued, committed, failed, achievedRate: committed / seconds };
    },
  };
}

/** Ids of every person in the tables of `schemas`: what was really committed, acknowledged or not. */
export async function committedPersonIds(db: TestDatabase, schemas: readonly string[] = [WORKSPACE_SCHEMA]): Promise<string[]> {
  const ids: string[] = [];
  for (const schema of schemas) ids.push(...(await db.sql<{ id: string }>(`SELECT id FROM ${schema}.person`)).map((row) => row.id));
  return ids;
}
