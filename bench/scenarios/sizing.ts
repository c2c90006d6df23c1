/**
 * Sizing: what more logical slots cost the primary, and what one walhook
 * replica delivers per core — the figures of the README's Sizing section.
 *
 * Primary: pgbench TPS of single-row person inserts from a fixed number of
 * clients for a fixed time, with 0, 1, 2 and 4 logical slots streamed at once
 * (pg_recvlogical to /dev/null on each, all on the same publication: each slot
 * makes PostgreSQL decode the whole WAL once more, which is what
 * `source.partitions` adds), each figure as a ratio to the 0-slot one of the
 * same run. The walsenders' CPU time (/proc/<pid>/stat) is read from before
 * the run until every slot has caught up with the run's last WAL, so a
 * walsender that fell behind is billed for the decoding it owed: that is the
 * extra primary CPU per slot, per transaction. Slot counts run in rounds, each
 * round in a rotated order, figures are medians over rounds: the machine is
 * shared and noisy, and pgbench, PostgreSQL and pg_recvlogical share its
 * cores.
 *
 * Replica: one walhook (default configuration, one partition) delivering
 * single-row inserts to one endpoint; its CPU time (every thread) from just
 * before the writes until the receiver has them all, per delivery.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestDatabase } from '../../test/harness/database.js';
import { waitFor } from '../../test/harness/receiver.js';
import { WORKSPACE_SCHEMA } from '../../test/harness/crm.js';
import { crmDatabase, secondsSince, waitForChanges, type BenchContext, type BenchScenario } from '../lib/context.js';
import { measureThenStop } from '../lib/one-endpoint.js';
import { INSERT_SCRIPT, PGBENCH_CLIENTS, PGBENCH_THREADS, runPgbench, startRecvlogical, type RecvlogicalConsumer } from '../lib/primary-load.js';
import { startTallyReceiver } from '../lib/receiver.js';
import { median, result, type BenchResult } from '../lib/results.js';
import { cpuTimeOf, startWalhook, walhookSetup } from '../lib/walhook.js';
import { writePersons } from '../lib/writers.js';

const SLOT_COUNTS = [0, 1, 2, 4] as const;
const PUBLICATION = 'bench_sizing';

interface SlotRun {
  tps: number;
  /** Walsender CPU time over the run and its catch-up, summed over the slots, per transaction. */
  walsenderCpuMicrosecondsPerTransaction: number;
  /** Seconds after pgbench ended until every slot had sent the run's last WAL. */
  catchUpSeconds: number;
  runSeconds: number;
}

/** Waits until every consumer's walsender has sent WAL up to `lsn`. */
async function waitUntilSent(db: TestDatabase, consumers: readonly RecvlogicalConsumer[], lsn: string): Promise<void> {
  const slots = consumers.map((consumer) => consumer.slot);
  await waitFor(
    async () => {
      const [row] = await db.sql<{ behind: number }>(
        `SELECT count(*)::int AS behind FROM pg_replication_slots s LEFT JOIN pg_stat_replication r ON r.pid = s.active_pid
          WHERE s.slot_name = ANY($1) AND (r.sent_lsn IS NULL OR r.sent_lsn < $2::pg_lsn)`,
        [slots, lsn],
      );
      return row?.behind === 0;
    },
    `${slots.length} slot(s) to decode the run's WAL`,
    300_000,
    50,
  );
}

async function runWithSlots(context: BenchContext, db: TestDatabase, scripts: string[], seconds: number, slots: number, run: number): Promise<SlotRun> {
  const consumers: RecvlogicalConsumer[] = [];
  try {
    for (let index = 0; index < slots; index++) {
      consumers.push(await startRecvlogical(context, db, `bench_sizing_${run}_${index}`, PUBLICATION));
    }
    const cpuOfWalsenders = () => consumers.reduce((sum, consumer) => sum + cpuTimeOf(consumer.walsenderPid), 0);
    const cpuFrom = cpuOfWalsenders();
    const startedAt = Date.now();
    const { tps, transactions } = await runPgbench(context, db, scripts, seconds);
    const endedAt = Date.now();
    const [end] = await db.sql<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
    await waitUntilSent(db, consumers, end!.lsn);
    const cpu = cpuOfWalsenders() - cpuFrom;
    return {
      tps,
      walsenderCpuMicrosecondsPerTransaction: slots === 0 ? 0 : cpu / transactions,
      catchUpSeconds: secondsSince(endedAt),
      runSeconds: secondsSince(startedAt, endedAt),
    };
  } finally {
    for (const consumer of consumers) await consumer.stop();
  }
}

