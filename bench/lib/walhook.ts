/**
 * walhook as the suites run it: the real CLI (`node dist/cli.js start`) as a
 * child process, on a config of its own (slot, publication and state schema
 * named per run), with receivers on 127.0.0.1 let through the SSRF guard.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import pg from 'pg';
import { loadConfig } from '../../src/config/index.js';
import { prepareSource } from '../../src/source/prepare.js';
import { createLogger } from '../../src/common/log.js';
import { secondsSince, waitForChanges } from './context.js';
import type { TallyReceiver } from './receiver.js';
import { startDaemon, writeConfig, type DaemonProcess } from '../../test/harness/daemon.js';
import type { TestDatabase } from '../../test/harness/database.js';
import { waitFor } from '../../test/harness/receiver.js';

export interface WebhookSpec {
  targetUrl: string;
  secret: string;
  /** Default `['*.*']`. */
  operations?: string[];
  [key: string]: unknown;
}

export interface WalhookOptions {
  webhooks: WebhookSpec[];
  /** Merged over the defaults of each section. */
  database?: Record<string, unknown>;
  source?: Record<string, unknown>;
  delivery?: Record<string, unknown>;
  state?: Record<string, unknown>;
  api?: Record<string, unknown>;
}

export interface WalhookSetup {
  /** The config file, reused across restarts and by every replica. */
  file: string;
  slot: string;
  publication: string;
  stateSchema: string;
}

export function walhookSetup(db: TestDatabase, options: WalhookOptions): WalhookSetup {
  const suffix = randomBytes(4).toString('hex');
  const slot = `walhook_${suffix}`;
  const publication = `walhook_${suffix}`;
  const stateSchema = `walhook_state_${suffix}`;
  const config = {
    database: { url: db.url, ...options.database },
    source: { slot, publication, statusInterval: '1s', reconnect: { minDelay: '100ms', maxDelay: '1s' }, ...options.source },
    // A short shutdown: a run ends by stopping walhook, and a slow endpoint must not hold that up. Runs compress the
    // retry schedule to fractions of a second: the breaker's probe interval too, shorter than the first retry wait
    // as the defaults are (30 s against 1 min), or an outage's retries would all be kept back until the first probe.
    delivery: { allowList: ['127.0.0.1/32'], shutdownTimeout: '2s', breakerProbeInterval: '100ms', ...options.delivery },
    webhooks: options.webhooks.map((webhook) => ({ operations: ['*.*'], ...webhook })),
    state: { schema: stateSchema, ...options.state },
    api: { listen: '127.0.0.1:0', ...options.api },
    log: { level: 'info' },
  };
  return { file: writeConfig(config), slot, publication, stateSchema };
}

/**
 * Creates the setup's publication and slot the way walhook's leader does at
 * start, without starting it: changes written from now on wait in the slot.
 */
export async function prepareSlot(setup: WalhookSetup): Promise<void> {
  const config = loadConfig({ file: setup.file, env: {} });
  const client = new pg.Client(config.database.url);
  await client.connect();
  try {
    await prepareSource(client, config, createLogger('silent'));
  } finally {
    await client.end();
  }
}

export class WalhookExitedError extends Error {
  override readonly name = 'WalhookExitedError';

  constructor(
    readonly exitCode: number | null,
    readonly output: string,
  ) {
    super(`walhook exited with ${exitCode}:\n${output.slice(-4000)}`);
  }
}

export interface RunningWalhook extends DaemonProcess {
  pid: number;
  /** Port of its HTTP API (GraphQL, /metrics). */
  apiPort: number;
}

function logged(daemon: DaemonProcess, message: string): Record<string, unknown>[] {
  return daemon.logs.filter((line) => line.msg === message);
}

/** Epoch ms of each time walhook logged that it started streaming the slot (every reconnection adds one). */
export function streamingStarts(daemon: DaemonProcess): number[] {
  return logged(daemon, 'replication streaming').map((line) => Date.parse(String(line.time)));
}

/** Epoch ms of the first 'replication streaming' line, or null before it was logged. */
export function streamingSince(daemon: DaemonProcess): number | null {
  return streamingStarts(daemon)[0] ?? null;
}

