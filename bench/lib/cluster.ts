/**
 * PostgreSQL for the bench and chaos suites: a throwaway cluster of their own
 * (never the test suite's shared one, which they may restart or load), its
 * databases (shaped like the test harness's `TestDatabase`, so the CRM
 * helpers of test/harness/crm.ts work on them), and its client tools
 * (pg_recvlogical, pgbench) run against it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { startThrowawayPostgres, type ThrowawayPostgres } from '../../src/demo/throwaway-postgres.js';
import { createCrmSchema } from '../../test/harness/crm.js';
import { createDatabase, type TestDatabase } from '../../test/harness/database.js';

/** A bench cluster is a throwaway cluster whose client tools are on disk. */
export interface BenchCluster extends ThrowawayPostgres {
  readonly binDir: string;
}

/**
 * Settings that keep a 1 M-change backlog and many slots and senders workable on a small machine.
 * Commits stay synchronous: with synchronous_commit=off the walsender only sees a commit once the WAL
 * writer flushes it (up to wal_writer_delay, 200 ms later), which would be measured as walhook's latency.
 */
const BENCH_SETTINGS: Record<string, string> = {
  max_wal_size: '4GB',
  shared_buffers: '256MB',
  logical_decoding_work_mem: '64MB',
  wal_sender_timeout: '120s',
};

const running = new Set<ThrowawayPostgres>();

export async function startBenchCluster(settings: Record<string, string> = {}): Promise<BenchCluster> {
  const cluster = await startThrowawayPostgres({ settings: { ...BENCH_SETTINGS, ...settings } });
  const binDir = cluster.binDir;
  if (!binDir) {
    await cluster.stop();
    throw new Error('the bench needs PostgreSQL server binaries with pg_recvlogical and pgbench (set WALHOOK_PG_BIN)');
  }
  running.add(cluster);
  const stop = cluster.stop.bind(cluster);
  return Object.assign(cluster, {
    binDir,
    async stop() {
      running.delete(cluster);
      await stop();
    },
  });
}

/** On Ctrl-C or SIGTERM, stops every bench cluster still running before exiting, so none is left behind. */
export function stopClustersOnInterrupt(): void {
  const interrupt = () => {
    void Promise.allSettled([...running].map((cluster) => cluster.stop())).then(() => process.exit(130));
  };
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
}

/** A new database with the Twenty-like workspace schema of test/harness/crm.ts. */
export async function createCrmDatabase(clusterUrl: string, prefix: string): Promise<TestDatabase> {
  const db = await createDatabase(clusterUrl, prefix, 8);
  await createCrmSchema(db);
  return db;
}

export class ToolFailedError extends Error {
  override readonly name = 'ToolFailedError';

  constructor(
    readonly tool: string,
    readonly exitCode: number | null,
    readonly stderr: string,
  ) {
    super(`${tool} exited with ${exitCode}: ${stderr.trim().slice(-2000)}`);
  }
}

export interface ToolProcess {
  child: ChildProcess;
  /** Resolves with stdout once the tool exits with 0; rejects with ToolFailedError otherwise. */
  done: Promise<string>;
  /** SIGTERM, then waits for the exit (whatever its code). */
  stop(): Promise<void>;
}

/** Runs one of the cluster's client tools (`pg_recvlogical`, `pgbench`...). */
export function runTool(cluster: BenchCluster, tool: string, args: string[]): ToolProcess {
  const child = spawn(join(cluster.binDir, tool), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const done = exited.then((code) => {
    if (code !== 0) throw new ToolFailedError(tool, code, stderr);
    return stdout;
  });
  done.catch(() => undefined);
  return {
    child,
    done,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