async function primaryBySlots(context: BenchContext, db: TestDatabase): Promise<BenchResult[]> {
  const rounds = context.quick ? 1 : 3;
  const seconds = context.quick ? 2 : 15;
  const scriptDir = mkdtempSync(join(tmpdir(), 'walhook-pgbench-'));
  try {
    const script = join(scriptDir, 'insert.sql');
    writeFileSync(script, INSERT_SCRIPT);
    await db.sql(`CREATE PUBLICATION ${PUBLICATION} FOR TABLES IN SCHEMA ${WORKSPACE_SCHEMA}`);
    const runs = new Map<number, SlotRun[]>(SLOT_COUNTS.map((count) => [count, []]));
    let run = 0;
    for (let round = 0; round < rounds; round++) {
      for (let index = 0; index < SLOT_COUNTS.length; index++) {
        const slots = SLOT_COUNTS[(index + round) % SLOT_COUNTS.length]!;
        context.progress(`sizing: round ${round + 1}/${rounds}, pgbench with ${slots} slot(s) streamed`);
        runs.get(slots)!.push(await runWithSlots(context, db, [script], seconds, slots, ++run));
      }
    }
    const of = (slots: number, pick: (run: SlotRun) => number) => median(runs.get(slots)!.map(pick));
    const alone = of(0, (r) => r.tps);
    const workload = `pgbench --client ${PGBENCH_CLIENTS} --jobs ${PGBENCH_THREADS}, ${seconds} s per run, ${rounds} round(s); single-row inserts of person (REPLICA IDENTITY FULL); each slot streamed by pg_recvlogical to /dev/null`;
    const cores = `${availableParallelism()} cores shared by everything, nothing pinned: PostgreSQL (backends, walsenders), pgbench, pg_recvlogical`;
    return SLOT_COUNTS.filter((slots) => slots > 0).map((slots) => {
      const cpuPerTransaction = of(slots, (r) => r.walsenderCpuMicrosecondsPerTransaction);
      return result({
        scenario: `sizing: primary TPS, ${slots} slot${slots === 1 ? '' : 's'} streamed`,
        unit: 'TPS',
        walhook: of(slots, (r) => r.tps),
        baseline: { name: '0 slots', value: alone },
        details: {
          slots,
          // Extra primary CPU: what decoding costs per slot, per transaction written.
          walsenderCpuMicrosecondsPerTransactionPerSlot: cpuPerTransaction / slots,
          walsenderCpuMicrosecondsPerTransaction: cpuPerTransaction,
          catchUpSeconds: of(slots, (r) => r.catchUpSeconds),
          runs: runs.get(slots),
          runsAlone: runs.get(0)!.map((r) => r.tps),
          workload,
          cores,
        },
      });
    });
  } finally {
    rmSync(scriptDir, { recursive: true, force: true });
  }
}

async function deliveriesPerCpuSecond(context: BenchContext, db: TestDatabase): Promise<BenchResult> {
  const changes = context.quick ? 2_000 : 20_000;
  const receiver = await startTallyReceiver({ secret: context.secret });
  try {
    const walhook = await startWalhook(walhookSetup(db, { webhooks: [{ targetUrl: receiver.url, secret: context.secret }] }));
    const { cpuSeconds, spanSeconds } = await measureThenStop(walhook, async () => {
      const from = cpuTimeOf(walhook.pid);
      const startedAt = Date.now();
      context.progress(`sizing: one walhook replica delivering ${changes} changes`);
      await writePersons(db, { count: changes, from: 1_000_000_001, perTransaction: 1 });
      await waitForChanges([receiver], changes, 'walhook to deliver every change');
      return { cpuSeconds: (cpuTimeOf(walhook.pid) - from) / 1e6, spanSeconds: secondsSince(startedAt) };
    });
    return result({
      scenario: 'sizing: walhook deliveries per CPU-second, 1 replica',
      unit: 'deliveries/CPU-s',
      walhook: changes / cpuSeconds,
      details: { changes, cpuSeconds, spanSeconds, deliveriesPerSecond: changes / spanSeconds, partitions: 1, endpoints: 1 },
    });
  } finally {
    await receiver.close();
  }
}

export const sizing: BenchScenario = {
  name: 'sizing',
  async run(context) {
    const db = await crmDatabase(context, 'bench_sizing');
    try {
      const primary = await primaryBySlots(context, db);
      return [...primary, await deliveriesPerCpuSecond(context, db)];
    } finally {
      await db.drop();
    }
  },
};
