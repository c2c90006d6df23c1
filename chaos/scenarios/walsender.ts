/**
 * The walsender streaming walhook's slot terminated mid-stream (what a
 * failover, an operator's pg_terminate_backend or a network cut does): the
 * stream must come back by itself and skip nothing.
 */
import { closeBed, openBed, runCourse, sleep, type ChaosScenario } from '../lib/bed.js';

export const terminateWalsender: ChaosScenario = {
  name: 'walsender',
  async run(env) {
    const terminations = env.scale === 'ci' ? 2 : 5;
    const db = await env.crmDatabase('chaos_walsender');
    const bed = await openBed(env, db);
    try {
      return await runCourse(bed, {
        scenario: 'walsender terminated',
        fault: `${terminations} × pg_terminate_backend of the walsender`,
        ratePerSecond: env.scale === 'ci' ? 150 : 300,
        async inject({ fleet, setup }) {
          for (let round = 1; round <= terminations; round++) {
            await sleep(1_500);
            env.progress(`terminating the walsender #${round}`);
            const terminatedAt = Date.now();
            const killed = await db.sql(
              'SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1 AND active_pid IS NOT NULL',
              [setup.slot],
            );
            if (killed.length === 0) throw new Error(`slot ${setup.slot} had no walsender to terminate`);
            await fleet.waitForLeader(terminatedAt);
          }
          await sleep(1_000);
        },
      });
    } finally {
      await closeBed(bed);
    }
  },
};
