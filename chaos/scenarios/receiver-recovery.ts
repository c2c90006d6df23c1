/**
 * The receiver fails (503) while thousands of deliveries go to the state
 * table, recovers, and a burst arrives while the retry worker is still
 * draining them (issue 12, item 1: reading used to stop for good here while
 * /readyz said ready). Everything must arrive, and the liveness probe after
 * it must find the stream moving.
 */
import { writePersons } from '../../bench/lib/writers.js';
import { waitFor } from '../../test/harness/receiver.js';
import { closeBed, openBed, runCourse, sleep, type ChaosScenario } from '../lib/bed.js';

/** Long enough that the outage's deliveries are still pending, not dead, when the receiver is back. */
const RETRY_SCHEDULE = ['200ms', '500ms', '1s', '2s', '5s', '10s', '30s'];

export const receiverRecoveryBurst: ChaosScenario = {
  name: 'receiver-recovery',
  async run(env) {
    const outageRows = env.scale === 'ci' ? 2_500 : 10_000;
    const burstRows = env.scale === 'ci' ? 3_000 : 20_000;
    const db = await env.crmDatabase('chaos_recovery');
    let failing = false;
    const bed = await openBed(env, db, {
      reply: () => (failing ? { status: 503 } : { status: 200 }),
      walhook: { delivery: { retrySchedule: RETRY_SCHEDULE, retryPollInterval: '100ms' } },
    });
    const problems: string[] = [];
    const notes: string[] = [];
    try {
      return await runCourse(bed, {
        scenario: 'receiver outage, burst during recovery',
        fault: `receiver 503 for ${outageRows} rows, then a ${burstRows}-row burst while the retries drain`,
        ratePerSecond: env.scale === 'ci' ? 100 : 200,
        problems,
        notes,
        async inject({ setup }) {
          await sleep(1_000);
          env.progress('receiver failing');
          failing = true;
          await writePersons(db, { count: outageRows, from: 2_000_000, perTransaction: 100 });
          const stored = async () =>
            (await db.sql<{ count: number }>(`SELECT count(*)::int AS count FROM ${setup.stateSchema}.deliveries`))[0]?.count ?? 0;
          await waitFor(async () => (await stored()) >= outageRows, `the outage's ${outageRows} deliveries in the state table`, 60_000, 200).catch(
            async () => problems.push(`the outage stored only ${await stored()} deliveries: the fault did not bite`),
          );
          notes.push(`${await stored()} deliveries in the state table when the receiver recovered`);
          env.progress('receiver recovered; burst');
          failing = false;
          await writePersons(db, { count: burstRows, from: 3_000_000, perTransaction: 100 });
          await sleep(1_000);
        },
        settleTimeoutMs: 180_000,
      });
    } finally {
      await closeBed(bed);
    }
  },
};
