/**
 * Load on the primary and the logical consumers around it, shared by the
 * scenarios that measure what streaming costs the primary (overhead,
 * sizing): pgbench runs of CRM-like writes, pg_recvlogical as the minimal
 * consumer of a slot, and the slot bookkeeping around them.
 */
import { WORKSPACE_SCHEMA } from '../../test/harness/crm.js';
import type { TestDatabase } from '../../test/harness/database.js';
import { waitFor } from '../../test/harness/receiver.js';
import { runTool, type ToolProcess } from './cluster.js';
import type { BenchContext } from './context.js';

export const PGBENCH_CLIENTS = 4;
export const PGBENCH_THREADS = 2;

/** A pgbench script inserting one person (a single-row transaction). */
export const INSERT_SCRIPT = `\\set n random(1, 1000000000)
INSERT INTO ${WORKSPACE_SCHEMA}.person ("nameFirstName", "nameLastName", "emailsPrimaryEmail", "jobTitle", city, position)
  VALUES ('Bench', :n, 'bench' || :n || '@example.com', 'Engineer', 'Paris', :n);
`;

export interface PgbenchRun {
  tps: number;
  transactions: number;
}

/** Runs pgbench (PGBENCH_CLIENTS clients) for `seconds` on `scripts`, equally weighted, after a checkpoint. */
export async function runPgbench(context: BenchContext, db: TestDatabase, scripts: string[], seconds: number): Promise<PgbenchRun> {
  await db.sql('CHECKPOINT');
  const output = await runTool(context.cluster, 'pgbench', [
    '--no-vacuum', '--client', String(PGBENCH_CLIENTS), '--jobs', String(PGBENCH_THREADS), '--time', String(seconds),
    ...scripts.flatMap((script) => ['--file', `${script}@1`]), db.url,
  ]).done;
  const tps = /tps = ([\d.]+) \(without initial connection time\)/.exec(output)?.[1];
  const transactions = /number of transactions actually processed: (\d+)/.exec(output)?.[1];
  if (tps === undefined || transactions === undefined) throw new Error(`pgbench printed no TPS:\n${output}`);
  return { tps: Number(tps), transactions: Number(transactions) };
}

/**
 * Bytes of WAL the slot's walsender has not yet decoded and sent: whether the
 * consumer kept up (a consumer that falls behind costs the primary less
 * during the run, and owes the work afterwards).
 */
export async function decodingLagBytes(db: TestDatabase, slot: string): Promise<number> {
  const [row] = await db.sql<{ lag: string | null }>(
    `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), r.sent_lsn)::bigint::text AS lag
       FROM pg_replication_slots s JOIN pg_stat_replication r ON r.pid = s.active_pid WHERE s.slot_name = $1`,
    [slot],
  );
  return Number(row?.lag ?? Number.NaN);
}

export async function dropSlotWhenFree(db: TestDatabase, slot: string): Promise<void> {
  await waitFor(
    async () => (await db.sql('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1 AND active', [slot])).length === 0,
    `slot ${slot} to be released`,
    30_000,
  );
  await db.sql('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1', [slot]);
}

export interface RecvlogicalConsumer {
  slot: string;
  /** Process id of the walsender streaming the slot, on the database server. */
  walsenderPid: number;
  /** Stops pg_recvlogical and drops its slot. */
  stop(): Promise<void>;
}

/** Creates `slot` (pgoutput) and streams it with pg_recvlogical to /dev/null, until stopped. */
export async function startRecvlogical(context: BenchContext, db: TestDatabase, slot: string, publication: string): Promise<RecvlogicalConsumer> {
  await db.sql("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", [slot]);
  const tool: ToolProcess = runTool(context.cluster, 'pg_recvlogical', [
    '--dbname', db.url, '--slot', slot, '--start', '--file', '/dev/null',
    '--option', 'proto_version=2', '--option', `publication_names=${publication}`,
  ]);
  let walsenderPid = 0;
  await waitFor(async () => {
    const [row] = await db.sql<{ pid: number }>('SELECT active_pid AS pid FROM pg_replication_slots WHERE slot_name = $1 AND active', [slot]);
    walsenderPid = row?.pid ?? 0;
    return walsenderPid > 0;
  }, 'pg_recvlogical to stream');
  return {
    slot,
    walsenderPid,
    async stop() {
      await tool.stop();
      await dropSlotWhenFree(db, slot);
    },
  };
}
