/**
 * Backfill rate against the live delivery rate, same run, same rows, same
 * receiver code: N single-row transactions wait in the slot while walhook is
 * down and are drained live (the baseline: walhook's live delivery rate);
 * then a backfill of those N rows is requested with `walhook backfill` and
 * timed to its last delivery. Issue 18's target: the backfill at least as
 * fast as live delivery.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { CLI } from '../../test/harness/daemon.js';
import { crmDatabase, secondsSince, waitForChanges, type BenchScenario } from '../lib/context.js';
import { startTallyReceiver } from '../lib/receiver.js';
import { result } from '../lib/results.js';
import { prepareSlot, startWalhook, streamingSince, walhookSetup } from '../lib/walhook.js';
import { writePersons } from '../lib/writers.js';

export const backfill: BenchScenario = {
  name: 'backfill',
  async run(context) {
    const rows = context.quick ? 5_000 : 200_000;
    const db = await crmDatabase(context, 'bench_backfill');
    const live = await startTallyReceiver({ secret: context.secret });
    const backfilled = await startTallyReceiver({ secret: context.secret });
    const backfillWebhookId = randomUUID();
    try {
      const setup = walhookSetup(db, {
        webhooks: [
          { targetUrl: live.url, secret: context.secret, operations: ['person.created'] },
          // Named by the backfill, so it gets the backfilled rows and nothing live.
          { id: backfillWebhookId, targetUrl: backfilled.url, secret: context.secret, operations: ['company.created'] },
        ],
      });
      await prepareSlot(setup);
      context.progress(`backfill: writing ${rows} single-row transactions while walhook is down`);
      await writePersons(db, { count: rows, perTransaction: 1 });
      const walhook = await startWalhook(setup);
      try {
        context.progress('backfill: live drain (baseline)');
        await waitForChanges([live], rows, 'walhook to deliver the live backlog');
        const liveRate = rows / secondsSince(streamingSince(walhook)!, live.lastAt);

        context.progress(`backfill: backfilling ${rows} rows`);
        const requestedAt = Date.now();
        await promisify(execFile)(process.execPath, [CLI, 'backfill', '--object', 'person', '--webhook', backfillWebhookId, '--detach', '--config', setup.file], {
          env: { PATH: process.env.PATH ?? '' },
        });
        await waitForChanges([backfilled], rows, 'the backfill to deliver every row');
        const backfillRate = rows / secondsSince(requestedAt, backfilled.lastAt);
        return [
          result({
            scenario: `backfill of ${rows / 1000}k rows vs live delivery of as many changes`,
            unit: 'rows/s',
            walhook: backfillRate,
            baseline: { name: 'live delivery, same run', value: liveRate },
            target: { atLeastRatio: 1 },
            details: { rows, unstable: backfilled.unstableChanges.size },
          }),
        ];
      } finally {
        await walhook.stop();
      }
    } finally {
      await live.close();
      await backfilled.close();
      await db.drop();
    }
  },
};
