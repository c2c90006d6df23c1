/**
 * `walhook demo` run as a newcomer runs it (node dist/cli.js demo), with
 * `--json` so that what its receiver verified can be checked line by line.
 * The demo starts its own PostgreSQL, walhook and receiver; nothing here is
 * mocked.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI } from '../harness/daemon.js';

type Line = Record<string, unknown> & { type: string };

interface Delivery extends Line {
  webhook: string;
  deliveryId: string;
  operation: string;
  recordId: string;
  updatedFields: string[] | null;
  attempt: number;
  status: number;
  verification: { ok: boolean; schemes?: string[]; reason?: string };
}

interface DemoRun {
  code: number | null;
  lines: Line[];
  stderr: string;
}

/** Runs the demo; `onLine` sees each stdout line as it comes (and may signal the process). */
function runDemo(args: string[], onLine: (line: Line, child: ReturnType<typeof spawn>) => void = () => undefined): Promise<DemoRun> {
  const child = spawn(process.execPath, [CLI, 'demo', '--json', ...args], {
    env: { PATH: process.env.PATH ?? '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Line[] = [];
  let stderr = '';
  let partial = '';
  child.stdout.on('data', (chunk: Buffer) => {
    const texts = (partial + chunk.toString('utf8')).split('\n');
    partial = texts.pop() ?? '';
    for (const text of texts.filter((t) => t.trim() !== '')) {
      // stdout must be nothing but JSON lines: a stray log line fails here.
      const line = JSON.parse(text) as Line;
      lines.push(line);
      onLine(line, child);
    }
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, lines, stderr })));
}

const ofType = <T extends Line = Line>(run: DemoRun, type: string) => run.lines.filter((line): line is T => line.type === type);

function only(run: DemoRun, type: string): Line {
  const [line, ...more] = ofType(run, type);
  expect(line, `one ${type} line`).toBeDefined();
  expect(more).toHaveLength(0);
  return line!;
}

/** What a failed demo run saw: its summary, and each delivery that was attempted but never answered 200. */
function whyDemoFailed(run: DemoRun): string {
  const deliveries = ofType<Delivery>(run, 'delivery');
  const accepted = new Set(deliveries.filter((d) => d.status === 200).map((d) => d.deliveryId));
  const unsettled = deliveries
    .filter((d) => !accepted.has(d.deliveryId))
    .map((d) => `${d.webhook} ${d.operation} ${d.recordId} attempt ${d.attempt}: ${d.status}`);
  const count = (operations: string[]) => JSON.stringify(Object.fromEntries([...new Set(operations)].sort().map((op) => [op, operations.filter((o) => o === op).length])));
  const scripted = ofType(run, 'step').flatMap((step) => (typeof step.operation === 'string' ? [step.operation] : []));
  const arrivedAtAll = [...new Map(deliveries.filter((d) => d.status === 200 && d.webhook === 'all').map((d) => [d.deliveryId, d.operation])).values()];
  return [
    `stderr: ${run.stderr}`,
    `summary: ${JSON.stringify(ofType(run, 'summary')[0] ?? null)}`,
    `scripted: ${count(scripted)}`,
    `accepted at "all": ${count(arrivedAtAll)}`,
    `never answered 200: ${unsettled.join('; ') || 'none attempted'}`,
  ].join('\n');
}

/** The throwaway cluster's directory (and the temporary directory around it) must be gone. */
function expectClusterRemoved(run: DemoRun): void {
  const dataDir = (only(run, 'ready').postgres as { dataDir: string }).dataDir;
  expect(dataDir).toMatch(/walhook-pg-/);
  expect(existsSync(dataDir)).toBe(false);
  expect(existsSync(dirname(dataDir))).toBe(false);
}

describe('walhook demo', () => {
  it('plays the CRM script: every event arrives at both webhooks as subscribed, signed, and retried through the outage', async () => {
    const run = await runDemo([]);
    expect(run.code, whyDemoFailed(run)).toBe(0);
    expectClusterRemoved(run);

    const deliveries = ofType<Delivery>(run, 'delivery');
    expect(deliveries.length).toBeGreaterThan(0);
    expect(deliveries.filter((d) => !d.verification.ok)).toEqual([]);
    const accepted = deliveries.filter((d) => d.status === 200);
    const operationsAt = (webhook: string) => new Set(accepted.filter((d) => d.webhook === webhook).map((d) => d.operation));

    const everyOperation = [
      'company.created',
      'company.updated',
      'person.created',
      'person.updated',
      'person.deleted',
      'person.restored',
      'opportunity.created',
      'opportunity.updated',
      'note.created',
      'note.destroyed',
      'pet.created',
      'pet.updated',
    ];
    expect([...operationsAt('all')].sort()).toEqual([...everyOperation].sort());
    expect([...operationsAt('people')].sort()).toEqual(['person.created', 'person.deleted', 'person.restored', 'person.updated']);
    // Both webhooks got the same person events, each signed as that webhook asks.
    const personEvents = (webhook: string) =>
      accepted
        .filter((d) => d.webhook === webhook && d.operation.startsWith('person.'))
        .map((d) => `${d.operation} ${d.recordId}`)
        .sort();
    expect(personEvents('people')).toEqual(personEvents('all'));
    expect(new Set(accepted.filter((d) => d.webhook === 'people').map((d) => d.verification.schemes?.join()))).toEqual(new Set(['twenty-legacy']));
    expect(new Set(accepted.filter((d) => d.webhook === 'all').map((d) => d.verification.schemes?.join()))).toEqual(
      new Set(['standard,twenty,twenty-legacy']),
    );

    // The demo's workspace is a Twenty one (metadata included): records nested by field, updatedFields by
    // Twenty's rules — field names, never updatedAt, and only on updates.
    const fieldsOf = (operation: string) => accepted.filter((d) => d.webhook === 'all' && d.operation === operation).map((d) => d.updatedFields);
    expect(fieldsOf('person.updated').some((fields) => fields?.includes('jobTitle'))).toBe(true);
    expect(fieldsOf('person.updated').some((fields) => fields?.includes('updatedAt'))).toBe(false);
    expect(fieldsOf('opportunity.updated').some((fields) => fields?.includes('stage'))).toBe(true);
    expect(fieldsOf('person.deleted')).toEqual([null]);
    expect(fieldsOf('person.restored')).toEqual([null]);

    // The outage: 503s while the receiver is down, and retries that succeed once it is back.
    const receiverLines = ofType(run, 'receiver');
    expect(receiverLines.map((line) => line.state)).toEqual(['down', 'up']);
    const upAt = run.lines.indexOf(receiverLines[1]!);
    expect(deliveries.some((d) => d.status === 503)).toBe(true);
    const retriedAfterOutage = run.lines.slice(upAt).filter((line) => line.type === 'delivery' && (line as Delivery).attempt > 1 && (line as Delivery).status === 200);
    expect(retriedAfterOutage.length).toBeGreaterThan(0);

    // Each caption is followed by its own change's first attempts (503s during the outage included), not another's.
    let caption: string | null = null;
    const offCaption: string[] = [];
    for (const line of run.lines) {
      if (line.type === 'step') caption = (line.operation as string | null) ?? null;
      const delivery = line as Delivery;
      if (line.type === 'delivery' && delivery.attempt === 1 && caption !== null && delivery.operation !== caption) {
        offCaption.push(`${delivery.operation} after the caption of ${caption}`);
      }
    }
    expect(offCaption).toEqual([]);

    const summary = only(run, 'summary');
    expect(summary).toMatchObject({
      deliveredAfterScript: 0,
      mode: 'script',
      interrupted: false,
      requests: deliveries.length,
      verified: deliveries.length,
      signatureFailures: 0,
      failedAttempts: deliveries.filter((d) => d.status !== 200).length,
      retries: deliveries.filter((d) => d.attempt > 1).length,
      delivered: new Set(accepted.map((d) => d.deliveryId)).size,
    });
    expect(summary.delivered).toBe(summary.expectedDeliveries);
    expect(summary.firstDeliveryMs).toBeLessThan(30_000);
  }, 60_000);

  it('--rate generates a bounded load and reports throughput and latency every second', async () => {
    const run = await runDemo(['--rate', '50', '--duration', '3s']);
    expect(run.code, run.stderr).toBe(0);
    expectClusterRemoved(run);
    expect(ofType(run, 'delivery')).toEqual([]);

    const samples = ofType(run, 'throughput') as (Line & { changes: number; delivered: number; p50: number | null; p99: number | null })[];
    expect(samples.length).toBeGreaterThanOrEqual(2);
    expect(samples.map((sample) => sample.second)).toEqual(samples.map((_, index) => index + 1));
    const changes = samples.reduce((sum, sample) => sum + sample.changes, 0);
    expect(changes).toBeGreaterThan(0);
    const measured = samples.filter((sample) => sample.delivered > 0);
    expect(measured.length).toBeGreaterThan(0);
    for (const sample of measured) expect(sample.p99!).toBeGreaterThanOrEqual(sample.p50!);

    const summary = only(run, 'summary') as Line & { changes: number; expectedDeliveries: number };
    // Every person change reaches both webhooks (*.* and person.*).
    expect(summary).toMatchObject({ mode: 'rate', interrupted: false, signatureFailures: 0, expectedDeliveries: summary.changes * 2 });
    expect(summary.changes).toBeGreaterThanOrEqual(changes);
    // Bounded: never ahead of 50 changes a second for 3 s. How close it keeps up on a loaded machine is the bench's to say.
    expect(summary.changes).toBeLessThanOrEqual(150);
    expect(summary.delivered).toBe(summary.expectedDeliveries);
    expect(summary.verified).toBe(summary.requests);
  }, 60_000);

  it('stops on SIGINT and removes what it created', async () => {
    let interruptedAfter: number | null = null;
    const run = await runDemo([], (line, child) => {
      if (line.type === 'delivery' && interruptedAfter === null) {
        interruptedAfter = Date.now();
        child.kill('SIGINT');
      }
    });
    expect(run.code, run.stderr).toBe(0);
    expect(interruptedAfter).not.toBeNull();
    expect(Date.now() - interruptedAfter!).toBeLessThan(10_000);
    expect(only(run, 'summary')).toMatchObject({ interrupted: true, signatureFailures: 0 });
    expectClusterRemoved(run);
  }, 60_000);
});
