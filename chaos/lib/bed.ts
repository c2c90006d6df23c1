/**
 * The shape every chaos scenario shares: a CRM database, a receiver that
 * verifies signatures, walhook replicas kept running by a fleet, a steady
 * stream of single-row transactions, faults injected while it runs, then the
 * stream stopped, a wait for every committed change, and the tally.
 */
import type { TestDatabase } from '../../test/harness/database.js';
import { WORKSPACE_SCHEMA } from '../../test/harness/crm.js';
import { partitionName } from '../../src/common/partitions.js';
import { recordIdOf, startTallyReceiver, type TallyOptions, type TallyReceiver } from '../../bench/lib/receiver.js';
import { walhookSetup, type WalhookOptions, type WalhookSetup } from '../../bench/lib/walhook.js';
import { committedPersonIds, startPacedWriter } from '../../bench/lib/writers.js';
import { tallyAgainst, waitForEvery, type ChaosOutcome } from './audit.js';
import { WalhookFleet } from './fleet.js';
import { describeLiveness, probeLiveness } from './liveness.js';

/** `ci`: the bounded run inside `npm test`; `full`: the run by hand. */
export type ChaosScale = 'ci' | 'full';

export interface ChaosEnv {
  scale: ChaosScale;
  /** Signing secret of every webhook. */
  secret: string;
  /** A new database with the CRM schema, on a cluster no scenario restarts. */
  crmDatabase(prefix: string): Promise<TestDatabase>;
  progress(message: string): void;
}

export interface ChaosScenario {
  name: string;
  run(env: ChaosEnv): Promise<ChaosOutcome>;
}

/** A change's identity in every chaos scenario: `<operation>:<record id>` (`person.created:8c1f…`). */
export function changeIdOf(body: Record<string, unknown>): string {
  return `${String(body.operation)}:${recordIdOf(body)}`;
}

/**
 * Delivery settings for scenarios that kill walhook: retries claimed by a
 * killed instance come back once their lease runs out, so leases and the
 * retry schedule are short enough for the run to finish in seconds.
 */
export const FAST_RECOVERY = { delivery: { retrySchedule: ['200ms', '500ms', '1s'], retryPollInterval: '200ms', leaseDuration: '2s' } };

export interface BedOptions {
  /** walhook's config beyond its one webhook (every change, to the receiver). */
  walhook?: Omit<WalhookOptions, 'webhooks'>;
  replicas?: number;
  reply?: TallyOptions['reply'];
  /** Workspaces (schemas with a person table) the stream writes to in turn; default the CRM schema's. */
  workspaces?: readonly string[];
}

export interface ChaosBed {
  db: TestDatabase;
  receiver: TallyReceiver;
  setup: WalhookSetup;
  fleet: WalhookFleet;
  workspaces: readonly string[];
  /** The slot, or with source.partitions every partition's slot (`<slot>_p<k>`). */
  slots: readonly string[];
}

export async function openBed(env: ChaosEnv, db: TestDatabase, options: BedOptions = {}): Promise<ChaosBed> {
  const receiver = await startTallyReceiver({ secret: env.secret, changeIdOf, ...(options.reply && { reply: options.reply }) });
  // A short stall bound, so a stream stuck after a fault shows on /readyz before the liveness probe gives up.
  const source: Record<string, unknown> = { stallTimeout: '5s', ...options.walhook?.source };
  const setup = walhookSetup(db, { ...options.walhook, source, webhooks: [{ targetUrl: receiver.url, secret: env.secret }] });
  const partitions = typeof source.partitions === 'number' ? source.partitions : 1;
  const slots = Array.from({ length: partitions }, (_, index) => partitionName(setup.slot, index, partitions));
  const fleet = new WalhookFleet(setup, options.replicas ?? 1, partitions);
  return { db, receiver, setup, fleet, workspaces: options.workspaces ?? [WORKSPACE_SCHEMA], slots };
}

export async function closeBed(bed: ChaosBed): Promise<void> {
  await bed.fleet.stop();
  await bed.receiver.close();
}

export interface Course {
  scenario: string;
  /** The faults, in words, for the summary. */
  fault: string;
  ratePerSecond: number;
  /** Injects the faults while the stream runs. */
  inject(bed: ChaosBed): Promise<void>;
  /** Runs once the stream stopped, before the final wait (e.g. redelivering dead letters). */
  afterStream?(bed: ChaosBed): Promise<void>;
  /** Changes written besides the stream's persons (change ids, see `changeIdOf`). */
  otherChanges?(bed: ChaosBed): Promise<Iterable<string>>;
  /** Things learnt during the run, for the summary. */
  notes?: string[];
  /** Failed preconditions (the fault did not bite): the scenario fails even with nothing lost. */
  problems?: string[];
  settleTimeoutMs?: number;
}

/** Fleet up, steady stream, faults, stream stopped, every committed change waited for, tally, liveness probe. */
export async function runCourse(bed: ChaosBed, course: Course): Promise<ChaosOutcome> {
  const startedAt = Date.now();
  await bed.fleet.start();
  const writer = startPacedWriter(bed.db, { ratePerSecond: course.ratePerSecond, schemas: bed.workspaces });
  let courseFailure: string | null = null;
  try {
    await course.inject(bed);
  } catch (error) {
    // walhook not coming back is a finding, not a reason to skip the tally.
    courseFailure = `during the faults: ${firstLine(error)}`;
  }
  const failedInserts = (await writer.stop()).failed;
  if (courseFailure === null) await course.afterStream?.(bed);
  // The table, not the writer's acknowledgements: an insert whose answer was lost in a fault may have committed.
  const written = new Set((await committedPersonIds(bed.db, bed.workspaces)).map((id) => `person.created:${id}`));
  for (const id of (await course.otherChanges?.(bed)) ?? []) written.add(id);
  // Once the course itself failed, what has not arrived is not waited for long.
  await waitForEvery(written, bed.receiver, courseFailure === null ? (course.settleTimeoutMs ?? 90_000) : 10_000);
  const tally = tallyAgainst(written, bed.receiver);
  const liveness = await probeLiveness({ db: bed.db, receiver: bed.receiver, fleet: bed.fleet, slots: bed.slots, workspaces: bed.workspaces });
  const notes = [...(course.notes ?? []), describeLiveness(liveness)];
  if (failedInserts > 0) notes.push(`${failedInserts} insert(s) failed during the faults; the table says which committed`);
  if (courseFailure !== null) notes.push(...bed.fleet.recentProblems());
  for (const crash of bed.fleet.crashes) notes.push(`walhook exited by itself (code ${crash.exitCode}), replaced: ${lastLogLine(crash.tail)}`);
  return {
    scenario: course.scenario,
    fault: course.fault,
    ...tally,
    problems: [...(courseFailure === null ? [] : [courseFailure]), ...(course.problems ?? []), ...tally.problems, ...liveness.problems],
    liveness,
    crashes: bed.fleet.crashes.length,
    seconds: (Date.now() - startedAt) / 1000,
    notes,
  };
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0]!;
}

function lastLogLine(tail: string): string {
  const line = tail.trim().split('\n').at(-1) ?? '';
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A whole number of milliseconds between `min` and `max`, at random. */
export function randomBetween(min: number, max: number): number {
  return Math.round(min + Math.random() * (max - min));
}
