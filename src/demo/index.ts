/**
 * `walhook demo`: walhook at work on a machine with nothing but Node. It
 * starts a throwaway PostgreSQL with a Twenty-like workspace, walhook itself
 * (in this process), and a receiver that checks every signature; registers
 * two webhooks through the GraphQL API; then plays a scripted stretch of CRM
 * life, or with `--rate` a steady load. Whatever it started is stopped and
 * removed at the end, on Ctrl-C as well.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { pino } from 'pino';
import { parseCommandArgs } from '../command-line.js';
import { parseDuration, resolveConfig } from '../config/index.js';
import { Daemon } from '../daemon.js';
import { parseOperationPattern, validateOperations, WILDCARD } from '../common/operations.js';
import { compileOperations, matchesOperation } from '../events/matching.js';
import { createLogger } from '../common/log.js';
import { UsageError } from '../common/operator-error.js';
import { SIGNATURE_SCHEMES } from '../common/verify.js';
import { runLoad } from './load.js';
import { chooseOutputMode, DemoOutput, type DemoSummary, type DemoWebhookInfo, type ReadyInfo } from './output.js';
import { pause } from './pause.js';
import { DemoReceiver } from './receiver.js';
import { createWorkspace, newWorkspace } from './schema.js';
import { crmScript, playScript, type ScriptPlayer } from './script.js';
import { DeliveryTally } from './tally.js';
import { startThrowawayPostgres } from './throwaway-postgres.js';
import { createWebhook, waitUntilStreaming, type CreateWebhookInput } from './walhook-api.js';

export const DEMO_USAGE = `Demo (needs nothing but Node; removes all it created when it ends):
  demo [--rate N] [--duration D] [--json]
    A throwaway PostgreSQL with a Twenty-like workspace, walhook, and a receiver that verifies
    every signature; then a scripted stretch of CRM life, with a receiver outage and its retries.
    --rate N       a load generator instead: N changes per second, live throughput and latency
    --duration D   stop after D (such as 30s or 2m); default: the script's end, 30s with --rate
    --json         one JSON object per line instead of text
  On a terminal the demo keeps running after the script until Ctrl-C; elsewhere it exits
  (0 when every expected delivery arrived with valid signatures).
`;

/** Retries within seconds instead of minutes, so they show during the demo. */
const RETRY_SCHEDULE = ['2s', '4s', '8s'];
const OUTAGE_MS = 5_000;
const STEP_PACE_MS = 800;
const DEFAULT_LOAD_DURATION_MS = 30_000;
/** Long enough for the whole retry schedule (14 s) to run out. */
const DRAIN_TIMEOUT_MS = 20_000;
const STREAMING_TIMEOUT_MS = 30_000;
/** How long a caption waits for its change's first attempts before the script goes on regardless. */
const FIRST_ATTEMPT_TIMEOUT_MS = 5_000;

const DEMO_WEBHOOKS: readonly (Omit<CreateWebhookInput, 'targetUrl'> & { name: string })[] = [
  {
    name: 'all',
    operations: ['*.*'],
    format: 'record',
    signatures: [...SIGNATURE_SCHEMES],
    description: 'walhook demo: every event, record format, every signature scheme',
  },
  {
    name: 'people',
    operations: ['person.*'],
    format: 'twenty',
    signatures: ['twenty-legacy'],
    description: "walhook demo: people only, exactly as Twenty's own server sends them",
  },
];

export interface DemoOptions {
  /** Changes per second in load mode; null plays the script. */
  rate: number | null;
  /** Upper bound of the run; null: the script's end (load mode defaults it). */
  durationMs: number | null;
  json: boolean;
  /** After the script, keep running until Ctrl-C (on a terminal, without --duration). */
  stayAfterScript: boolean;
}

