/**
 * Decode: how fast walhook reads a slot with delivery switched off (no
 * webhook configured: every change is decoded, mapped to an event, matched to
 * nothing and confirmed) against pg_recvlogical, the minimal logical
 * consumer, reading the same changes through the same plugin and publication
 * into /dev/null. Both slots exist before the changes are written; each
 * reader then drains its slot alone.
 *
 * walhook's time runs from its 'replication streaming' log line to the slot
 * being confirmed past the last change; pg_recvlogical's from its start to
 * its exit at `--endpos`.
 */
import { currentWalLsn, waitForSlotAt } from '../../test/harness/crm.js';
import { formatLsn } from '../../src/source/lsn.js';
import { runTool } from '../lib/cluster.js';
import { crmDatabase, secondsSince, type BenchContext, type BenchScenario } from '../lib/context.js';
import { result, type BenchResult } from '../lib/results.js';
import { prepareSlot, startWalhook, streamingSince, walhookSetup } from '../lib/walhook.js';
import { writePersons } from '../lib/writers.js';

async function decodeRun(context: BenchContext, label: string, changes: number, perTransaction: number): Promise<BenchResult> {
  const db = await crmDatabase(context, 'bench_decode');
  try {
    const setup = walhookSetup(db, { webhooks: [] });
    await prepareSlot(setup);
    const baselineSlot = `${setup.slot}_recvlogical`;
    await db.sql("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", [baselineSlot]);

    context.progress(`decode (${label}): writing ${changes} changes`);
    await writePersons(db, { count: changes, perTransaction });
    const end = await currentWalLsn(db);

    context.progress(`decode (${label}): pg_recvlogical`);
    const recvStartedAt = Date.now();
    await runTool(context.cluster, 'pg_recvlogical', [
      '--dbname', db.url, '--slot', baselineSlot, '--start', '--file', '/dev/null', '--no-loop',
      '--endpos', formatLsn(end), '--option', 'proto_version=2', '--option', `publication_names=${setup.publication}`,
    ]).done;
    const recvSeconds = secondsSince(recvStartedAt);

    context.progress(`decode (${label}): walhook`);
    const walhook = await startWalhook(setup);
    try {
      await waitForSlotAt(db, setup.slot, end, 'walhook to confirm the last change', 60_000 + changes);
      const walhookSeconds = secondsSince(streamingSince(walhook)!);
      return result({
        scenario: `decode, ${label}`,
        unit: 'changes/s',
        walhook: changes / walhookSeconds,
        baseline: { name: 'pg_recvlogical', value: changes / recvSeconds },
        details: { changes, perTransaction, walhookSeconds, baselineSeconds: recvSeconds },
      });
    } finally {
      await walhook.stop();
    }
  } finally {
    await db.drop();
  }
}

export const decode: BenchScenario = {
  name: 'decode',
  async run(context) {
    const changes = context.quick ? 3_000 : 200_000;
    return [
      await decodeRun(context, `${changes / 1000}k single-row transactions`, changes, 1),
      await decodeRun(context, `one ${changes / 1000}k-row transaction`, changes, changes),
    ];
  },
};
