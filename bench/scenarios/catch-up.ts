/**
 * Catch-up: a million single-row transactions accumulate in the slot while
 * walhook is down; then walhook starts and drains them to a receiver. The
 * figures are the drain time (as a rate) and walhook's peak resident memory
 * (VmHWM), which the in-memory bound on deliveries must keep flat however
 * long the backlog.
 */
import { crmDatabase, secondsSince, waitForChanges, type BenchScenario } from '../lib/context.js';
import { startTallyReceiver } from '../lib/receiver.js';
import { MB, result } from '../lib/results.js';
import { memoryOf, prepareSlot, startWalhook, storedDeliveries, streamingSince, walhookSetup } from '../lib/walhook.js';
import { writePersons } from '../lib/writers.js';

export const catchUp: BenchScenario = {
  name: 'catch-up',
  async run(context) {
    const changes = context.quick ? 5_000 : 1_000_000;
    const db = await crmDatabase(context, 'bench_catchup');
    const receiver = await startTallyReceiver({ secret: context.secret });
    try {
      const setup = walhookSetup(db, { webhooks: [{ targetUrl: receiver.url, secret: context.secret, operations: ['person.created'] }] });
      await prepareSlot(setup);
      context.progress(`catch-up: writing ${changes} changes while walhook is down`);
      await writePersons(db, { count: changes, perTransaction: 1 });

      context.progress('catch-up: walhook draining');
      const walhook = await startWalhook(setup);
      try {
        await waitForChanges([receiver], changes, 'walhook to drain the backlog');
        const seconds = secondsSince(streamingSince(walhook)!, receiver.lastAt);
        const peakRssMb = memoryOf(walhook.pid).peakRssBytes / MB;
        const details = { changes, drainSeconds: seconds, peakRssMb, storedDeliveries: await storedDeliveries(db, setup) };
        return [
          result({ scenario: `catch-up of ${changes / 1000}k changes, drain rate`, unit: 'changes/s', walhook: changes / seconds, details }),
          result({ scenario: `catch-up of ${changes / 1000}k changes, peak RSS`, unit: 'MB', walhook: peakRssMb, target: { atMost: 256 }, details }),
        ];
      } finally {
        await walhook.stop();
      }
    } finally {
      await receiver.close();
      await db.drop();
    }
  },
};
