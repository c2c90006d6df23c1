/**
 * `npm run test:repeat -- N [vitest filters…]`: runs the integration and
 * end-to-end suites N times (after one build) and reports, per test, how many
 * runs it failed and the first failure seen. A flaky test shows up here as
 * "failed 1/6" long before it turns a CI run red. Exits 1 when any run failed.
 *
 * Extra arguments are passed to vitest as file filters, e.g.
 * `npm run test:repeat -- 10 test/integration/cdc-resume.test.ts`.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

interface AssertionResult {
  fullName: string;
  status: string;
  failureMessages: string[];
}

interface FileResult {
  name: string;
  status: string;
  message: string;
  assertionResults: AssertionResult[];
}

interface JsonReport {
  testResults: FileResult[];
}

interface Failure {
  runs: number[];
  firstMessage: string;
}

const [countArgument, ...filters] = process.argv.slice(2);
const runs = Number(countArgument ?? '5');
if (!Number.isInteger(runs) || runs < 1) {
  console.error(`usage: npm run test:repeat -- N [vitest filters…]   (N: runs, a whole number ≥ 1; got "${countArgument}")`);
  process.exit(2);
}
const targets = filters.length > 0 ? filters : ['test/integration', 'test/e2e'];

const build = spawnSync('npm', ['run', 'build'], { stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);

const outputDir = mkdtempSync(join(tmpdir(), 'walhook-repeat-'));
const failures = new Map<string, Failure>();
let testsPerRun = 0;
const started = Date.now();

const firstLine = (text: string) => text.split('\n').find((line) => line.trim() !== '')?.trim().slice(0, 300) ?? '';
const relative = (file: string) => file.replace(`${process.cwd()}/`, '');

function record(key: string, run: number, message: string): void {
  const failure = failures.get(key) ?? { runs: [], firstMessage: firstLine(message) };
  failure.runs.push(run);
  failures.set(key, failure);
}

for (let run = 1; run <= runs; run++) {
  const outputFile = join(outputDir, `run-${run}.json`);
  const runStarted = Date.now();
  const result = spawnSync('npx', ['vitest', 'run', ...targets, '--reporter=dot', '--reporter=json', `--outputFile.json=${outputFile}`], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, CI: 'true' },
  });
  let report: JsonReport;
  try {
    report = JSON.parse(readFileSync(outputFile, 'utf8')) as JsonReport;
  } catch {
    record('(the run itself)', run, `vitest exited ${result.status} without a report`);
    continue;
  }
  let tests = 0;
  let failed = 0;
  for (const file of report.testResults) {
    tests += file.assertionResults.length;
    // A file that fails before or after its tests (hooks, import errors) has no failing assertion of its own.
    const failedTests = file.assertionResults.filter((test) => test.status === 'failed');
    if (file.status === 'failed' && failedTests.length === 0) {
      record(`${relative(file.name)} (file)`, run, file.message);
      failed++;
    }
    for (const test of failedTests) {
      record(`${relative(file.name)} › ${test.fullName}`, run, test.failureMessages.join('\n'));
      failed++;
    }
  }
  testsPerRun = Math.max(testsPerRun, tests);
  console.log(`run ${run}/${runs}: ${tests} tests, ${failed} failed, ${Math.round((Date.now() - runStarted) / 1000)} s`);
}
rmSync(outputDir, { recursive: true, force: true });

console.log(`\n${runs} runs of ${targets.join(' ')} (${testsPerRun} tests each) in ${Math.round((Date.now() - started) / 1000)} s`);
if (failures.size === 0) {
  console.log('no test failed in any run');
} else {
  console.log('failed in some runs:');
  for (const [test, failure] of [...failures].sort((a, b) => b[1].runs.length - a[1].runs.length)) {
    console.log(`  ${failure.runs.length}/${runs}  ${test}\n        runs ${failure.runs.join(', ')}: ${failure.firstMessage}`);
  }
}
process.exit(failures.size === 0 ? 0 : 1);
