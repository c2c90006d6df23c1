/**
 * kill -9 of walhook at random moments under load (during start-up too),
 * each time replaced as an orchestrator would. Replies wait a few
 * milliseconds, so requests are in flight when the kill comes.
 */
import { closeBed, FAST_RECOVERY, openBed, randomBetween, runCourse, sleep, type ChaosScenario } from '../lib/bed.js';

export const killWalhook: ChaosScenario = {
  name: 'kill-9',
  async run(env) {
    const kills = env.scale === 'ci' ? 2 : 10;
    const db = await env.crmDatabase('chaos_kill');
    const bed = await openBed(env, db, {
      reply: () => ({ status: 200, delayMs: randomBetween(0, 20) }),
      walhook: FAST_RECOVERY,
    });
    try {
      return await runCourse(bed, {
        scenario: 'kill -9 under load',
        fault: `${kills} × kill -9 at random moments`,
        ratePerSecond: env.scale === 'ci' ? 150 : 300,
        async inject({ fleet }) {
          for (let kill = 1; kill <= kills; kill++) {
            await sleep(randomBetween(500, 3_000));
            env.progress(`kill -9 #${kill}`);
            await fleet.kill9();
            await fleet.waitForReplicas();
          }
          await sleep(1_000);
        },
      });
    } finally {
      await closeBed(bed);
    }
  },
};
