/**
 * Backfill rate against the live delivery rate, same run, same walhook, same
 * rows, same endpoint: N single-row inserts wait in the slot while walhook is
 * down and are drained live (the baseline: walhook's live delivery rate);
 * then a backfill of those N rows is requested with `walhook backfill` and
 * timed from the leader's start of it to its last delivery. Issue 18's
 * target: the backfill at least as fast as live delivery, for 1 M rows.
 *
 * One webhook takes both (`person.created` and `person.backfilled`): with a
 * second one the live backlog would overflow to the state table (the
 * slow path, there so another endpoint keeps moving), and the baseline would
 * measure that instead of live delivery.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { CLI } from '../../test/harness/daemon.js';
import { crmDatabase, secondsSince, waitForChanges, type BenchScenario } from '../lib/context.js';
import { recordIdOf, startTallyReceiver } from '../lib/receiver.js';
import { MB, result } from '../lib/results.js';
import { memoryOf, prepareSlot, startWalhook, storedDeliveries, streamingSince, walhookSetup } from '../lib/walhook.js';
import { writePersons } from '../lib/writers.js';

export const backfill: BenchScenario = {
  name: 'backfill',
  async run(context) {
    const rows = context.quick ? 5_000 : 1_000_000;
    const db = await crmDatabase(context, 'bench_backfill');
    // A row's live insert and its backfill are two changes.
    const receiver = await startTallyReceiver({ secret: context.secret, changeIdOf: (body) => `${String(body.operation)} ${recordIdOf(body)}` });
    try {
      const setup = walhookSetup(db, {
        webhooks: [{ targetUrl: receiver.url, secret: context.secret, operations: ['person.created', 'person.backfilled'] }],
      });
      await prepareSlot(setup);
      context.progress(`backfill: writing ${rows} single-row transactions while walhook is down`);
      await writePersons(db, { count: rows, perTransaction: 1 });
      const walhook = await startWalhook(setup);
      try {
        context.progress('backfill: live drain (baseline)');
        await waitForChanges([receiver], rows, 'walhook to deliver the live backlog');
        const liveSeconds = secondsSince(streamingSince(walhook)!, receiver.lastAt);
        const livePeakRssMb = memoryOf(walhook.pid).peakRssBytes / MB;
        const storedLive = await storedDeliveries(db, setup);

        context.progress(`backfill: backfilling ${rows} rows`);
        const requestedAt = Date.now();
        await promisify(execFile)(process.execPath, [CLI, 'backfill', '--object', 'person', '--detach', '--config', setup.file], {
          env: { PATH: process.env.PATH ?? '' },
        });
        await waitForChanges([receiver], 2 * rows, 'the backfill to deliver every row');
        const started = walhook.logs.find((line) => line.msg === 'backfill started');
        const startedAt = started ? Date.parse(String(started.time)) : requestedAt;
        const backfillSeconds = secondsSince(startedAt, receiver.lastAt);
        const peakRssMb = memoryOf(walhook.pid).peakRssBytes / MB;
        return [
          result({
            scenario: `backfill of ${rows / 1000}k rows vs live delivery of as many changes`,
            unit: 'rows/s',
            walhook: rows / backfillSeconds,
            baseline: { name: 'live delivery, same run', value: rows / liveSeconds },
            target: { atLeastRatio: 1 },
            details: {
              rows,
              backfillSeconds,
              liveSeconds,
              // From the request (CLI start, the leader's poll) rather than from the leader's start of it.
              backfillSecondsFromRequest: secondsSince(requestedAt, receiver.lastAt),
              livePeakRssMb,
              peakRssMb,
              storedDeliveriesLive: storedLive,
              storedDeliveries: await storedDeliveries(db, setup),
              unstable: receiver.unstableChanges.size,
            },
          }),
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
