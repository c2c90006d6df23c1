/**
 * Latency and steady memory at a fixed load: single-row transactions at
 * 1 000 changes/s for a minute, walhook delivering each to a receiver.
 * Latency is commit time (the commit timestamp PostgreSQL wrote in the WAL,
 * carried in the body's `timestamp` to the microsecond) to the moment the
 * receiver has read the request, on the same machine's clock. walhook's
 * resident memory is sampled every second; the steady figure is the median
 * of the samples after the first third of the run (warm-up).
 *
 * The percentiles are of a running walhook: the same load first runs for a
 * warm-up whose changes are not counted, and its worst latency is reported
 * beside them. Measured on a shared machine, a walhook just started
 * delivers a few hundred changes per second for its first second or two
 * (its own start: restarted beside a warm writer and receiver it does the
 * same; most likely V8 has not optimised its code yet), so at
 * 1 000/s its first changes wait up to about a second; counted in, that
 * start would be the p99 of a one-minute run.
 */
import { crmDatabase, waitForChanges, type BenchScenario } from '../lib/context.js';
import { startTallyReceiver } from '../lib/receiver.js';
import { MB, median, percentile, result } from '../lib/results.js';
import { memoryOf, startWalhook, storedDeliveries, walhookSetup } from '../lib/walhook.js';
import { startPacedWriter } from '../lib/writers.js';

const RATE = 1_000;

/** Epoch milliseconds of an ISO 8601 UTC timestamp, keeping digits past the millisecond. */
export function epochMsOf(iso: string): number {
  const fraction = /\.(\d+)Z$/.exec(iso)?.[1] ?? '';
  const subMillisecond = fraction.length > 3 ? Number(`0.${fraction.slice(3)}`) : 0;
  return Date.parse(iso) + subMillisecond;
}

export const latency: BenchScenario = {
  name: 'latency',
  async run(context) {
    const durationMs = context.quick ? 3_000 : 60_000;
    const warmUpMs = context.quick ? 2_000 : 5_000;
    const db = await crmDatabase(context, 'bench_latency');
    const warmUpLatencies: number[] = [];
    const latencies: number[] = [];
    let counted = warmUpLatencies;
    const receiver = await startTallyReceiver({
      secret: context.secret,
      onDelivery: ({ body, receivedAt }) => counted.push(receivedAt - epochMsOf(String(body.timestamp))),
    });
    try {
      const setup = walhookSetup(db, { webhooks: [{ targetUrl: receiver.url, secret: context.secret, operations: ['person.created'] }] });
      const walhook = await startWalhook(setup);
      const rssSamples: number[] = [];
      try {
        context.progress(`latency: ${RATE} changes/s for ${warmUpMs / 1000} s of warm-up, then ${durationMs / 1000} s`);
        const warmUp = startPacedWriter(db, { ratePerSecond: RATE });
        await new Promise((resolve) => setTimeout(resolve, warmUpMs));
        const warmedUp = await warmUp.stop();
        await waitForChanges([receiver], warmedUp.committed, 'every change of the warm-up');
        counted = latencies;
        const writer = startPacedWriter(db, { ratePerSecond: RATE, from: warmedUp.issued + 1 });
        const startedAt = Date.now();
        while (Date.now() - startedAt < durationMs) {
          await new Promise((resolve) => setTimeout(resolve, 1_000));
          if (Date.now() - startedAt > durationMs / 3) rssSamples.push(memoryOf(walhook.pid).rssBytes);
        }
        const written = await writer.stop();
        await waitForChanges([receiver], warmedUp.committed + written.committed, 'every change of the latency run');
        const peakRssBytes = memoryOf(walhook.pid).peakRssBytes;
        const stored = await storedDeliveries(db, setup);
        const sorted = [...latencies].sort((a, b) => a - b);
        const load = { changesPerSecond: Math.round(written.achievedRate), changes: written.committed, seconds: durationMs / 1000, storedDeliveries: stored };
        return [
          result({
            scenario: `latency p99, commit → receiver at ${RATE}/s`,
            unit: 'ms',
            walhook: percentile(sorted, 0.99),
            target: { atMost: 25 },
            details: {
              ...load,
              p50: percentile(sorted, 0.5),
              p95: percentile(sorted, 0.95),
              p99: percentile(sorted, 0.99),
              max: sorted.at(-1),
              warmUpChanges: warmedUp.committed,
              warmUpMaxMs: Math.max(...warmUpLatencies),
            },
          }),
          result({
            scenario: `steady RSS at ${RATE} changes/s`,
            unit: 'MB',
            walhook: median(rssSamples) / MB,
            target: { atMost: 150 },
            details: { ...load, samples: rssSamples.length, maxRssMb: Math.max(...rssSamples) / MB, peakRssMb: peakRssBytes / MB },
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
