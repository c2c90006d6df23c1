/**
 * `npm run bench`: runs every scenario against its baseline on a throwaway
 * PostgreSQL cluster of its own, prints the table and writes the results.
 *
 *   tsx bench/run.ts                 full run, for people (20-30 min; sizing alone about 4); writes bench/results.json
 *   tsx bench/run.ts --quick         every scenario small (CI); writes bench/results.quick.json
 *   --out FILE                       write the results there instead
 *   --only decode,latency            run only these scenarios
 *
 * Needs `npm run build` first: walhook runs as `node dist/cli.js start`.
 * WALHOOK_BENCH_CPU_PROF=<dir> makes every walhook started write a V8 CPU
 * profile there when it stops (see lib/cpu-profile.mjs): where a target is
 * missed, that says what limits it.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { startBenchCluster, stopClustersOnInterrupt } from './lib/cluster.js';
import type { BenchContext, BenchScenario } from './lib/context.js';
import { describeMachine, formatTable, type BenchReport, type BenchResult } from './lib/results.js';
import { progressPrinter, runMain, selectScenarios } from './lib/runner.js';
import { backfill } from './scenarios/backfill.js';
import { batching } from './scenarios/batching.js';
import { catchUp } from './scenarios/catch-up.js';
import { cpuPerDelivery } from './scenarios/cpu.js';
import { filterCost } from './scenarios/filter.js';
import { decode } from './scenarios/decode.js';
import { isolation } from './scenarios/isolation.js';
import { latency } from './scenarios/latency.js';
import { ordering } from './scenarios/ordering.js';
import { overhead } from './scenarios/overhead.js';
import { sizing } from './scenarios/sizing.js';
import { throughput } from './scenarios/throughput.js';

const SCENARIOS: BenchScenario[] = [decode, throughput, cpuPerDelivery, filterCost, latency, overhead, isolation, catchUp, backfill, ordering, batching, sizing];

async function serverVersion(url: string): Promise<string> {
  const client = new pg.Client(url);
  await client.connect();
  try {
    const { rows } = await client.query<{ version: string }>("SELECT current_setting('server_version') AS version");
    return rows[0]?.version ?? 'unknown';
  } finally {
    await client.end();
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { quick: { type: 'boolean', default: false }, out: { type: 'string' }, only: { type: 'string' } },
  });
  const quick = values.quick ?? false;
  const scenarios = selectScenarios(SCENARIOS, values.only);
  const out = resolve(values.out ?? resolve(import.meta.dirname, quick ? 'results.quick.json' : 'results.json'));
  const startedAt = Date.now();
  stopClustersOnInterrupt();
  const cluster = await startBenchCluster();
  const context: BenchContext = {
    cluster,
    quick,
    secret: randomBytes(24).toString('hex'),
    progress: progressPrinter('bench', startedAt),
  };
  const results: BenchResult[] = [];
  let failed = false;
  try {
    for (const scenario of scenarios) {
      try {
        results.push(...(await scenario.run(context)));
      } catch (error) {
        failed = true;
        console.error(`scenario ${scenario.name} failed:`, error);
      }
    }
    const report: BenchReport = {
      generatedAt: new Date().toISOString(),
      mode: quick ? 'quick' : 'full',
      machine: describeMachine(),
      postgres: await serverVersion(cluster.url),
      results,
    };
    writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
    const { machine } = report;
    console.log(`\nwalhook bench (${report.mode}) on ${machine.nproc} × ${machine.cpuModel}, PostgreSQL ${report.postgres}, Node ${machine.node}\n`);
    console.log(formatTable(results));
    console.log(`\nwritten to ${out} in ${((Date.now() - startedAt) / 1000).toFixed(0)} s`);
  } finally {
    await cluster.stop();
  }
  return failed ? 1 : 0;
}

await runMain(main);
