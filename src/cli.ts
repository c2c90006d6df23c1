#!/usr/bin/env node
/**
 * The `walhook` command. Each subcommand loads the configuration (file,
 * then WALHOOK_* environment overrides), reports config errors plainly, and
 * runs until SIGINT/SIGTERM.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { ADMIN_USAGE, isAdminCommand, runAdminCli } from './admin-cli.js';
import { ConfigError, loadConfig } from './config/index.js';
import type { WalhookConfig } from './config/schema.js';
import { Daemon } from './daemon.js';
import { DEMO_USAGE, runDemoCli } from './demo/index.js';
import { createLogger, type Logger } from './log.js';
import { SourceSetupError } from './source/setup.js';
import { openStateDb } from './state/db.js';
import { migrate } from './state/migrations.js';
import { startTail } from './tail.js';
import { StoredWebhooksError } from './webhook-sync.js';

const USAGE = `Usage: walhook <command> [--config FILE]

Commands:
  start     stream the slot and deliver webhooks (the daemon)
  tail      print every change as a JSON line, through a temporary slot of its own
  migrate   create or upgrade walhook's state schema, then exit
  demo      see walhook work on a throwaway PostgreSQL, with nothing but Node (below)

Options:
  -c, --config FILE   YAML configuration (every key can also be set as WALHOOK_<KEY>)
  -v, --version       print the version
  -h, --help          this text

${ADMIN_USAGE}
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

async function run(command: string, config: WalhookConfig): Promise<void> {
  // tail's stdout carries only event lines; its logs go to stderr.
  const logger = createLogger(config.log.level, command === 'tail' ? pino.destination(2) : undefined);
  switch (command) {
    case 'start': {
      const daemon = new Daemon(config, logger);
      onShutdown(logger, () => daemon.stop());
      await daemon.start();
      return;
    }
    case 'tail': {
      const session = await startTail(config, logger.child({ component: 'tail' }), (line) => process.stdout.write(`${line}\n`));
      onShutdown(logger, () => session.stop());
      return;
    }
    case 'migrate': {
      const state = openStateDb(config.state.databaseUrl ?? config.database.url, config.state.schema);
      const applied = await migrate(state);
      logger.info({ versions: applied }, applied.length ? 'state schema migrated' : 'state schema up to date');
      await state.pool.end();
      return;
    }
  }
}

async function main(argv: string[]): Promise<number> {
  if (isAdminCommand(argv[0])) return runAdminCli(argv);
  if (argv[0] === 'demo') return runDemoCli(argv.slice(1));
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      version: { type: 'boolean', short: 'v' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.version) {
    console.log(version());
    return 0;
  }
  const command = positionals[0];
  if (values.help || !command || !['start', 'tail', 'migrate'].includes(command)) {
    (command && !values.help ? console.error : console.log)(USAGE);
    return values.help ? 0 : 2;
  }
  let config: WalhookConfig;
  try {
    config = loadConfig({ file: values.config });
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      return 78; // EX_CONFIG
    }
    throw error;
  }
  try {
    await run(command, config);
  } catch (error) {
    if (error instanceof SourceSetupError || error instanceof StoredWebhooksError) {
      console.error(`walhook: ${error.message}`);
      return 1;
    }
    throw error;
  }
  return -1;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