/** Waits until walhook logged `message` `count` times; throws if it exits first. */
export async function waitForLog(daemon: DaemonProcess, message: string, timeoutMs: number, count = 1): Promise<void> {
  await waitFor(
    () => {
      if (daemon.child.exitCode !== null || daemon.child.signalCode !== null) {
        throw new WalhookExitedError(daemon.child.exitCode, daemon.output());
      }
      return logged(daemon, message).length >= count;
    },
    `walhook to log '${message}'`,
    timeoutMs,
    20,
  );
}

const CPU_PROFILE_PRELOAD = resolve(import.meta.dirname, 'cpu-profile.mjs');

/**
 * With WALHOOK_BENCH_CPU_PROF=<dir>, every walhook started writes a V8 CPU
 * profile there when it stops (see cpu-profile.mjs).
 */
function profilingEnv(): Record<string, string> {
  const dir = process.env.WALHOOK_BENCH_CPU_PROF;
  return dir ? { WALHOOK_BENCH_CPU_PROF: dir, NODE_OPTIONS: `--import=${CPU_PROFILE_PRELOAD}` } : {};
}

/**
 * Starts `walhook start` on `setup` and waits until its API listens and, as
 * leader (`streaming`, the default), until it streams the slot.
 */
export async function startWalhook(setup: WalhookSetup, { streaming = true, timeoutMs = 60_000 } = {}): Promise<RunningWalhook> {
  const daemon = startDaemon(setup.file, profilingEnv());
  try {
    await waitForLog(daemon, 'HTTP API listening', timeoutMs);
    if (streaming) await waitForLog(daemon, 'replication streaming', timeoutMs);
  } catch (error) {
    await daemon.kill9();
    throw error;
  }
  return Object.assign(daemon, { pid: daemon.child.pid!, apiPort: apiPortOf(daemon)! });
}

/**
 * Starts walhook on `setup` (whose slot already holds `changes`), waits until
 * `receiver` has every one, and stops it: the seconds from streaming to the
 * last delivery, the drain two setups of one scenario are compared by.
 */
export async function timeDrain(setup: WalhookSetup, receiver: TallyReceiver, changes: number, what: string): Promise<number> {
  const walhook = await startWalhook(setup);
  try {
    await waitForChanges([receiver], changes, what);
    return secondsSince(streamingSince(walhook)!, receiver.lastAt);
  } finally {
    await walhook.stop();
  }
}

/** The port walhook's HTTP API listens on, or null before it said. */
export function apiPortOf(daemon: DaemonProcess): number | null {
  const [listening] = logged(daemon, 'HTTP API listening');
  return listening ? Number(listening.port) : null;
}

export interface ProcessMemory {
  rssBytes: number;
  /** VmHWM: the highest resident set size of the process so far. */
  peakRssBytes: number;
}

/** Resident memory of a live process, from /proc/<pid>/status (Linux). */
export function memoryOf(pid: number): ProcessMemory {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kilobytes = (field: string) => {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
    if (!match) throw new Error(`/proc/${pid}/status has no ${field}`);
    return Number(match[1]) * 1024;
  };
  return { rssBytes: kilobytes('VmRSS'), peakRssBytes: kilobytes('VmHWM') };
}

const CLOCK_TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

/**
 * CPU time a live process has used so far (user + system, every thread), in
 * microseconds, from /proc/<pid>/stat (Linux; clock-tick resolution).
 */
export function cpuTimeOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which is in parentheses and may itself hold spaces: state is field 3, utime 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  if (!Number.isFinite(ticks)) throw new Error(`/proc/${pid}/stat has no utime/stime: ${stat}`);
  return (ticks / CLOCK_TICKS_PER_SECOND) * 1_000_000;
}

/**
 * Deliveries walhook wrote to its state table (spilled, failed, retried):
 * the slow path. A healthy run stores none.
 */
export async function storedDeliveries(db: TestDatabase, setup: WalhookSetup): Promise<number> {
  const [row] = await db.sql<{ count: number }>(`SELECT count(*)::int AS count FROM ${setup.stateSchema}.deliveries`);
  return row?.count ?? 0;
}
