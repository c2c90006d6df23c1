/**
 * What every bench scenario gets, and the steps they share: a CRM database
 * of its own on the bench cluster, and waiting until a receiver has seen a
 * number of changes.
 */
import type { TestDatabase } from '../../test/harness/database.js';
import { waitFor } from '../../test/harness/receiver.js';
import { createCrmDatabase, type BenchCluster } from './cluster.js';
import type { TallyReceiver } from './receiver.js';
import type { BenchResult } from './results.js';

export interface BenchContext {
  cluster: BenchCluster;
  /** Every scenario small, to keep the suite working (CI), not to read figures from. */
  quick: boolean;
  /** Signing secret of every bench webhook. */
  secret: string;
  progress(message: string): void;
}

export interface BenchScenario {
  name: string;
  run(context: BenchContext): Promise<BenchResult[]>;
}

/** A new database with the Twenty-like workspace schema, on the bench cluster. */
export function crmDatabase(context: BenchContext, prefix: string): Promise<TestDatabase> {
  return createCrmDatabase(context.cluster.url, prefix);
}

/** Waits until `receivers` have each seen `changes` distinct changes; the time allowed grows with the count. */
export async function waitForChanges(receivers: readonly TallyReceiver[], changes: number, what: string, minimumRate = 200): Promise<void> {
  await waitFor(
    () => receivers.every((receiver) => receiver.eventIdByChange.size >= changes),
    what,
    60_000 + (changes / minimumRate) * 1000,
    20,
  );
}

/** Seconds since an epoch-ms instant. */
export function secondsSince(startedAtMs: number, endedAtMs = Date.now()): number {
  return (endedAtMs - startedAtMs) / 1000;
}
