/**
 * End-to-end throughput to one endpoint: changes waiting in the slot,
 * walhook started, time until the receiver has verified every one of them
 * (WAL → decode → sign → POST → 2xx), against a bare undici client in a
 * process of its own POSTing the very same bodies, signed the same way, to
 * the same receiver with the same number of requests in flight.
 */
import { secondsSince, waitForChanges, type BenchScenario } from '../lib/context.js';
import { bareClientBaseline, measureThenStop, withOneEndpoint } from '../lib/one-endpoint.js';
import { result } from '../lib/results.js';
import { prepareSlot, startWalhook, storedDeliveries, streamingSince, walhookSetup } from '../lib/walhook.js';
import { writePersons } from '../lib/writers.js';

/** walhook's default `delivery.concurrency`, given to the baseline client too. */
const CONCURRENCY = 8;

export const throughput: BenchScenario = {
  name: 'throughput',
  async run(context) {
    const changes = context.quick ? 2_000 : 100_000;
    return withOneEndpoint(context, 'bench_throughput', changes, async (endpoint) => {
      const { db, receiver } = endpoint;
      const setup = walhookSetup(db, {
        webhooks: [{ targetUrl: receiver.url, secret: context.secret, operations: ['person.created'] }],
        delivery: { concurrency: CONCURRENCY },
      });
      await prepareSlot(setup);
      context.progress(`throughput: writing ${changes} changes`);
      await writePersons(db, { count: changes, perTransaction: 1 });

      context.progress('throughput: walhook');
      const walhook = await startWalhook(setup);
      const { walhookSeconds, stored } = await measureThenStop(walhook, async () => {
        await waitForChanges([receiver], changes, 'walhook to deliver every change');
        return { walhookSeconds: secondsSince(streamingSince(walhook)!, receiver.lastAt), stored: await storedDeliveries(db, setup) };
      });

      context.progress('throughput: raw undici client');
      const baseline = await bareClientBaseline(context, endpoint, CONCURRENCY);
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
    });
  },
};
