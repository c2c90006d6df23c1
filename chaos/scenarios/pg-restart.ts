/**
 * PostgreSQL itself restarted with `pg_ctl restart -m immediate` (a crash:
 * no shutdown checkpoint, every connection cut) while changes stream. Runs
 * on a throwaway cluster of its own, with synchronous_commit on so that an
 * acknowledged commit survives the crash.
 */
import { createCrmDatabase, startBenchCluster } from '../../bench/lib/cluster.js';
import { closeBed, openBed, runCourse, sleep, type ChaosScenario } from '../lib/bed.js';

export const restartPostgres: ChaosScenario = {
  name: 'pg-restart',
  async run(env) {
    const restarts = env.scale === 'ci' ? 1 : 2;
    const cluster = await startBenchCluster({ synchronous_commit: 'on' });
    try {
      const db = await createCrmDatabase(cluster.url, 'chaos_restart');
      const bed = await openBed(env, db);
      try {
        return await runCourse(bed, {
          scenario: 'PostgreSQL restarted -m immediate',
          fault: `${restarts} × pg_ctl restart -m immediate mid-stream`,
          ratePerSecond: 200,
          async inject({ fleet }) {
            for (let round = 1; round <= restarts; round++) {
              await sleep(2_000);
              env.progress(`PostgreSQL restart -m immediate #${round}`);
              const restartedAt = Date.now();
              await cluster.restart('immediate');
              await fleet.waitForLeader(restartedAt, 60_000);
            }
            await sleep(2_000);
          },
        });
      } finally {
        await closeBed(bed);
        await db.drop();
      }
    } finally {
      await cluster.stop();
    }
  },
};
