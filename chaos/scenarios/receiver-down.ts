/**
 * The receiver down (connection refused) for longer than the whole retry
 * schedule (compressed to fractions of a second), and at least until a first
 * change has exhausted it: the changes sent meanwhile become dead letters.
 * Once it is back, the dead letters are redelivered through the GraphQL API
 * (`redeliverDeadLetters`), and every change must then have arrived, with the
 * id it would have had the first time.
 */
import { randomBytes } from 'node:crypto';
import { graphqlClient } from '../../test/harness/graphql.js';
import { waitFor } from '../../test/harness/receiver.js';
import { apiPortOf } from '../../bench/lib/walhook.js';
import { closeBed, openBed, runCourse, sleep, type ChaosBed, type ChaosScenario } from '../lib/bed.js';

const RETRY_SCHEDULE = ['100ms', '200ms', '400ms'];

async function countByState(bed: ChaosBed): Promise<Map<string, number>> {
  const rows = await bed.db.sql<{ state: string; count: number }>(
    `SELECT state, count(*)::int AS count FROM ${bed.setup.stateSchema}.deliveries GROUP BY state`,
  );
  return new Map(rows.map((row) => [row.state, row.count]));
}

export const receiverDown: ChaosScenario = {
  name: 'receiver-down',
  async run(env) {
    const downMs = env.scale === 'ci' ? 3_000 : 10_000;
    const token = randomBytes(16).toString('hex');
    const db = await env.crmDatabase('chaos_receiver');
    const bed = await openBed(env, db, {
      walhook: { delivery: { retrySchedule: RETRY_SCHEDULE, retryPollInterval: '100ms' }, api: { token } },
    });
    const notes: string[] = [];
    const problems: string[] = [];
    try {
      return await runCourse(bed, {
        scenario: 'receiver down → dead letters → redelivered',
        fault: `receiver refusing connections for ${downMs / 1000} s (retries ${RETRY_SCHEDULE.join(', ')})`,
        ratePerSecond: env.scale === 'ci' ? 100 : 200,
        notes,
        problems,
        async inject({ receiver }) {
          await sleep(1_000);
          env.progress('receiver down');
          await receiver.down();
          await sleep(downMs);
          // On a loaded machine the stream may reach the outage late: keep the receiver down until the
          // schedule has run out for at least one change, or the scenario would test nothing.
          await waitFor(async () => ((await countByState(bed)).get('dead') ?? 0) > 0, 'a first dead letter while the receiver is down', 60_000, 100);
          env.progress('receiver up');
          await receiver.up();
          await sleep(1_000);
        },
        async afterStream(bed) {
          await waitFor(
            async () => {
              const states = await countByState(bed);
              return (states.get('pending') ?? 0) + (states.get('retrying') ?? 0) === 0;
            },
            'every failed delivery to be retried or dead',
            60_000,
            200,
          );
          const dead = (await countByState(bed)).get('dead') ?? 0;
          if (dead === 0) problems.push('the outage produced no dead letter: the retry schedule was not exhausted');
          const port = apiPortOf(bed.fleet.leader()!);
          const api = graphqlClient(`http://127.0.0.1:${port}`, token);
          const { redeliverDeadLetters } = await api.data<{ redeliverDeadLetters: number }>('mutation { redeliverDeadLetters }');
          env.progress(`${redeliverDeadLetters} dead letters redelivered`);
          notes.push(`${dead} dead letters, ${redeliverDeadLetters} redelivered through the API`);
          if (redeliverDeadLetters !== dead) problems.push(`redeliverDeadLetters returned ${redeliverDeadLetters}, the state table held ${dead} dead letters`);
        },
      });
    } finally {
      await closeBed(bed);
    }
  },
};
