/**
 * `walhook recover`: after PostgreSQL invalidated the slot (or it was
 * dropped), recreates slot and publications and requests backfills of the
 * rows changed since the last settled change (src/backfill/recovery.ts). A
 * running walhook leader sends them; the gap's deletes are reported, not sent.
 */
import pg from 'pg';
import { recoverSlot, type RecoveryResult } from './backfill/recovery.js';
import { asOperatorError, parseCommandArgs, warnUnknownEnvVariables } from './command-line.js';
import { createLogger } from './common/log.js';
import { UsageError } from './common/operator-error.js';
import { loadConfig } from './config/index.js';
import { OUTPUT_SETTINGS } from './source/replication.js';
import { openStateDb } from './state/db.js';
import { migrate } from './state/migrations.js';

export const RECOVER_USAGE = `Recovery after a lost slot (walhook recover --help):
  recover [--since TIME] [--force]
                       drops the lost slot, recreates it and the publications, and requests backfills of
                       the rows whose recovery.timestampColumn is later than the last settled change minus
                       recovery.safetyMargin (tables without that column: in full). A running walhook
                       sends them as OBJECT.backfilled events. Deletes made meanwhile cannot be recovered.

  -c, --config FILE   the configuration
  --since TIME        start of the gap (ISO 8601) instead of the last settled change
  --force             recover a slot that is not lost (re-sends the window)
  --json              JSON instead of text
`;

const OPTIONS = {
  config: { type: 'string', short: 'c' },
  help: { type: 'boolean', short: 'h' },
  json: { type: 'boolean' },
  since: { type: 'string' },
  force: { type: 'boolean' },
} as const;

function describe(result: RecoveryResult): string {
  const lines = [
    `slot ${result.slot} was ${result.slotWas}; recreated with its publications`,
    `last settled change committed at ${result.lastSettled ?? 'unknown'}; backfilling rows changed since ${result.since}`,
    ...result.backfills.map((b) => `backfill ${b.id}: ${b.object} (${b.tables.join(', ')})${b.where ? ` where ${b.where}` : ', in full'}`),
    `${result.untimestampedTables.length} table(s) without a usable timestamp column, backfilled in full${result.untimestampedTables.length ? `: ${result.untimestampedTables.join(', ')}` : ''}`,
    `deletes: ${result.deletes}`,
    'a running walhook leader sends the backfills; follow them with walhook backfill list',
  ];
  return lines.join('\n');
}

/** `argv` starts after `recover`; resolves with the exit code. */
export async function runRecoverCli(argv: string[]): Promise<number> {
  try {
    const { values } = parseCommandArgs(argv, OPTIONS);
    if (values.help) {
      console.log(RECOVER_USAGE);
      return 0;
    }
    const since = values.since === undefined ? undefined : new Date(values.since);
    if (since !== undefined && Number.isNaN(since.getTime())) throw new UsageError(`--since: an ISO 8601 time such as 2026-01-31T12:00:00Z, not ${JSON.stringify(values.since)}`);
    const config = loadConfig({ file: values.config });
    if (config.source.partitions > 1) throw new UsageError('source.partitions is above 1: walhook recover handles one slot (source.slot) and is not available with partitions yet');
    warnUnknownEnvVariables(process.env, (_fields, message) => console.error(`walhook: warning: ${message}`));
    // Logs go to stderr: stdout carries the result.
    const logger = createLogger(config.log.level, process.stderr).child({ component: 'recover' });
    const state = openStateDb(config.state.databaseUrl ?? config.database.url, config.state.schema, 2);
    const crm = new pg.Client({ connectionString: config.database.url, options: OUTPUT_SETTINGS, application_name: 'walhook-recover' });
    try {
      await migrate(state);
      await crm.connect();
      const result = await recoverSlot({ config, crm, state, logger, since, force: values.force === true });
      console.log(values.json ? JSON.stringify(result, null, 2) : describe(result));
      return 0;
    } finally {
      await crm.end().catch(() => undefined);
      await state.pool.end();
    }
  } catch (error) {
    const known = asOperatorError(error);
    if (!known) throw error;
    console.error(`walhook recover: ${known.message}${known instanceof UsageError ? `\n\n${RECOVER_USAGE}` : ''}`);
    return known.exitStatus;
  }
}
