/**
 * `walhook backfill …`: requests a backfill in the state database (the
 * leader's runner picks it up; no API needed) and follows its progress — a
 * live bar on a terminal (cli-progress), one plain line per change otherwise.
 * Interrupting the follow leaves the backfill running.
 */
import { SingleBar } from 'cli-progress';
import type { BackfillManagement, BackfillView } from './api/backfills.js';
import { formatTable, required, withManagement } from './admin-cli.js';
import { asOperatorError, parseCommandArgs } from './command-line.js';
import { ManagementError } from './api/errors.js';
import { OperatorError, UsageError } from './common/operator-error.js';
import { isFinished } from './state/backfills.js';

export const BACKFILL_USAGE = `Backfill commands (state database from the config; a running walhook leader does the work):
  backfill --object OBJECT [--webhook ID] [--where SQL] [--rate N] [--as created] [--detach]
                       sends the object's existing rows as OBJECT.backfilled events (or OBJECT.created
                       with --as created) to the webhook, or to every webhook matching the operation;
                       follows the progress until it ends (Ctrl-C stops following, not the backfill)
  backfill list        backfills, newest first
  backfill status --id ID [--follow]
  backfill pause --id ID | resume --id ID | cancel --id ID

  -c, --config FILE   the configuration
  --where SQL         a condition on the rows, run read-only, e.g. "\\"updatedAt\\" > now() - interval '1 day'"
  --rate N            at most N rows per second
  --json              JSON instead of text
`;

const OPTIONS = {
  config: { type: 'string', short: 'c' },
  help: { type: 'boolean', short: 'h' },
  json: { type: 'boolean' },
  id: { type: 'string' },
  object: { type: 'string' },
  webhook: { type: 'string' },
  where: { type: 'string' },
  rate: { type: 'string' },
  as: { type: 'string' },
  detach: { type: 'boolean' },
  follow: { type: 'boolean' },
} as const;

type Values = ReturnType<typeof parseCommandArgs<typeof OPTIONS>>['values'];

const FOLLOW_POLL_MS = 500;

function table(backfills: readonly BackfillView[]): string {
  return formatTable(
    ['ID', 'OBJECT', 'STATUS', 'READ', 'SENT', 'SUPERSEDED', 'TOTAL', 'WEBHOOK', 'WHERE', 'ERROR'],
    backfills.map((b) => [
      b.id,
      b.object,
      b.status,
      String(b.rowsRead),
      String(b.rowsSent),
      String(b.rowsSuperseded),
      b.rowsTotal === null ? '' : String(b.rowsTotal),
      b.webhookId ?? '(matching)',
      b.where ?? '',
      b.error ?? '',
    ]),
  );
}

function line(b: BackfillView): string {
  const total = b.rowsTotal === null ? '?' : String(b.rowsTotal);
  return `backfill ${b.id} ${b.status}: ${b.rowsRead}/${total} rows read, ${b.rowsSent} sent, ${b.rowsSuperseded} superseded by live changes${b.error ? ` (${b.error})` : ''}`;
}

/** Until the backfill is done, cancelled, paused or failed (or the user interrupts): progress, then its last state. */
async function follow(backfills: BackfillManagement, id: string, json: boolean): Promise<BackfillView> {
  const bar = process.stderr.isTTY && !json ? new SingleBar({ format: 'backfill {bar} {percentage}% | {value}/{total} rows | {status} | ETA {eta_formatted}', stream: process.stderr, etaBuffer: 20 }) : null;
  let interrupted = false;
  const onInterrupt = () => {
    interrupted = true;
  };
  process.once('SIGINT', onInterrupt);
  let last: string | null = null;
  let current: BackfillView | null = null;
  try {
    for (;;) {
      current = await backfills.get(id);
      if (!current) throw new ManagementError('NOT_FOUND', `backfill ${id} disappeared`);
      const ended = isFinished(current.status) || current.status === 'paused' || current.status === 'failed';
      if (bar) {
        if (last === null) bar.start(current.rowsTotal ?? 0, current.rowsRead, { status: current.status });
        bar.setTotal(current.rowsTotal ?? 0);
        bar.update(current.rowsRead, { status: current.status });
      } else if (!json) {
        const text = line(current);
        if (text !== last) console.log(text);
      }
      last = line(current);
      if (ended || interrupted) break;
      await new Promise((resolve) => setTimeout(resolve, FOLLOW_POLL_MS));
    }
  } finally {
    bar?.stop();
    process.off('SIGINT', onInterrupt);
  }
  if (interrupted && !json) console.error(`stopped following; the backfill goes on. Follow again: walhook backfill status --id ${id} --follow`);
  return current;
}

/** One backfill command, run against the state schema; resolves with the exit code. */
async function backfillCommand(backfills: BackfillManagement, action: string, values: Values): Promise<number> {
  const print = (json: unknown, text: string) => console.log(values.json ? JSON.stringify(json, null, 2) : text);
  switch (action) {
    case 'list': {
      const all = await backfills.list();
      print(all, all.length ? table(all) : 'no backfills');
      return 0;
    }
    case 'pause':
    case 'resume':
    case 'cancel': {
      const backfill = await backfills.command(required(values.id, 'id'), action);
      print(backfill, line(backfill));
      return 0;
    }
    case 'status': {
      const id = required(values.id, 'id');
      const found = await backfills.get(id);
      if (!found) throw new ManagementError('NOT_FOUND', `no backfill with id ${JSON.stringify(id)}`);
      const backfill = values.follow ? await follow(backfills, id, values.json === true) : found;
      print(backfill, line(backfill));
      return backfill.status === 'failed' ? 1 : 0;
    }
  }
  const rate = values.rate === undefined ? null : Number(values.rate);
  const started = await backfills.start({ object: required(values.object, 'object'), webhookId: values.webhook ?? null, where: values.where ?? null, rate, action: values.as ?? null });
  if (!values.json) console.log(`backfill ${started.id} requested for ${started.object}${started.webhookId ? ` to webhook ${started.webhookId}` : ''}`);
  const backfill = values.detach ? started : await follow(backfills, started.id, values.json === true);
  if (values.json) console.log(JSON.stringify(backfill, null, 2));
  else if (!values.detach) console.log(line(backfill));
  return backfill.status === 'failed' ? 1 : 0;
}

/** `argv` starts after `backfill`; resolves with the exit code. */
export async function runBackfillCli(argv: string[]): Promise<number> {
  const fail = (error: OperatorError) => {
    const usage = error instanceof UsageError ? `\n\n${BACKFILL_USAGE}` : '';
    console.error(`walhook backfill: ${error.message}${usage}`);
    return error.exitStatus;
  };
  try {
    const { values, positionals } = parseCommandArgs(argv, OPTIONS, true);
    if (values.help) {
      console.log(BACKFILL_USAGE);
      return 0;
    }
    const action = positionals[0] ?? 'start';
    if (!['start', 'list', 'status', 'pause', 'resume', 'cancel'].includes(action)) throw new UsageError(`unknown command "backfill ${action}"`);
    if (action === 'start' && values.object === undefined) throw new UsageError('--object is required to start a backfill');
    return await withManagement(values.config, (management) => backfillCommand(management.backfills, action, values));
  } catch (error) {
    const known = asOperatorError(error);
    if (!known) throw error;
    return fail(known);
  }
}
