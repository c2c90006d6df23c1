/**
 * The liveness probe every chaos scenario ends with: after the fault is
 * over, the stream must still move by itself. A fresh batch of writes must
 * reach the receiver within a bound, the slot's confirmed position must
 * reach the WAL end as it was once they arrived (a keepalive's confirmation
 * counts), and /readyz of the streaming replica must say ready — a stalled
 * pipeline that calls itself ready fails, and so does a healthy one that
 * calls itself unready.
 */
import { confirmedFlushLsn, currentWalLsn, insertPersons } from '../../test/harness/crm.js';
import type { TestDatabase } from '../../test/harness/database.js';
import { waitFor } from '../../test/harness/receiver.js';
import type { TallyReceiver } from '../../bench/lib/receiver.js';
import { apiPortOf } from '../../bench/lib/walhook.js';
import { formatLsn } from '../../src/source/lsn.js';
import type { WalhookFleet } from './fleet.js';

export interface LivenessTarget {
  db: TestDatabase;
  receiver: TallyReceiver;
  fleet: WalhookFleet;
  slot: string;
}

export interface LivenessOptions {
  /** Fresh rows written by the probe (default 20). */
  rows?: number;
  /** Each of the probe's waits (default 60 s). */
  timeoutMs?: number;
}

export interface LivenessReport {
  /** Seconds from the fresh writes to the last of them received; null when they did not all arrive. */
  deliveredSeconds: number | null;
  /** Seconds from then until the slot reached the WAL end; null when it did not. */
  caughtUpSeconds: number | null;
  /** What /readyz of the streaming replica answered. */
  readyStatus: number | null;
  problems: string[];
}

/** Person numbers far above anything a scenario writes, so probe rows never collide with the stream's. */
let nextProbeRow = 900_000_000;

export async function probeLiveness(target: LivenessTarget, options: LivenessOptions = {}): Promise<LivenessReport> {
  const { db, receiver, fleet, slot } = target;
  const rows = options.rows ?? 20;
  const timeoutMs = options.timeoutMs ?? 60_000;
  const problems: string[] = [];
  const report: LivenessReport = { deliveredSeconds: null, caughtUpSeconds: null, readyStatus: null, problems };

  const writtenAt = Date.now();
  const fresh = await insertPersons(db, rows, nextProbeRow);
  nextProbeRow += rows;
  const missing = () => fresh.filter((person) => !receiver.eventIdByChange.has(`person.created:${person.id}`)).length;
  try {
    await waitFor(() => missing() === 0, `the ${rows} fresh rows of the liveness probe`, timeoutMs, 100);
    report.deliveredSeconds = (Date.now() - writtenAt) / 1000;
  } catch {
    problems.push(`liveness: ${missing()} of ${rows} fresh rows written after the fault did not arrive within ${timeoutMs / 1000} s`);
  }

  const walEnd = await currentWalLsn(db);
  const caughtUpFrom = Date.now();
  let confirmed: bigint | null = null;
  try {
    await waitFor(
      async () => {
        confirmed = await confirmedFlushLsn(db, slot);
        return confirmed !== null && confirmed >= walEnd;
      },
      'the slot to reach the WAL end',
      timeoutMs,
      200,
    );
    report.caughtUpSeconds = (Date.now() - caughtUpFrom) / 1000;
  } catch {
    problems.push(`liveness: the slot stayed at ${confirmed === null ? 'none' : formatLsn(confirmed)}, short of the WAL end ${formatLsn(walEnd)}`);
  }

  const leader = fleet.leader();
  const port = leader ? apiPortOf(leader) : null;
  if (port === null) {
    problems.push('liveness: no replica streams the slot to ask /readyz');
    return report;
  }
  const healthy = problems.length === 0;
  // Readiness follows the stream within a check or two: wait for it to agree, then judge.
  const readiness = async () => {
    const response = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null);
    report.readyStatus = response?.status ?? null;
    const body = response ? ((await response.json()) as { problems?: string[] }) : null;
    return body?.problems ?? [];
  };
  let reasons: string[] = [];
  try {
    await waitFor(
      async () => {
        reasons = await readiness();
        return healthy ? report.readyStatus === 200 : report.readyStatus === 503;
      },
      '/readyz to match the stream',
      healthy ? timeoutMs : 15_000,
      200,
    );
  } catch {
    problems.push(
      healthy
        ? `liveness: the stream moves but /readyz answered ${report.readyStatus} (${reasons.join('; ')})`
        : `liveness: the stream is stuck but /readyz answered ${report.readyStatus}`,
    );
  }
  return report;
}

/** The probe's figures, for a scenario's notes. */
export function describeLiveness(report: LivenessReport): string {
  const seconds = (value: number | null) => (value === null ? 'never' : `${value.toFixed(1)} s`);
  return `liveness probe: fresh rows in ${seconds(report.deliveredSeconds)}, slot at the WAL end ${seconds(report.caughtUpSeconds)} later, /readyz ${report.readyStatus ?? 'no answer'}`;
}
