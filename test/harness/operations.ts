/**
 * What an SRE's tools see of a running walhook: its HTTP API address (read
 * from its own log), /metrics parsed from the Prometheus text format, and
 * /healthz and /readyz. Also starts instances that are not (yet) leader,
 * which the CRM test bed's `walhook()` cannot: it waits for streaming.
 */
import { readFileSync } from 'node:fs';
import { afterEach } from 'vitest';
import { parse } from 'yaml';
import type { WalhookSetup } from './crm.js';
import { startDaemon, writeConfig, type DaemonProcess } from './daemon.js';
import { waitFor } from './receiver.js';

/** A copy of `setup` whose config has `sections` merged over its own, section by section. */
export function withConfig(setup: WalhookSetup, sections: Record<string, Record<string, unknown>>): WalhookSetup {
  const config = parse(readFileSync(setup.file, 'utf8')) as Record<string, Record<string, unknown> | undefined>;
  const merged: Record<string, unknown> = { ...config };
  for (const [key, section] of Object.entries(sections)) merged[key] = { ...config[key], ...section };
  return { ...setup, file: writeConfig(merged) };
}

export interface Instance extends DaemonProcess {
  /** Base URL of its HTTP API, e.g. http://127.0.0.1:41234. */
  api: string;
  /** Milliseconds since epoch of the first log line with this message, or null. */
  loggedAt(msg: string): number | null;
}

/** The port the daemon logged it listens on, once it has. */
function apiPortOf(daemon: DaemonProcess): number | null {
  const line = daemon.logs.find((entry) => entry.msg === 'HTTP API listening');
  return typeof line?.port === 'number' ? line.port : null;
}

/** The base URL of a started daemon's API. */
export function apiUrlOf(daemon: DaemonProcess): string {
  const port = apiPortOf(daemon);
  if (port === null) throw new Error('the daemon has not logged its API port yet');
  return `http://127.0.0.1:${port}`;
}

/**
 * Registers an afterEach that kills what `start` started. `start` runs
 * `walhook start` and resolves once its API listens and, with `streaming`,
 * once it streams the slot.
 */
export function useInstances(): { start(file: string, options?: { streaming?: boolean; env?: Record<string, string> }): Promise<Instance> } {
  const started: DaemonProcess[] = [];
  afterEach(async () => {
    await Promise.all(started.splice(0).map((daemon) => daemon.kill9()));
  });
  return {
    async start(file, { streaming = false, env = {} } = {}) {
      const daemon = startDaemon(file, env);
      started.push(daemon);
      let exitCode: number | null | undefined;
      void daemon.exited.then((code) => (exitCode = code));
      const what = streaming ? 'walhook to stream' : 'the walhook API to listen';
      await waitFor(
        () => {
          if (exitCode !== undefined) throw new Error(`walhook exited with ${exitCode} while waiting for ${what}:\n${daemon.output()}`);
          return apiPortOf(daemon) !== null && (!streaming || daemon.logs.some((line) => line.msg === 'replication streaming'));
        },
        what,
        15_000,
      );
      return {
        ...daemon,
        api: apiUrlOf(daemon),
        loggedAt(msg) {
          const line = daemon.logs.find((entry) => entry.msg === msg);
          return typeof line?.time === 'string' ? Date.parse(line.time) : null;
        },
      };
    },
  };
}

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface MetricsSnapshot {
  /** Metric family name → type (counter, gauge, histogram…), from the # TYPE lines. */
  types: Map<string, string>;
  samples: Sample[];
  /** The one sample of `name` whose labels include `labels`; undefined when none; throws when several. */
  value(name: string, labels?: Record<string, string>): number | undefined;
}

const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
const SAMPLE_LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: \d+)?$/;

function unescapeLabel(value: string): string {
  return value.replace(/\\(.)/g, (_all, char: string) => (char === 'n' ? '\n' : char));
}

/** Parses the Prometheus text exposition format (what prom-client renders). */
export function parseMetrics(text: string): MetricsSnapshot {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim() || line.startsWith('# HELP')) continue;
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) {
      types.set(type[1]!, type[2]!);
      continue;
    }
    const sample = SAMPLE_LINE.exec(line);
    if (!sample) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (sample[2] ?? '').matchAll(LABEL)) labels[key!] = unescapeLabel(value!);
    samples.push({ name: sample[1]!, labels, value: Number(sample[3]) });
  }
  return {
    types,
    samples,
    value(name, labels = {}) {
      const matching = samples.filter(
        (sample) => sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value),
      );
      if (matching.length > 1) throw new Error(`${matching.length} samples of ${name} match ${JSON.stringify(labels)}`);
      return matching[0]?.value;
    },
  };
}

export async function scrapeMetrics(api: string): Promise<MetricsSnapshot> {
  const response = await fetch(`${api}/metrics`);
  if (response.status !== 200) throw new Error(`/metrics answered ${response.status}`);
  return parseMetrics(await response.text());
}

export interface Probe {
  status: number;
  body: { status?: string; role?: string; problems?: string[] };
}

/** GET /healthz or /readyz, without credentials. */
export async function probe(api: string, path: '/healthz' | '/readyz'): Promise<Probe> {
  const response = await fetch(`${api}${path}`);
  return { status: response.status, body: (await response.json()) as Probe['body'] };
}
