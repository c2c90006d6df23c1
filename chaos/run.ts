/**
 * `npm run chaos`: drives a steady stream of changes through walhook,
 * injects one kind of fault per scenario, and compares what was written
 * with what the receivers verified: lost (must be 0), duplicates (counted),
 * id stability (must be 100 %). Non-destructive scenarios share one
 * throwaway cluster; those that restart PostgreSQL start their own.
 *
 *   tsx chaos/run.ts                  every scenario, full size (several minutes)
 *   tsx chaos/run.ts --scale ci       the sizes of the bounded run in `npm test`
 *   --only kill-9,walsender           run only these scenarios
 *
 * Needs `npm run build` first: walhook runs as `node dist/cli.js start`.
 * Exits with 1 when any scenario lost a change, changed an id or failed.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import type { TestDatabase } from '../test/harness/database.js';
import { createCrmDatabase, startBenchCluster, stopClustersOnInterrupt } from '../bench/lib/cluster.js';
import { progressPrinter, runMain, selectScenarios, UsageError } from '../bench/lib/runner.js';
import { formatSummary, type ChaosOutcome } from './lib/audit.js';
import type { ChaosEnv, ChaosScale } from './lib/bed.js';
import { CHAOS_SCENARIOS } from './scenarios/index.js';

/** The summary row of a scenario that threw before it could tally anything. */
function failedOutcome(scenario: string, error: unknown): ChaosOutcome {
  const message = (error instanceof Error ? error.message : String(error)).split('\n')[0];
  return {
    scenario,
    fault: '—',
    written: 0,
    delivered: 0,
    lost: 0,
    duplicates: 0,
    idStability: 1,
    crashes: 0,
    seconds: 0,
    problems: [`did not complete: ${message}`],
    notes: [],
    liveness: null,
  };
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { scale: { type: 'string', default: 'full' }, only: { type: 'string' } } });
  const scale = values.scale as ChaosScale;
  if (scale !== 'ci' && scale !== 'full') throw new UsageError(`--scale must be ci or full, not ${values.scale}`);
  const scenarios = selectScenarios(CHAOS_SCENARIOS, values.only);
  const startedAt = Date.now();
  stopClustersOnInterrupt();
  const cluster = await startBenchCluster();
  const databases: TestDatabase[] = [];
  const env: ChaosEnv = {
    scale,
    secret: randomBytes(24).toString('hex'),
    async crmDatabase(prefix) {
      const db = await createCrmDatabase(cluster.url, prefix);
      databases.push(db);
      return db;
    },
    progress: progressPrinter('chaos', startedAt),
  };
  const outcomes: ChaosOutcome[] = [];
  try {
    for (const scenario of scenarios) {
      env.progress(`scenario ${scenario.name}`);
      try {
        outcomes.push(await scenario.run(env));
      } catch (error) {
        console.error(`scenario ${scenario.name} failed:`, error);
        outcomes.push(failedOutcome(scenario.name, error));
      }
      for (const db of databases.splice(0)) await db.drop();
    }
  } finally {
    await cluster.stop();
  }
  console.log(`\nwalhook chaos (${scale}), ${((Date.now() - startedAt) / 1000).toFixed(0)} s\n`);
  console.log(formatSummary(outcomes));
  return outcomes.every((outcome) => outcome.problems.length === 0) ? 0 : 1;
}

await runMain(main);
