/**
 * The liveness probe every chaos scenario ends with: after the fault is
 * over, the stream must still move by itself. A fresh batch of writes must
 * reach the receiver within a bound, the slot's confirmed position must
 * reach the WAL end as it was once they arrived (a keepalive's confirmation
 * counts), and /readyz of the streaming replica must say ready — a stalled
 * pipeline that calls itself ready fails, and so does a healthy one that
 * calls itself unready. With partitions the fresh writes are spread over
 * the workspaces (so over the partitions), every partition's slot must reach
 * the WAL end, and every replica is asked, since each streams some.
 */
import { confirmedFlushLsn, currentWalLsn, insertPersons, WORKSPACE_SCHEMA, type InsertedPerson } from '../../test/harness/crm.js';
import type { TestDatabase } from '../../test/harness/database.js';
import { waitFor } from '../../test/harness/receiver.js';
import type { TallyReceiver } from '../../bench/lib/receiver.js';
import { apiPortOf } from '../../bench/lib/walhook.js';
import { formatLsn, type Lsn } from '../../src/source/lsn.js';
import type { WalhookFleet } from './fleet.js';

export interface LivenessTarget {
  db: TestDatabase;
  receiver: TallyReceiver;
  fleet: WalhookFleet;
  /** The slot, or with partitions every partition's slot. */
  slots: readonly string[];
  /** Workspaces the fresh rows go to, in turn (default: the CRM schema's). */
  workspaces?: readonly string[];
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
  const { db, receiver, fleet, slots } = target;
  const workspaces = target.workspaces ?? [WORKSPACE_SCHEMA];
  const rows = Math.max(options.rows ?? 20, workspaces.length);
  const timeoutMs = options.timeoutMs ?? 60_000;
  const problems: string[] = [];
  const report: LivenessReport = { deliveredSeconds: null, caughtUpSeconds: null, readyStatus: null, problems };

  const writtenAt = Date.now();
  const fresh: InsertedPerson[] = [];
  if (workspaces.length === 1) fresh.push(...(await insertPersons(db, rows, nextProbeRow, workspaces[0])));
  else for (let row = 0; row < rows; row++) fresh.push(...(await insertPersons(db, 1, nextProbeRow + row, workspaces[row % workspaces.length])));
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
  const behind = new Map<string, Lsn | null>();
  try {
    await waitFor(
      async () => {
        for (const slot of slots) {
          const confirmed = await confirmedFlushLsn(db, slot);
          if (confirmed !== null && confirmed >= walEnd) behind.delete(slot);
          else behind.set(slot, confirmed);
        }
        return behind.size === 0;
      },
      slots.length === 1 ? 'the slot to reach the WAL end' : 'every partition slot to reach the WAL end',
      timeoutMs,
      200,
    );
    report.caughtUpSeconds = (Date.now() - caughtUpFrom) / 1000;
  } catch {
    const where = [...behind].map(([slot, lsn]) => `${slots.length === 1 ? 'the slot' : slot} stayed at ${lsn === null ? 'none' : formatLsn(lsn)}`);
    problems.push(`liveness: ${where.join(', ')}, short of the WAL end ${formatLsn(walEnd)}`);
  }

  // With one slot the replica streaming it answers; with partitions every replica streams some.
  const asked = slots.length === 1 ? [fleet.leader()].filter((daemon) => daemon !== undefined) : fleet.replicasAlive();
  const ports = asked.map(apiPortOf);
  if (ports.length === 0 || ports.includes(null)) {
    problems.push(slots.length === 1 ? 'liveness: no replica streams the slot to ask /readyz' : 'liveness: a replica has no API to ask /readyz');
    return report;
  }
  const healthy = problems.length === 0;
  // Readiness follows the stream within a check or two: wait for it to agree, then judge.
  const statuses = new Map<number, number | null>();
  const readiness = async (port: number) => {
    const response = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null);
    statuses.set(port, response?.status ?? null);
    const body = response ? ((await response.json()) as { problems?: string[] }) : null;
    return body?.problems ?? [];
  };
  let reasons: string[] = [];
  try {
    await waitFor(
      async () => {
        reasons = (await Promise.all((ports as number[]).map(readiness))).flat();
        const answers = [...statuses.values()];
        // The worst answer is the report's: one replica unready makes the installation so.
        const unready = answers.filter((status) => status !== 200);
        report.readyStatus = unready.length > 0 ? unready[0]! : 200;
        return answers.every((status) => (healthy ? status === 200 : status === 503));
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
