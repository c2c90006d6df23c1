/**
 * What per-record ordering costs: the same changes (1,000 distinct records,
 * created then updated round after round, one transaction each) waiting in
 * two slots, delivered once by a webhook with `ordering: none` and once by
 * one with `ordering: record`, to the same receiver with the same
 * concurrency. With `record`, a change whose record still has a delivery in
 * flight waits behind it in the state table, so the ratio shows what the
 * guarantee costs when records change faster than the endpoint answers.
 */
import { WORKSPACE_SCHEMA } from '../../test/harness/crm.js';
import type { TestDatabase } from '../../test/harness/database.js';
import { crmDatabase, type BenchScenario } from '../lib/context.js';
import { recordIdOf, startTallyReceiver } from '../lib/receiver.js';
import { result } from '../lib/results.js';
import { prepareSlot, storedDeliveries, timeDrain, walhookSetup, type WalhookSetup } from '../lib/walhook.js';
import { writePersons } from '../lib/writers.js';

const RECORDS = 1_000;
const CONCURRENCY = 8;

/** Every person updated `rounds` times, round after round (so one record's changes are RECORDS transactions apart). */
async function updateRounds(db: TestDatabase, rounds: number): Promise<void> {
  await db.sql(`
    CREATE OR REPLACE PROCEDURE public.bench_update_rounds(rounds int)
    LANGUAGE plpgsql AS $$
    DECLARE person_id uuid;
    BEGIN
      FOR r IN 1 .. rounds LOOP
        FOR person_id IN SELECT id FROM ${WORKSPACE_SCHEMA}.person ORDER BY position LOOP
          UPDATE ${WORKSPACE_SCHEMA}.person SET city = 'v' || r WHERE id = person_id;
          COMMIT;
        END LOOP;
      END LOOP;
    END $$`);
  await db.sql(`CALL public.bench_update_rounds(${Math.trunc(rounds)})`);
}

export const ordering: BenchScenario = {
  name: 'ordering',
  async run(context) {
    const rounds = context.quick ? 1 : 19;
    const changes = RECORDS * (rounds + 1);
    const db = await crmDatabase(context, 'bench_ordering');
    // One change is one record at one version: the city a round set.
    const receiverFor = () =>
      startTallyReceiver({
        secret: context.secret,
        changeIdOf: (body) => `${recordIdOf(body)} ${String((body.record as { city?: unknown } | null)?.city)}`,
      });
    const receivers = { none: await receiverFor(), record: await receiverFor() };
    try {
      const setupFor = (mode: 'none' | 'record') =>
        walhookSetup(db, {
          webhooks: [{ targetUrl: receivers[mode].url, secret: context.secret, operations: ['person.*'], ordering: mode }],
          delivery: { concurrency: CONCURRENCY },
        });
      const unordered = setupFor('none');
      const ordered = setupFor('record');
      await prepareSlot(unordered);
      await prepareSlot(ordered);
      context.progress(`ordering: writing ${changes} changes of ${RECORDS} records`);
      await writePersons(db, { count: RECORDS, perTransaction: 1 });
      await updateRounds(db, rounds);

      const run = async (setup: WalhookSetup, mode: 'none' | 'record') => {
        context.progress(`ordering: walhook, ordering ${mode}`);
        const seconds = await timeDrain(setup, receivers[mode], changes, `walhook (ordering ${mode}) to deliver every change`);
        return { seconds, stored: await storedDeliveries(db, setup) };
      };
      const none = await run(unordered, 'none');
      const record = await run(ordered, 'record');
      return [
        result({
          scenario: `ordering: record vs none, ${RECORDS} records`,
          unit: 'deliveries/s',
          walhook: changes / record.seconds,
          baseline: { name: 'ordering none, same changes', value: changes / none.seconds },
          details: { records: RECORDS, changes, concurrency: CONCURRENCY, recordSeconds: record.seconds, noneSeconds: none.seconds, storedWithRecord: record.stored, storedWithNone: none.stored },
        }),
      ];
    } finally {
      await receivers.none.close();
      await receivers.record.close();
      await db.drop();
    }
  },
};
