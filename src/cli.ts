#!/usr/bin/env node
/**
 * The `walhook` command. Each subcommand loads the configuration (file,
 * then WALHOOK_* environment overrides), reports config errors plainly, and
 * runs until SIGINT, SIGTERM or SIGHUP. Every failure an operator can fix
 * (an OperatorError, or a database that cannot be reached) is printed as one
 * message with its exit status; only a bug prints a stack trace.
 */
import { readFileSync } from 'node:fs';
import { pino } from 'pino';
import { ADMIN_GROUPS, adminUsage, isAdminCommand, runAdminCli } from './admin-cli.js';
import { BACKFILL_USAGE, runBackfillCli } from './backfill-cli.js';
import { RECOVER_USAGE, runRecoverCli } from './recover-cli.js';
import { REPARTITION_USAGE, runRepartitionCli } from './repartition-cli.js';
import { asOperatorError, didYouMean, parseCommandArgs, warnUnknownEnvVariables, type OptionSpecs } from './command-line.js';
import { loadConfig } from './config/index.js';
import type { WalhookConfig } from './config/schema.js';
import { Daemon } from './daemon.js';
import { DEMO_USAGE, runDemoCli } from './demo/index.js';
import { createAddressPolicy, targetUrlRefusal } from './delivery/ssrf.js';
import { createLogger, loggableUrl, type Logger } from './common/log.js';
import { EXIT_STATUS, UsageError } from './common/operator-error.js';
import { openStateDb } from './state/db.js';
import { migrate } from './state/migrations.js';
import { startTail } from './tail.js';

