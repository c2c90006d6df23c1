/**
 * The state database unreachable: walhook's state connections go through a
 * TCP proxy that is cut (open connections reset, new ones closed) for 30 s
 * while changes stream, then restored. The receiver turns down the first
 * attempt of one change in ten, so failed deliveries need the state table
 * during the outage — they may wait, but must not be lost.
 */
import { createHash } from 'node:crypto';
import { closeBed, openBed, runCourse, sleep, type ChaosScenario } from '../lib/bed.js';
import { startTcpProxy } from '../lib/tcp-proxy.js';

/** One change in ten, always the same ones. */
function tenth(changeId: string): boolean {
  return createHash('sha1').update(changeId).digest()[0]! % 10 === 0;
}

export const stateDatabaseOutage: ChaosScenario = {
  name: 'state-db',
  async run(env) {
    const outageMs = env.scale === 'ci' ? 5_000 : 30_000;
    const db = await env.crmDatabase('chaos_statedb');
    const proxy = await startTcpProxy(Number(new URL(db.url).port));
    const turnedDown = new Set<string>();
    const bed = await openBed(env, db, {
      reply: ({ changeId }) => {
        if (!tenth(changeId) || turnedDown.has(changeId)) return { status: 200 };
        turnedDown.add(changeId);
        return { status: 503 };
      },
      walhook: {
        state: { databaseUrl: proxy.via(db.url) },
        delivery: { retrySchedule: ['500ms', '1s', '2s', '5s', '10s'], retryPollInterval: '200ms', leaseDuration: '5s' },
      },
    });
    try {
      return await runCourse(bed, {
        scenario: 'state database unreachable',
        fault: `state database cut off for ${outageMs / 1000} s; 1 in 10 first attempts answered 503`,
        ratePerSecond: env.scale === 'ci' ? 100 : 200,
        async inject() {
          await sleep(2_000);
          env.progress('state database cut off');
          proxy.cut();
          await sleep(outageMs);
          env.progress('state database reachable again');
          proxy.restore();
          await sleep(3_000);
        },
        settleTimeoutMs: 120_000,
      });
    } finally {
      await closeBed(bed);
      await proxy.close();
    }
  },
};
