/**
 * Latency and steady memory at a fixed load: single-row transactions at
 * 1 000 changes/s for a minute, walhook delivering each to a receiver.
 * Latency is commit time (the commit timestamp PostgreSQL wrote in the WAL,
 * carried in the body's `timestamp` to the microsecond) to the moment the
 * receiver has read the request, on the same machine's clock. walhook's
 * resident memory is sampled every second; the steady figure is the median
 * of the samples after the first third of the run (warm-up).
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
    const db = await crmDatabase(context, 'bench_latency');
    const latencies: number[] = [];
    const receiver = await startTallyReceiver({
      secret: context.secret,
      onDelivery: ({ body, receivedAt }) => latencies.push(receivedAt - epochMsOf(String(body.timestamp))),
    });
    try {
      const setup = walhookSetup(db, { webhooks: [{ targetUrl: receiver.url, secret: context.secret, operations: ['person.created'] }] });
      const walhook = await startWalhook(setup);
      const rssSamples: number[] = [];
      try {
        context.progress(`latency: ${RATE} changes/s for ${durationMs / 1000} s`);
        const writer = startPacedWriter(db, { ratePerSecond: RATE });
        const startedAt = Date.now();
        while (Date.now() - startedAt < durationMs) {
          await new Promise((resolve) => setTimeout(resolve, 1_000));
          if (Date.now() - startedAt > durationMs / 3) rssSamples.push(memoryOf(walhook.pid).rssBytes);
        }
        const written = await writer.stop();
        await waitForChanges([receiver], written.committed, 'every change of the latency run');
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
            details: { ...load, p50: percentile(sorted, 0.5), p95: percentile(sorted, 0.95), p99: percentile(sorted, 0.99), max: sorted.at(-1) },
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
