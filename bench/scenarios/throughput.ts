/**
 * End-to-end throughput to one endpoint: changes waiting in the slot,
 * walhook started, time until the receiver has verified every one of them
 * (WAL → decode → sign → POST → 2xx), against a bare undici client in a
 * process of its own POSTing the very same bodies, signed the same way, to
 * the same receiver with the same number of requests in flight.
 */
import { crmDatabase, secondsSince, waitForChanges, type BenchScenario } from '../lib/context.js';
import { postInChildProcess } from '../lib/raw-poster.js';
import { startCollectingReceiver } from '../lib/receiver.js';
import { result } from '../lib/results.js';
import { prepareSlot, startWalhook, storedDeliveries, streamingSince, walhookSetup } from '../lib/walhook.js';
import { writePersons } from '../lib/writers.js';

/** walhook's default `delivery.concurrency`, given to the baseline client too. */
const CONCURRENCY = 8;

export const throughput: BenchScenario = {
  name: 'throughput',
  async run(context) {
    const changes = context.quick ? 2_000 : 100_000;
    const db = await crmDatabase(context, 'bench_throughput');
    const { receiver, bodies } = await startCollectingReceiver(context.secret, changes);
    try {
      const setup = walhookSetup(db, {
        webhooks: [{ targetUrl: receiver.url, secret: context.secret, operations: ['person.created'] }],
        delivery: { concurrency: CONCURRENCY },
      });
      await prepareSlot(setup);
      context.progress(`throughput: writing ${changes} changes`);
      await writePersons(db, { count: changes, perTransaction: 1 });

      context.progress('throughput: walhook');
      const walhook = await startWalhook(setup);
      let walhookSeconds: number;
      let stored: number;
      try {
        await waitForChanges([receiver], changes, 'walhook to deliver every change');
        walhookSeconds = secondsSince(streamingSince(walhook)!, receiver.lastAt);
        stored = await storedDeliveries(db, setup);
      } finally {
        await walhook.stop();
      }

      context.progress('throughput: raw undici client');
      const baseline = await postInChildProcess({ url: receiver.url, secret: context.secret, concurrency: CONCURRENCY, deliveries: bodies });
      if (baseline.failures > 0) throw new Error(`the baseline client had ${baseline.failures} failed requests`);
      return [
        result({
          scenario: 'end-to-end throughput, 1 endpoint',
          unit: 'deliveries/s',
          walhook: changes / walhookSeconds,
          baseline: { name: 'raw undici POSTs', value: changes / baseline.seconds },
          target: { atLeastRatio: 0.8 },
          details: { changes, concurrency: CONCURRENCY, walhookSeconds, baselineSeconds: baseline.seconds, storedDeliveries: stored, rejectedSignatures: receiver.rejected },
        }),
      ];
    } finally {
      await receiver.close();
      await db.drop();
    }
  },
};
