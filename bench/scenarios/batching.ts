/**
 * What batching gains: the same changes (single-row transactions) waiting in
 * two slots, delivered once by a webhook sending one event per request and
 * once by one with `batch` (100 events, 200 ms linger), to the same kind of
 * receiver with the same concurrency. Deliveries are events: a batch of 100
 * counts 100.
 */
import { crmDatabase, type BenchScenario } from '../lib/context.js';
import { startTallyReceiver } from '../lib/receiver.js';
import { result } from '../lib/results.js';
import { prepareSlot, timeDrain, walhookSetup, type WalhookSetup } from '../lib/walhook.js';
import { writePersons } from '../lib/writers.js';

const CONCURRENCY = 8;
const BATCH = { maxEvents: 100, linger: '200ms' };

export const batching: BenchScenario = {
  name: 'batching',
  async run(context) {
    const changes = context.quick ? 2_000 : 30_000;
    const db = await crmDatabase(context, 'bench_batching');
    const receivers = { single: await startTallyReceiver({ secret: context.secret }), batched: await startTallyReceiver({ secret: context.secret }) };
    try {
      const setupFor = (mode: 'single' | 'batched') =>
        walhookSetup(db, {
          webhooks: [{ targetUrl: receivers[mode].url, secret: context.secret, operations: ['person.*'], ...(mode === 'batched' && { batch: BATCH }) }],
          delivery: { concurrency: CONCURRENCY },
        });
      const single = setupFor('single');
      const batched = setupFor('batched');
      await prepareSlot(single);
      await prepareSlot(batched);
      context.progress(`batching: writing ${changes} changes`);
      await writePersons(db, { count: changes, perTransaction: 1 });

      const run = (setup: WalhookSetup, mode: 'single' | 'batched') => {
        context.progress(`batching: walhook, ${mode}`);
        return timeDrain(setup, receivers[mode], changes, `walhook (${mode}) to deliver every change`);
      };
      const singleSeconds = await run(single, 'single');
      const batchedSeconds = await run(batched, 'batched');
      return [
        result({
          scenario: `batching: ${BATCH.maxEvents} events per request vs one, 1 endpoint`,
          unit: 'deliveries/s',
          walhook: changes / batchedSeconds,
          baseline: { name: 'one event per request, same changes', value: changes / singleSeconds },
          details: { changes, concurrency: CONCURRENCY, batch: BATCH, batchedSeconds, singleSeconds, batchedRequests: receivers.batched.verified, singleRequests: receivers.single.verified },
        }),
      ];
    } finally {
      await receivers.single.close();
      await receivers.batched.close();
      await db.drop();
    }
  },
};
