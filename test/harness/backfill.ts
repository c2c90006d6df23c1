/**
 * Backfills under test: requested through the real CLI (`walhook backfill`),
 * read back from walhook's state table, and what receivers got of them.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { CLI } from './daemon.js';
import type { TestDatabase } from './database.js';
import type { WalhookSetup } from './crm.js';
import { waitFor, type ReceivedRequest } from './receiver.js';

const run = promisify(execFile);

export interface BackfillState {
  id: string;
  status: string;
  rows_total: string | null;
  rows_read: string;
  rows_sent: string;
  rows_superseded: string;
  error: string | null;
}

/** `walhook backfill <args> --json` on the setup's config; returns its JSON answer. */
export async function backfillCli(setup: WalhookSetup, args: string[]): Promise<Record<string, unknown>> {
  const { stdout } = await run(process.execPath, [CLI, 'backfill', ...args, '--config', setup.file, '--json'], {
    env: { PATH: process.env.PATH ?? '' },
    timeout: 30_000,
  });
  return JSON.parse(stdout) as Record<string, unknown>;
}

/** Requests a backfill and returns its id without following it. */
export async function startBackfill(setup: WalhookSetup, args: string[]): Promise<string> {
  const started = await backfillCli(setup, [...args, '--detach']);
  return started.id as string;
}

export async function backfillState(db: TestDatabase, setup: WalhookSetup, id: string): Promise<BackfillState> {
  const [row] = await db.sql<BackfillState>(
    `SELECT id, status, rows_total::text, rows_read::text, rows_sent::text, rows_superseded::text, error FROM ${setup.stateSchema}.backfills WHERE id = $1`,
    [id],
  );
  if (!row) throw new Error(`no backfill ${id} in ${setup.stateSchema}`);
  return row;
}

export async function waitForBackfill(db: TestDatabase, setup: WalhookSetup, id: string, status: string, timeoutMs = 90_000): Promise<BackfillState> {
  let seen: BackfillState | undefined;
  await waitFor(
    async () => {
      seen = await backfillState(db, setup, id);
      if (seen.status === 'failed' && status !== 'failed') throw new Error(`backfill ${id} failed: ${seen.error}`);
      return seen.status === status;
    },
    () => `backfill ${id} to be ${status}; last seen ${JSON.stringify(seen)}`,
    timeoutMs,
    100,
  );
  return seen!;
}

export function recordIdOf(request: ReceivedRequest): string {
  return (request.json.record as { id: string }).id;
}

export function isBackfilled(request: ReceivedRequest): boolean {
  return String(request.json.operation).endsWith('.backfilled');
}

/** Record id → the record of the last request a receiver got for it (arrival order). */
export function lastRecordById(requests: readonly ReceivedRequest[]): Map<string, Record<string, unknown>> {
  const last = new Map<string, Record<string, unknown>>();
  for (const request of requests) last.set(recordIdOf(request), request.json.record as Record<string, unknown>);
  return last;
}
