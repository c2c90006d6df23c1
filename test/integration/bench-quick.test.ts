/**
 * Keeps the bench working: `bench/run.ts --quick` runs every scenario small
 * (its own throwaway cluster, the real CLI, pg_recvlogical, pgbench) and
 * must write a results file of the documented shape. The figures of a quick
 * run mean nothing; only the full run (`npm run bench`) is read.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import type { BenchReport } from '../../bench/lib/results.js';

const BENCH = resolve(import.meta.dirname, '../../bench/run.ts');
const outDir = mkdtempSync(join(tmpdir(), 'walhook-bench-quick-'));

afterAll(() => rmSync(outDir, { recursive: true, force: true }));

/** Every scenario family, with the target the issue sets, or null where the figure is reported only. */
const EXPECTED: [RegExp, string | null][] = [
  [/^decode, .*single-row transactions$/, null],
  [/^decode, one .*-row transaction$/, null],
  [/^end-to-end throughput, 1 endpoint$/, 'ratio ≥ 0.8'],
  [/^CPU per delivery, 1 endpoint$/, 'ratio ≤ 1.5'],
  [/^CPU per delivery with a CEL filter, 1 endpoint$/, null],
  [/^CPU per change a CEL filter keeps out$/, null],
  [/^decoding a Twenty person for a filter reading one field$/, null],
  [/^latency p99, commit → receiver at 1000\/s$/, '≤ 25 ms'],
  [/^steady RSS at 1000 changes\/s$/, '≤ 150 MB'],
  [/^primary TPS, walhook attached \(delivery off\)$/, 'ratio ≥ 0.95'],
  [/^primary TPS, walhook delivering$/, null],
  [/^primary TPS, walhook vs trigger outbox$/, null],
  [/^isolation, 50 endpoints \(1 dead, 1 slow\)$/, 'ratio ≥ 0.9'],
  [/^catch-up of .* changes, drain rate$/, null],
  [/^catch-up of .* changes, peak RSS$/, '≤ 256 MB'],
  [/^backfill of .*k rows vs live delivery of as many changes$/, 'ratio ≥ 1'],
  [/^ordering: record vs none, 1000 records$/, null],
  [/^batching: 100 events per request vs one, 1 endpoint$/, null],
  [/^sizing: primary TPS, 1 slot streamed$/, null],
  [/^sizing: primary TPS, 2 slots streamed$/, null],
  [/^sizing: primary TPS, 4 slots streamed$/, null],
  [/^sizing: walhook deliveries per CPU-second, 1 replica$/, null],
];

describe('bench --quick', () => {
  it('runs every scenario against its baseline and writes results.json', async () => {
    const out = join(outDir, 'results.json');
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', BENCH, '--quick', '--out', out], {
      // Bounds a hang, not a speed: on a loaded machine the quick run takes several minutes.
      timeout: 540_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    expect(stdout).toMatch(/scenario\s+\| walhook\s+\| baseline/);

    const report = JSON.parse(readFileSync(out, 'utf8')) as BenchReport;
    expect(report.mode).toBe('quick');
    expect(report.machine.nproc).toBeGreaterThan(0);
    expect(report.machine.cpuModel).not.toBe('');
    expect(report.postgres).toMatch(/^\d+/);
    expect(report.results).toHaveLength(EXPECTED.length);
    EXPECTED.forEach(([scenario, target], index) => {
      const row = report.results[index]!;
      expect(row.scenario).toMatch(scenario);
      expect(row.target).toBe(target);
      expect(Number.isFinite(row.walhook) && row.walhook > 0, `${row.scenario}: walhook figure ${row.walhook}`).toBe(true);
      if (row.baseline === null) {
        expect(row.ratio).toBeNull();
      } else {
        expect(row.baseline).toBeGreaterThan(0);
        expect(row.ratio).toBeCloseTo(row.walhook / row.baseline, 6);
      }
      expect(row.met).toEqual(target === null ? null : expect.any(Boolean));
    });
  }, 600_000);
});
