/**
 * The verdict of a chaos scenario: the set of changes written against what
 * the receiver saw with a verified signature and answered 2xx. Lost must be
 * 0, id stability (every delivery of a change carried the same body id)
 * must be 100 %; duplicates are allowed (at-least-once) and counted.
 */
import { waitFor } from '../../test/harness/receiver.js';
import type { TallyReceiver } from '../../bench/lib/receiver.js';
import { textTable } from '../../bench/lib/results.js';
import type { LivenessReport } from './liveness.js';

export interface Tally {
  written: number;
  /** Distinct changes received. */
  delivered: number;
  lost: number;
  /** Verified deliveries beyond the first of each change. */
  duplicates: number;
  /** Share of delivered changes whose every delivery carried the same body id (1 = 100 %). */
  idStability: number;
  /** What went wrong; empty when the scenario passed. */
  problems: string[];
}

export interface ChaosOutcome extends Tally {
  scenario: string;
  /** The faults injected, in words. */
  fault: string;
  /** walhook exits nobody asked for (each replaced, as an orchestrator would). */
  crashes: number;
  seconds: number;
  /** What else happened worth knowing (dead letters redelivered, restarts...). */
  notes: string[];
  /** The liveness probe after the fault; null when the scenario did not get that far. */
  liveness: LivenessReport | null;
}

/** Compares `written` change ids with what `receiver` got. */
export function tallyAgainst(written: ReadonlySet<string>, receiver: TallyReceiver): Tally {
  const seen = receiver.eventIdByChange;
  const lostIds = [...written].filter((id) => !seen.has(id));
  const unexpected = [...seen.keys()].filter((id) => !written.has(id));
  const delivered = seen.size;
  const problems: string[] = [];
  if (lostIds.length > 0) problems.push(`${lostIds.length} change(s) lost, e.g. ${lostIds.slice(0, 3).join(', ')}`);
  if (receiver.unstableChanges.size > 0) problems.push(`${receiver.unstableChanges.size} change(s) delivered under more than one id`);
  if (receiver.rejected > 0) problems.push(`${receiver.rejected} request(s) failed signature verification`);
  if (unexpected.length > 0) problems.push(`${unexpected.length} change(s) received that were never written, e.g. ${unexpected.slice(0, 3).join(', ')}`);
  return {
    written: written.size,
    delivered,
    lost: lostIds.length,
    duplicates: receiver.verified - delivered,
    idStability: delivered === 0 ? 1 : (delivered - receiver.unstableChanges.size) / delivered,
    problems,
  };
}

/** Waits (without throwing) until the receiver has every written change, or the time is up. */
export async function waitForEvery(written: ReadonlySet<string>, receiver: TallyReceiver, timeoutMs: number): Promise<void> {
  const missing = new Set(written);
  await waitFor(
    () => {
      for (const id of missing) if (receiver.eventIdByChange.has(id)) missing.delete(id);
      return missing.size === 0;
    },
    'every written change',
    timeoutMs,
    200,
  ).catch(() => undefined);
}

const percent = (share: number) => `${(share * 100).toFixed(share === 1 ? 0 : 2)} %`;

/** The outcomes as a fixed-width summary table. */
export function formatSummary(outcomes: readonly ChaosOutcome[]): string {
  const header = ['scenario', 'fault', 'written', 'delivered', 'lost', 'dups', 'id stability', 'crashes', 'secs', 'live s', 'result'];
  const rows = outcomes.map((o) => [
    o.scenario,
    o.fault,
    String(o.written),
    String(o.delivered),
    String(o.lost),
    String(o.duplicates),
    percent(o.idStability),
    String(o.crashes),
    o.seconds.toFixed(0),
    o.liveness?.deliveredSeconds?.toFixed(1) ?? '—',
    o.problems.length === 0 ? 'pass' : 'FAIL',
  ]);
  const details = outcomes.flatMap((o) => [...o.problems.map((p) => `  ${o.scenario}: FAIL ${p}`), ...o.notes.map((n) => `  ${o.scenario}: ${n}`)]);
  return [textTable(header, rows), ...(details.length > 0 ? ['', ...details] : [])].join('\n');
}
