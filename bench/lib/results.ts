/**
 * What a bench run produces: one row per scenario with walhook's figure, the
 * baseline's figure measured in the same run, their ratio and the target,
 * printed as a table and written as JSON with the machine it ran on.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';

/**
 * A target is met when walhook / baseline is at least `atLeastRatio` (rates),
 * at most `atMostRatio` (costs), or walhook's own figure is at most `atMost`
 * (latencies, memory).
 */
export type Target = { atLeastRatio: number } | { atMostRatio: number } | { atMost: number };

export interface BenchResult {
  scenario: string;
  /** Unit of the walhook and baseline figures. */
  unit: string;
  walhook: number;
  /** What the baseline is, or null when the scenario has none. */
  baselineName: string | null;
  baseline: number | null;
  /** walhook / baseline. */
  ratio: number | null;
  /** The target in words, or null when the figure is reported only. */
  target: string | null;
  met: boolean | null;
  /** Further figures of the run (percentiles, counts, how the cores were shared...). */
  details: Record<string, unknown>;
}

export interface ResultInput {
  scenario: string;
  unit: string;
  walhook: number;
  baseline?: { name: string; value: number };
  target?: Target;
  details?: Record<string, unknown>;
}

function describeTarget(target: Target, unit: string): string {
  if ('atLeastRatio' in target) return `ratio ≥ ${target.atLeastRatio}`;
  if ('atMostRatio' in target) return `ratio ≤ ${target.atMostRatio}`;
  return `≤ ${target.atMost} ${unit}`;
}

export function result({ scenario, unit, walhook, baseline, target, details = {} }: ResultInput): BenchResult {
  const ratio = baseline && baseline.value > 0 ? walhook / baseline.value : null;
  let met: boolean | null = null;
  if (target && 'atLeastRatio' in target) met = ratio === null ? null : ratio >= target.atLeastRatio;
  else if (target && 'atMostRatio' in target) met = ratio === null ? null : ratio <= target.atMostRatio;
  else if (target) met = walhook <= target.atMost;
  return {
    scenario,
    unit,
    walhook,
    baselineName: baseline?.name ?? null,
    baseline: baseline?.value ?? null,
    ratio,
    target: target ? describeTarget(target, unit) : null,
    met,
    details,
  };
}

export interface Machine {
  nproc: number;
  cpuModel: string;
  memoryBytes: number;
  node: string;
}

export function describeMachine(): Machine {
  const model = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
  return { nproc: availableParallelism(), cpuModel: model?.[1]?.trim() ?? 'unknown', memoryBytes: totalmem(), node: process.version };
}

export interface BenchReport {
  generatedAt: string;
  mode: 'quick' | 'full';
  machine: Machine;
  postgres: string;
  results: BenchResult[];
}

function figure(value: number | null): string {
  if (value === null) return '—';
  if (Math.abs(value) >= 100) return Math.round(value).toLocaleString('en-US');
  return value.toPrecision(3);
}

/** The results as a fixed-width text table. */
export function formatTable(results: readonly BenchResult[]): string {
  const header = ['scenario', 'walhook', 'baseline', 'ratio', 'target', 'met'];
  const rows = results.map((r) => [
    r.scenario,
    `${figure(r.walhook)} ${r.unit}`,
    r.baseline === null ? '—' : `${figure(r.baseline)} (${r.baselineName})`,
    r.ratio === null ? '—' : r.ratio.toFixed(2),
    r.target ?? '—',
    r.met === null ? '—' : r.met ? 'yes' : 'NO',
  ]);
  return textTable(header, rows);
}

/** Rows of cells as a fixed-width text table under `header`. */
export function textTable(header: readonly string[], rows: readonly string[][]): string {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]?.length ?? 0)));
  const line = (cells: readonly string[]) => cells.map((cell, column) => cell.padEnd(widths[column]!)).join(' | ');
  return [line(header), widths.map((width) => '-'.repeat(width)).join('-|-'), ...rows.map(line)].join('\n');
}

/** The value below which `fraction` of the sorted `values` fall (nearest rank). */
export function percentile(sorted: readonly number[], fraction: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1));
  return sorted[rank]!;
}

export function median(values: readonly number[]): number {
  return percentile([...values].sort((a, b) => a - b), 0.5);
}

export const MB = 1024 * 1024;
