/**
 * CPU per delivery: what one delivered change costs walhook in CPU time
 * (WAL message → decode → event → signed POST → 2xx), against what a bare
 * undici client in a process of its own spends per signed POST of the very
 * same bodies to the same receiver, with as many requests in flight. Default
 * configuration, one endpoint.
 *
 * walhook runs and streams before the changes are written. They come in
 * rounds, the two sides taking turns in each: walhook's CPU time
 * (/proc/<pid>/stat, every thread) is taken just before the round's writes
 * and once the receiver has every change, so start-up is left out and its
 * background work (timers, lease, slot checks) over the span is counted in,
 * as an operator pays it; then the baseline client POSTs the bodies of that
 * round's deliveries and times its own CPU over them. Its process is spawned
 * once and kept, as walhook is: after the first round, the first traffic of
 * both, each side runs warm (JIT, open connections), where a fresh process
 * after walhook's run billed its warm-up to the baseline alone. And turns a
 * few seconds apart see the same load on a shared machine, where two runs one
 * after the other each saw their own. walhook idles, unmeasured, while the
 * baseline posts: what that costs it is the idle rate in the details.
 *
 * The figures are total CPU over total deliveries on each side; the ratios
 * per round show how far the noise reaches. All of it is CPU time, not wall
 * time: the other processes sharing the cores slow each side down but bill
 * it little.
 */
import { loadConfig } from '../../src/config/index.js';
import { waitForChanges, type BenchScenario } from '../lib/context.js';
import { measureThenStop, withOneEndpoint, withoutFailures } from '../lib/one-endpoint.js';
import { RawPoster, type RawPostSummary } from '../lib/raw-poster.js';
import { result } from '../lib/results.js';
import { cpuTimeOf, startWalhook, storedDeliveries, walhookSetup } from '../lib/walhook.js';
import { writePersons } from '../lib/writers.js';

/** walhook's CPU while streaming with nothing to deliver is sampled this long first, for the details. */
const IDLE_SAMPLE_MS = 2_000;

interface Round {
  walhookCpuMicroseconds: number;
  walhookSeconds: number;
  baseline: RawPostSummary;
}

const sum = (values: readonly number[]) => values.reduce((total, value) => total + value, 0);

export const cpuPerDelivery: BenchScenario = {
  name: 'cpu',
  async run(context) {
    const roundCount = context.quick ? 2 : 5;
    const perRound = context.quick ? 1_000 : 10_000;
    const changes = roundCount * perRound;
    return withOneEndpoint(context, 'bench_cpu', changes, async (endpoint) => {
      const { db, receiver, bodies } = endpoint;
      const setup = walhookSetup(db, { webhooks: [{ targetUrl: receiver.url, secret: context.secret }] });
      const { concurrency } = loadConfig({ file: setup.file, env: {} }).delivery;
      // Spawned first, so that its start-up overlaps walhook's rather than a measurement.
      const poster = new RawPoster({ url: receiver.url, secret: context.secret, concurrency });
      try {
        const walhook = await startWalhook(setup);
        const measured = await measureThenStop(walhook, async () => {
          const idleFrom = cpuTimeOf(walhook.pid);
          await new Promise((resolve) => setTimeout(resolve, IDLE_SAMPLE_MS));
          const idleCpuMsPerSecond = (cpuTimeOf(walhook.pid) - idleFrom) / IDLE_SAMPLE_MS;
          const rounds: Round[] = [];
          let posted = 0;
          for (let round = 1; round <= roundCount; round++) {
            context.progress(`cpu: round ${round}/${roundCount}, walhook delivering ${perRound} changes`);
            const from = cpuTimeOf(walhook.pid);
            const startedAt = Date.now();
            await writePersons(db, { count: perRound, from: (round - 1) * perRound + 1, perTransaction: 1 });
            await waitForChanges([receiver], round * perRound, 'walhook to deliver every change');
            const walhookCpuMicroseconds = cpuTimeOf(walhook.pid) - from;
            const walhookSeconds = (Date.now() - startedAt) / 1000;

            context.progress(`cpu: round ${round}/${roundCount}, raw undici client`);
            const fresh = bodies.slice(posted);
            posted = bodies.length;
            rounds.push({ walhookCpuMicroseconds, walhookSeconds, baseline: withoutFailures(await poster.post(fresh)) });
          }
          return { idleCpuMsPerSecond, rounds, verified: receiver.verified, stored: await storedDeliveries(db, setup) };
        });
        const { idleCpuMsPerSecond, rounds, verified, stored } = measured;

        const walhookCpuMicroseconds = sum(rounds.map((round) => round.walhookCpuMicroseconds));
        const baselineCpuMicroseconds = sum(rounds.map((round) => round.baseline.cpuMicroseconds));
        const posts = sum(rounds.map((round) => round.baseline.sent));
        return [
          result({
            scenario: 'CPU per delivery, 1 endpoint',
            unit: 'µs',
            walhook: walhookCpuMicroseconds / changes,
            baseline: { name: 'raw undici POST', value: baselineCpuMicroseconds / posts },
            target: { atMostRatio: 1.5 },
            details: {
              changes,
              rounds: roundCount,
              roundRatios: rounds.map(({ walhookCpuMicroseconds: walhookRound, baseline }) => {
                const ratio = walhookRound / perRound / (baseline.cpuMicroseconds / baseline.sent);
                return Math.round(ratio * 100) / 100;
              }),
              concurrency,
              walhookCpuSeconds: walhookCpuMicroseconds / 1e6,
              baselineCpuSeconds: baselineCpuMicroseconds / 1e6,
              // Background work (timers, lease, slot checks) bills this rate over the whole span: on a machine
              // loaded enough to stretch the span, subtract idle × span to compare runs.
              walhookIdleCpuMsPerSecond: idleCpuMsPerSecond,
              spanSeconds: sum(rounds.map((round) => round.walhookSeconds)),
              // The receiver verified the baseline's posts too.
              duplicates: verified - changes - posts,
              storedDeliveries: stored,
              rejectedSignatures: receiver.rejected,
            },
          }),
        ];
      } finally {
        await poster.close();
      }
    });
  },
};
