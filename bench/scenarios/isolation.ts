/**
 * Isolation: 50 endpoints each subscribed to every change. Run once with all
 * 50 healthy, once with one of them dead (nothing listens on its port) and
 * one slow (answers after a delay); the figure is the rate at which the
 * healthy endpoints receive the changes, against the all-healthy run.
 * walhook runs with its default delivery settings (retry schedule, queue
 * bound, spill delay), as an operator would.
 */
import type { TestDatabase } from '../../test/harness/database.js';
import { crmDatabase, secondsSince, waitForChanges, type BenchContext, type BenchScenario } from '../lib/context.js';
import { startTallyReceiver, type TallyReceiver } from '../lib/receiver.js';
import { result } from '../lib/results.js';
import { prepareSlot, startWalhook, storedDeliveries, streamingSince, walhookSetup } from '../lib/walhook.js';
import { writePersons } from '../lib/writers.js';

const ENDPOINTS = 50;

interface IsolationRun {
  /** Seconds until every healthy endpoint had every change. */
  seconds: number;
  healthyEndpoints: number;
  slowDelivered: number;
  /** Deliveries that went through the state table. */
  stored: number;
}

async function isolationRun(context: BenchContext, changes: number, degraded: boolean): Promise<IsolationRun> {
  const slowDelayMs = context.quick ? 500 : 1_000;
  const receivers: TallyReceiver[] = [];
  let db: TestDatabase | undefined;
  try {
    for (let index = 0; index < ENDPOINTS; index++) {
      const slow = degraded && index === 1;
      receivers.push(await startTallyReceiver({ secret: context.secret, ...(slow && { reply: () => ({ status: 200, delayMs: slowDelayMs }) }) }));
    }
    const dead = degraded ? receivers[0] : undefined;
    const slow = degraded ? receivers[1] : undefined;
    const healthy = receivers.filter((receiver) => receiver !== dead && receiver !== slow);
    await dead?.down();
    db = await crmDatabase(context, 'bench_isolation');
    const setup = walhookSetup(db, {
      webhooks: receivers.map((receiver) => ({ targetUrl: receiver.url, secret: context.secret, operations: ['person.created'] })),
    });
    await prepareSlot(setup);
    await writePersons(db, { count: changes, perTransaction: 1 });
    const walhook = await startWalhook(setup);
    try {
      await waitForChanges(healthy, changes, 'every healthy endpoint to get every change', 50);
      const lastAt = Math.max(...healthy.map((receiver) => receiver.lastAt));
      return {
        seconds: secondsSince(streamingSince(walhook)!, lastAt),
        healthyEndpoints: healthy.length,
        slowDelivered: slow?.verified ?? 0,
        stored: await storedDeliveries(db, setup),
      };
    } finally {
      await walhook.stop();
    }
  } finally {
    await Promise.all(receivers.map((receiver) => receiver.close()));
    if (db) await db.drop();
  }
}

export const isolation: BenchScenario = {
  name: 'isolation',
  async run(context) {
    const changes = context.quick ? 100 : 2_000;
    context.progress(`isolation: ${ENDPOINTS} healthy endpoints, ${changes} changes each`);
    const allHealthy = await isolationRun(context, changes, false);
    context.progress(`isolation: one endpoint dead, one slow, ${ENDPOINTS - 2} healthy`);
    const degraded = await isolationRun(context, changes, true);
    const perEndpointRate = (run: IsolationRun) => changes / run.seconds;
    return [
      result({
        scenario: `isolation, ${ENDPOINTS} endpoints (1 dead, 1 slow)`,
        unit: 'changes/s per healthy endpoint',
        walhook: perEndpointRate(degraded),
        baseline: { name: 'all healthy', value: perEndpointRate(allHealthy) },
        target: { atLeastRatio: 0.9 },
        details: {
          changes,
          degradedSeconds: degraded.seconds,
          allHealthySeconds: allHealthy.seconds,
          deliveriesPerSecondDegraded: (changes * degraded.healthyEndpoints) / degraded.seconds,
          deliveriesPerSecondAllHealthy: (changes * allHealthy.healthyEndpoints) / allHealthy.seconds,
          slowEndpointDelivered: degraded.slowDelivered,
          storedDeliveriesDegraded: degraded.stored,
          storedDeliveriesAllHealthy: allHealthy.stored,
        },
      }),
    ];
  },
};
