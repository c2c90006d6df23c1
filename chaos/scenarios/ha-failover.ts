/**
 * High availability: two replicas on one slot, the leader streaming and the
 * standby waiting for the leadership lease. The leader is killed (kill -9) under
 * load, several times; the standby must take over and nothing be lost. Each
 * killed replica is replaced and becomes the next standby.
 */
import { closeBed, FAST_RECOVERY, openBed, runCourse, sleep, type ChaosScenario } from '../lib/bed.js';

export const failOverLeader: ChaosScenario = {
  name: 'ha',
  async run(env) {
    const failovers = env.scale === 'ci' ? 1 : 3;
    const db = await env.crmDatabase('chaos_ha');
    const bed = await openBed(env, db, {
      replicas: 2,
      walhook: FAST_RECOVERY,
    });
    try {
      return await runCourse(bed, {
        scenario: 'HA leader killed',
        fault: `${failovers} × kill -9 of the leader, standby running`,
        ratePerSecond: env.scale === 'ci' ? 150 : 300,
        async inject({ fleet }) {
          for (let round = 1; round <= failovers; round++) {
            await fleet.waitForReplicas();
            await sleep(3_000);
            env.progress(`killing the leader #${round}`);
            const killedAt = Date.now();
            await fleet.kill9(fleet.leader());
            await fleet.waitForLeader(killedAt);
          }
          await sleep(1_000);
        },
      });
    } finally {
      await closeBed(bed);
    }
  },
};