export function parseDemoArgs(argv: string[], stdoutIsTty: boolean): DemoOptions {
  const parsed = parseCommandArgs(argv, {
    rate: { type: 'string' },
    duration: { type: 'string' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h' },
  }).values;
  const rate = parsed.rate === undefined ? null : Number(parsed.rate);
  if (rate !== null && !(Number.isFinite(rate) && rate > 0)) {
    throw new UsageError(`--rate must be a positive number of changes per second, got ${JSON.stringify(parsed.rate)}`);
  }
  let durationMs: number | null = null;
  if (parsed.duration !== undefined) {
    try {
      durationMs = parseDuration(parsed.duration);
    } catch (error) {
      throw new UsageError(`--duration: ${(error as Error).message}`);
    }
  }
  return {
    rate,
    durationMs,
    json: parsed.json,
    stayAfterScript: stdoutIsTty && !parsed.json && rate === null && durationMs === null,
  };
}

/** How many deliveries `operations` (operation → changes) cause, given each webhook's operations. */
export function expectedDeliveries(operations: ReadonlyMap<string, number>, webhooks: readonly { operations: string[] }[]): number {
  const matchers = webhooks.map((webhook) => compileOperations(validateOperations(webhook.operations)));
  let total = 0;
  for (const [operation, count] of operations) {
    const { object, action } = parseOperationPattern(operation);
    if (action === WILDCARD) throw new RangeError(`${operation} is a pattern, not an event`);
    total += count * matchers.filter((matcher) => matchesOperation(matcher, object, action)).length;
  }
  return total;
}

/** Stops what was started, newest first, and goes on when one of them fails. */
class Teardown {
  private readonly steps: { what: string; run: () => Promise<void> }[] = [];

  add(what: string, run: () => Promise<void>): void {
    this.steps.push({ what, run });
  }

  async run(): Promise<void> {
    for (const { what, run } of this.steps.reverse()) {
      await run().catch((error: unknown) => console.error(`walhook demo: could not stop ${what}: ${(error as Error).message}`));
    }
  }
}

interface DemoEnvironment {
  pool: pg.Pool;
  receiver: DemoReceiver;
  ready: ReadyInfo;
}

/**
 * PostgreSQL with the workspace, the receiver, walhook streaming, and the
 * webhooks registered; each part is handed to `teardown` as soon as it runs.
 */
async function setUp(output: DemoOutput, tally: DeliveryTally, options: DemoOptions, teardown: Teardown, signal: AbortSignal): Promise<DemoEnvironment> {
  const startedAt = Date.now();
  output.status('Starting a throwaway PostgreSQL (wal_level=logical)…');
  const postgres = await startThrowawayPostgres();
  teardown.add('PostgreSQL', () => postgres.stop());
  const pool = new pg.Pool({ connectionString: postgres.url, max: 8, application_name: 'walhook-demo' });
  teardown.add('the database pool', () => pool.end());
  const workspace = newWorkspace();
  await createWorkspace(pool, workspace);

  const receiver = await DemoReceiver.start({
    delivery: (delivery) => {
      tally.record(delivery);
      // Under load a line per delivery would scroll past unread: the per-second figures stand for them.
      if (options.rate === null) output.delivery(delivery);
    },
    availability: (up, downForMs) => output.availability(up, downForMs),
  });
  teardown.add('the receiver', () => receiver.close());

  output.status(`Starting walhook on workspace schema ${workspace.schema}…`);
  const token = randomBytes(24).toString('hex');
  const config = resolveConfig(
    {
      database: { url: postgres.url },
      source: { schemas: [workspace.schema] },
      delivery: { allowList: ['127.0.0.1/32'], retrySchedule: RETRY_SCHEDULE, retryPollInterval: '250ms', shutdownTimeout: '2s' },
      api: { listen: '127.0.0.1:0', token },
      encryptionKey: randomBytes(32).toString('hex'),
      log: { level: 'warn' },
    },
    // The demo's settings are its own: WALHOOK_* variables meant for a real deployment do not apply.
    {},
    'walhook demo',
  );
  // Logs go to stderr so that stdout carries only the demo's lines (valid JSON lines with --json).
  const daemon = new Daemon(config, createLogger(config.log.level, pino.destination(2)));
  teardown.add('walhook', () => daemon.stop());
  await daemon.start();
  const apiUrl = `http://127.0.0.1:${daemon.apiAddress?.port}`;
  await waitUntilStreaming(apiUrl, STREAMING_TIMEOUT_MS, signal);

  const webhooks: DemoWebhookInfo[] = [];
  for (const { name, ...input } of DEMO_WEBHOOKS) {
    const targetUrl = receiver.urlFor(name);
    const { id, secret } = await createWebhook(apiUrl, token, { ...input, targetUrl });
    receiver.trust(name, secret);
    webhooks.push({ name, id, targetUrl, operations: input.operations, format: input.format, signatures: input.signatures });
  }
  const ready: ReadyInfo = {
    startupMs: Date.now() - startedAt,
    postgres: { url: postgres.url, dataDir: postgres.dataDir, binDir: postgres.binDir },
    workspace,
    api: { url: apiUrl, token },
    webhooks,
  };
  return { pool, receiver, ready };
}

/** The script or the load; resolves with how many changes of each operation were made. */
async function play(
  { pool, receiver, ready }: DemoEnvironment,
  options: DemoOptions,
  output: DemoOutput,
  tally: DeliveryTally,
  signal: AbortSignal,
): Promise<Map<string, number>> {
  const schema = ready.workspace.schema;
  if (options.rate !== null) {
    const durationMs = options.durationMs ?? DEFAULT_LOAD_DURATION_MS;
    return runLoad({ pool, schema, rate: options.rate, durationMs, tally, output, signal });
  }
  const bounded = options.durationMs === null ? signal : AbortSignal.any([signal, AbortSignal.timeout(options.durationMs)]);
  const player: ScriptPlayer = {
    narrate: (step) => output.step(step),
    // The next caption waits for this change's first attempts (a 503 during the outage is one), so each
    // caption is followed by its own deliveries; only retries come later, marked as such.
    change: async ({ sql, params, operation }) => {
      const before = tally.firstAttempts;
      await pool.query(sql, params);
      const attempts = expectedDeliveries(new Map([[operation, 1]]), DEMO_WEBHOOKS);
      const until = Date.now() + FIRST_ATTEMPT_TIMEOUT_MS;
      while (!bounded.aborted && tally.firstAttempts < before + attempts && Date.now() < until) await pause(20, bounded);
    },
    outage: (ms) => receiver.failFor(ms),
  };
  const played = await playScript(crmScript(schema, { outageMs: OUTAGE_MS }), player, STEP_PACE_MS, bounded);
  const counts = new Map<string, number>();
  for (const operation of played) counts.set(operation, (counts.get(operation) ?? 0) + 1);
  return counts;
}

/** Runs the demo until its end or until `signal` aborts, and always removes what it created. */
export async function runDemo(options: DemoOptions, output: DemoOutput, signal: AbortSignal): Promise<DemoSummary> {
  const startedAt = Date.now();
  const tally = new DeliveryTally();
  const teardown = new Teardown();
  try {
    const environment = await setUp(output, tally, options, teardown, signal);
    output.ready(environment.ready);
    const changes = await play(environment, options, output, tally, signal);

    const expected = expectedDeliveries(changes, DEMO_WEBHOOKS);
    const drainUntil = Date.now() + DRAIN_TIMEOUT_MS;
    while (!signal.aborted && tally.delivered < expected && Date.now() < drainUntil) await pause(100, signal);
    const interrupted = signal.aborted;
    const delivered = tally.delivered;
    if (options.stayAfterScript && !interrupted) {
      output.idle(environment.ready);
      await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
    }
    return {
      mode: options.rate === null ? 'script' : 'rate',
      interrupted,
      changes: [...changes.values()].reduce((sum, count) => sum + count, 0),
      expectedDeliveries: expected,
      delivered,
      deliveredAfterScript: tally.delivered - delivered,
      requests: tally.requests,
      verified: tally.verified,
      signatureFailures: tally.signatureFailures,
      retries: tally.retries,
      failedAttempts: tally.failedAttempts,
      firstDeliveryMs: tally.firstReceivedAt ? tally.firstReceivedAt.getTime() - startedAt : null,
      latency: tally.latency(),
      durationMs: Date.now() - startedAt,
    };
  } finally {
    if (signal.aborted) output.status('Stopping, and removing the throwaway database…');
    await teardown.run();
  }
}

/** `walhook demo …`; resolves with the exit code. */
export async function runDemoCli(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(DEMO_USAGE);
    return 0;
  }
  let options: DemoOptions;
  try {
    options = parseDemoArgs(argv, Boolean(process.stdout.isTTY));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`walhook demo: ${error.message}\n\n${DEMO_USAGE}`);
    return error.exitStatus;
  }
  const output = new DemoOutput(chooseOutputMode(options.json, process.stdout, process.env));
  const controller = new AbortController();
  const stop = () => {
    // A second Ctrl-C gives up on a clean stop.
    if (controller.signal.aborted) process.exit(130);
    controller.abort();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  try {
    const summary = await runDemo(options, output, controller.signal);
    output.summary(summary);
    const missing = !summary.interrupted && summary.delivered < summary.expectedDeliveries;
    return summary.signatureFailures > 0 || missing ? 1 : 0;
  } catch (error) {
    // Ctrl-C also reaches the child processes that start PostgreSQL, which then fail: that is the stop asked for.
    if (controller.signal.aborted) return 0;
    console.error(`walhook demo: ${(error as Error).message}`);
    return 1;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}
