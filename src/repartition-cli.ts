/**
 * `walhook repartition --partitions N`: the command line of the migration in
 * src/repartition.ts. Logs go to stderr, the result to stdout.
 */
import { asOperatorError, parseCommandArgs, warnUnknownEnvVariables } from './command-line.js';
import { createLogger } from './common/log.js';
import { UsageError } from './common/operator-error.js';
import { MAX_PARTITIONS } from './common/partitions.js';
import { loadConfig } from './config/index.js';
import { parseDuration } from './config/units.js';
import { repartition, type RepartitionResult } from './repartition.js';

const DEFAULT_TIMEOUT = '10m';

export const REPARTITION_USAGE = `Changing source.partitions (walhook repartition --help):
  repartition --partitions N [--timeout DURATION]
                       with every walhook replica stopped and the CRM still writing: creates the N
                       partitions' slots and publications, streams and delivers the current layout
                       (source.partitions) until it reaches where the new slots start, then drops the
                       old slots and publications. Nothing is lost; changes written while it runs may
                       be delivered twice, with the same ids. Then set source.partitions: N and start
                       the replicas.

  -c, --config FILE   the configuration, source.partitions still the layout in use
  --partitions N      the new number of partitions (1-${MAX_PARTITIONS})
  --timeout DURATION  how long draining the current layout may take (default ${DEFAULT_TIMEOUT})
  --json              JSON instead of text
`;

const OPTIONS = {
  config: { type: 'string', short: 'c' },
  help: { type: 'boolean', short: 'h' },
  json: { type: 'boolean' },
  partitions: { type: 'string' },
  timeout: { type: 'string' },
} as const;

function describe(result: RepartitionResult, file: string | undefined): string {
  return [
    `created ${result.created.map((slot) => `${slot.slot} (at ${slot.createdAt})`).join(', ')}`,
    `drained the ${result.from} old partition(s) up to ${result.stopLsn}; changes committed since the first new slot's creation may arrive twice, with the same ids`,
    `dropped ${result.dropped.join(', ') || 'nothing'}`,
    `next: set source.partitions: ${result.to}${file ? ` in ${file}` : ''} (or WALHOOK_SOURCE_PARTITIONS=${result.to}) and start the replicas; until then the new slots retain WAL`,
  ].join('\n');
}

function partitionsOption(text: string | undefined): number {
  if (text === undefined) throw new UsageError('--partitions N is required');
  const partitions = Number(text);
  if (!/^\d+$/.test(text) || partitions < 1 || partitions > MAX_PARTITIONS) throw new UsageError(`--partitions: a whole number from 1 to ${MAX_PARTITIONS}, not ${JSON.stringify(text)}`);
  return partitions;
}

function timeoutOption(text: string): number {
  try {
    return parseDuration(text);
  } catch (error) {
    throw new UsageError(`--timeout: ${(error as Error).message}`);
  }
}

/** `argv` starts after `repartition`; resolves with the exit code. */
export async function runRepartitionCli(argv: string[]): Promise<number> {
  try {
    const { values } = parseCommandArgs(argv, OPTIONS);
    if (values.help) {
      console.log(REPARTITION_USAGE);
      return 0;
    }
    const partitions = partitionsOption(values.partitions);
    const drainTimeoutMs = timeoutOption(values.timeout ?? DEFAULT_TIMEOUT);
    const config = loadConfig({ file: values.config });
    warnUnknownEnvVariables(process.env, (_fields, message) => console.error(`walhook: warning: ${message}`));
    const logger = createLogger(config.log.level, process.stderr).child({ component: 'repartition' });
    // Ctrl-C or SIGTERM stops the drain; the new layout is then dropped again.
    const interrupted = new Promise<void>((resolve) => {
      for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(signal, () => resolve());
    });
    const result = await repartition({ config, partitions, logger, drainTimeoutMs, interrupted });
    console.log(values.json ? JSON.stringify(result, null, 2) : describe(result, values.config));
    return 0;
  } catch (error) {
    const known = asOperatorError(error);
    if (!known) throw error;
    console.error(`walhook repartition: ${known.message}${known instanceof UsageError ? `\n\n${REPARTITION_USAGE}` : ''}`);
    return known.exitStatus;
  }
}
