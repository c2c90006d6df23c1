/**
 * CPU per delivery: what one delivered change costs walhook in CPU time
 * (WAL message → decode → event → signed POST → 2xx), against what a bare
 * undici client in a process of its own spends per signed POST of the very
 * same bodies to the same receiver, with as many requests in flight. Default
 * configuration, one endpoint.
 *
 * walhook runs and streams before the changes are written; its CPU time
 * (/proc/<pid>/stat, every thread) is taken just before the writes start and
 * once the receiver has every change, so start-up is left out and its
 * background work (timers, lease, slot checks) over the span is counted in,
 * as an operator pays it. Both figures are CPU time, not wall time: the other
 * processes sharing the cores slow each side down but bill it little.
 */
import { loadConfig } from '../../src/config/index.js';
import { waitForChanges, type BenchScenario } from '../lib/context.js';
import { bareClientBaseline, measureThenStop, withOneEndpoint } from '../lib/one-endpoint.js';
import { result } from '../lib/results.js';
import { cpuTimeOf, startWalhook, storedDeliveries, walhookSetup } from '../lib/walhook.js';
import { writePersons } from '../lib/writers.js';

/** walhook's CPU while streaming with nothing to deliver is sampled this long first, for the details. */
const IDLE_SAMPLE_MS = 2_000;

export const cpuPerDelivery: BenchScenario = {
  name: 'cpu',
  async run(context) {
    const changes = context.quick ? 2_000 : 50_000;
    return withOneEndpoint(context, 'bench_cpu', changes, async (endpoint) => {
      const { db, receiver } = endpoint;
      const setup = walhookSetup(db, { webhooks: [{ targetUrl: receiver.url, secret: context.secret }] });
      const { concurrency } = loadConfig({ file: setup.file, env: {} }).delivery;
      const walhook = await startWalhook(setup);
      const measured = await measureThenStop(walhook, async () => {
        const idleFrom = cpuTimeOf(walhook.pid);
        await new Promise((resolve) => setTimeout(resolve, IDLE_SAMPLE_MS));
        const from = cpuTimeOf(walhook.pid);
        const startedAt = Date.now();
        context.progress(`cpu: writing ${changes} changes, walhook delivering them`);
        await writePersons(db, { count: changes, perTransaction: 1 });
        await waitForChanges([receiver], changes, 'walhook to deliver every change');
        return {
          walhookCpuMicroseconds: cpuTimeOf(walhook.pid) - from,
          idleCpuMsPerSecond: (from - idleFrom) / IDLE_SAMPLE_MS,
          spanSeconds: (Date.now() - startedAt) / 1000,
          // Before the baseline POSTs the same bodies to this receiver.
          duplicates: receiver.verified - changes,
          stored: await storedDeliveries(db, setup),
        };
      });
      const { walhookCpuMicroseconds, idleCpuMsPerSecond, spanSeconds, duplicates, stored } = measured;

      context.progress('cpu: raw undici client');
      const baseline = await bareClientBaseline(context, endpoint, concurrency);
      return [
        result({
          scenario: 'CPU per delivery, 1 endpoint',
          unit: 'µs',
          walhook: walhookCpuMicroseconds / changes,
          baseline: { name: 'raw undici POST', value: baseline.cpuMicroseconds / baseline.sent },
          target: { atMostRatio: 1.5 },
          details: {
            changes,
            concurrency,
            walhookCpuSeconds: walhookCpuMicroseconds / 1e6,
            baselineCpuSeconds: baseline.cpuMicroseconds / 1e6,
            // Background work (timers, lease, slot checks) bills this rate over the whole span: on a machine
            // loaded enough to stretch the span, subtract idle × span to compare runs.
            walhookIdleCpuMsPerSecond: idleCpuMsPerSecond,
            spanSeconds,
            duplicates,
            storedDeliveries: stored,
            rejectedSignatures: receiver.rejected,
          },
        }),
      ];
    });
  },
};