const CONFIG_OPTION = {
  config: { type: 'string', short: 'c' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies OptionSpecs;

const CONFIG_HELP = `  -c, --config FILE   YAML configuration (config/walhook.yaml is a commented example); every key
                      can also be set as WALHOOK_<KEY>, see docs/configuration.md
  -h, --help          this text`;

interface DaemonCommand {
  summary: string;
  options: OptionSpecs;
  help: string;
}

const COMMANDS = {
  start: {
    summary: 'stream the slot and deliver webhooks (the daemon)',
    options: CONFIG_OPTION,
    help: `Usage: walhook start [--config FILE]

Streams the replication slot and delivers the webhooks until SIGTERM, SIGINT or SIGHUP, which stop it
gracefully (requests in flight get delivery.shutdownTimeout). Serves the GraphQL API, the web console
(/), /metrics, /healthz and /readyz on api.listen.

Options:
${CONFIG_HELP}`,
  },
  tail: {
    summary: 'print every change as a JSON line, through a temporary slot of its own',
    options: { ...CONFIG_OPTION, resumable: { type: 'boolean' } },
    help: `Usage: walhook tail [--config FILE] [--resumable]

Prints every change as one JSON line on stdout (logs go to stderr) and sends no webhook: a safe look at a
live database. It streams through publications of its own and a TEMPORARY replication slot, which
PostgreSQL drops when the connection ends, however tail ends (Ctrl-C, a closed terminal, kill -9);
the production slot is never touched. Its publications are dropped on exit, or by the next tail if it
was killed. If the connection is lost, the changes committed until it is back are not shown.

Each line: id, operation, workspaceId, schema, table, record, previousRecord, updatedFields,
unavailableFields (only when some column could not be sent), commitLsn, commitTime.

It reads database.url, source.* (plugin, schemas, tables, excludeTables) and events.* from the
configuration; webhooks, delivery and api are not used.

Options:
${CONFIG_HELP}
      --resumable     a regular slot instead, so a lost connection skips nothing; dropped on exit,
                      but left behind (retaining WAL) until the next tail if this one is killed`,
  },
  migrate: {
    summary: "create or upgrade walhook's state schema, then exit",
    options: CONFIG_OPTION,
    help: `Usage: walhook migrate [--config FILE]

Creates or upgrades walhook's own tables (state.schema in state.databaseUrl, else database.url), then
exits. walhook start does this too; run it alone to migrate before a rollout.

Options:
${CONFIG_HELP}`,
  },
} as const satisfies Record<string, DaemonCommand>;

type DaemonCommandName = keyof typeof COMMANDS;

const ALL_COMMANDS = [...Object.keys(COMMANDS), ...ADMIN_GROUPS, 'backfill', 'recover', 'repartition', 'demo', 'help'];

const USAGE = `Usage: walhook <command> [options]     walhook <command> --help for a command's options

Commands:
${Object.entries(COMMANDS)
  .map(([name, { summary }]) => `  ${name.padEnd(10)}${summary}`)
  .join('\n')}
  webhooks  list, create, update, delete webhooks and rotate their secrets
  deliveries  list deliveries and redeliver them
  backfill  send existing rows as events, consistent with the live stream; list, pause, resume, cancel
  recover   after a lost slot: recreate it and backfill the rows changed in the gap
  repartition  change source.partitions with the replicas stopped, while the CRM writes, losing nothing
  demo      see walhook work on a throwaway PostgreSQL, with nothing but Node

Options:
  -v, --version       print the version
  -h, --help          this text

Exit status: 0 done, 1 failed, 2 wrong command line, 78 invalid configuration.

${adminUsage()}
${BACKFILL_USAGE}
${RECOVER_USAGE}
${REPARTITION_USAGE}
${DEMO_USAGE}`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function onShutdown(logger: Logger, stop: () => Promise<void>): void {
  let stopping = false;
  const handler = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  // SIGHUP: the terminal closed (or a supervisor's stop); the same graceful shutdown as the others.
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, () => handler(signal));
}

/**
 * A config-file webhook aimed at an address the SSRF guard refuses (a receiver on 127.0.0.1, a 10.x
 * service) would fail every delivery; said once at start, with the setting that lets it through.
 * Host names are resolved only when connecting, so only IP literals can be told here.
 */
function warnRefusedTargets(config: WalhookConfig, logger: Logger): void {
  const policy = createAddressPolicy({ enabled: config.delivery.ssrfGuard, allowList: config.delivery.allowList });
  for (const webhook of config.webhooks) {
    const refusal = targetUrlRefusal(policy, webhook.targetUrl);
    if (refusal) logger.warn({ targetUrl: loggableUrl(webhook.targetUrl) }, `webhook ${loggableUrl(webhook.targetUrl)} will not be called: ${refusal}`);
  }
}

async function run(command: DaemonCommandName, config: WalhookConfig, resumable: boolean): Promise<void> {
  // tail's stdout carries only event lines; its logs go to stderr.
  const logger = createLogger(config.log.level, command === 'tail' ? pino.destination(2) : undefined);
  warnUnknownEnvVariables(process.env, (fields, message) => logger.warn(fields, message));
  switch (command) {
    case 'start': {
      warnRefusedTargets(config, logger);
      const daemon = new Daemon(config, logger);
      onShutdown(logger, () => daemon.stop());
      await daemon.start();
      return;
    }
    case 'tail': {
      const log = logger.child({ component: 'tail' });
      const session = await startTail(config, log, (line) => process.stdout.write(`${line}\n`), { resumable });
      onShutdown(logger, () => session.stop());
      return;
    }
    case 'migrate': {
      const state = openStateDb(config.state.databaseUrl ?? config.database.url, config.state.schema);
      try {
        const applied = await migrate(state);
        logger.info({ versions: applied }, applied.length ? 'state schema migrated' : 'state schema up to date');
      } finally {
        await state.pool.end();
      }
      return;
    }
  }
}

function isDaemonCommand(name: string): name is DaemonCommandName {
  return Object.hasOwn(COMMANDS, name);
}

/** Resolves with the exit code, or -1 while a long-running command keeps the process alive. */
async function main(argv: string[]): Promise<number> {
  const [command = '', ...rest] = argv;
  if (command === 'help') return main([rest[0] ?? '--help', ...(rest[0] ? ['--help'] : [])]);
  if (isAdminCommand(command)) return runAdminCli(argv);
  if (command === 'backfill') return runBackfillCli(rest);
  if (command === 'recover') return runRecoverCli(rest);
  if (command === 'repartition') return runRepartitionCli(rest);
  if (command === 'demo') return runDemoCli(rest);
  if (command === '--version' || command === '-v') {
    console.log(version());
    return 0;
  }
  if (command === '--help' || command === '-h') {
    console.log(USAGE);
    return 0;
  }
  if (!isDaemonCommand(command)) {
    const mistake =
      command === '' ? 'a command is needed' : command.startsWith('-') ? `unknown option ${command}` : `unknown command ${JSON.stringify(command)}${didYouMean(command, ALL_COMMANDS)}`;
    console.error(`walhook: ${mistake}\n\n${USAGE}`);
    return EXIT_STATUS.usage;
  }
  const spec: DaemonCommand = COMMANDS[command];
  try {
    const { values } = parseCommandArgs(rest, spec.options);
    if (values.help) {
      console.log(spec.help);
      return 0;
    }
    const config = loadConfig({ file: values.config as string | undefined });
    await run(command, config, values.resumable === true);
    return -1;
  } catch (error) {
    const known = asOperatorError(error);
    if (!known) throw error;
    const usage = known instanceof UsageError ? `\n\n${spec.help}` : '';
    console.error(`walhook ${command}: ${known.message}${usage}`);
    return known.exitStatus;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (error: unknown) => {
    console.error(error);
    process.exit(EXIT_STATUS.failure);
  },
);
