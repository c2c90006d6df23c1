/**
 * What every `walhook` command does the same way: parse its arguments (node's
 * util.parseArgs, with its errors turned into a UsageError that names the
 * mistake and the nearest valid spelling: `--conifg` → did you mean
 * --config?), warn about WALHOOK_* variables that set nothing, and tell an
 * operator's failure from a bug.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { closestName, unknownEnvVariables } from './config/index.js';
import { OperatorError, UsageError } from './common/operator-error.js';

export type OptionSpecs = NonNullable<ParseArgsConfig['options']>;

/** "did you mean X?" for `typo` among `names`, or an empty string. */
export function didYouMean(typo: string, names: readonly string[]): string {
  const nearest = closestName(typo, names);
  return nearest === undefined ? '' : `; did you mean ${nearest}?`;
}

type Parsed<T extends OptionSpecs> = ReturnType<typeof parseArgs<{ args: string[]; options: T; allowPositionals: boolean; strict: true }>>;

export function parseCommandArgs<T extends OptionSpecs>(args: string[], options: T, allowPositionals = false): Parsed<T> {
  try {
    return parseArgs({ args, options, allowPositionals, strict: true });
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    const quoted = /'([^']*)'/.exec(message)?.[1] ?? '';
    const flags = Object.entries(options).map(([name]) => `--${name}`);
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') throw new UsageError(`unknown option ${quoted}${didYouMean(quoted, flags)}`);
    if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') throw new UsageError(`unexpected argument ${JSON.stringify(quoted)}`);
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') throw new UsageError(message.split('. ')[0] ?? message);
    throw error;
  }
}

/** One warning per WALHOOK_* variable that sets nothing: a typo would otherwise be ignored without a word. */
export function warnUnknownEnvVariables(env: NodeJS.ProcessEnv, warn: (fields: object, message: string) => void): void {
  for (const { name, didYouMean: meant } of unknownEnvVariables(env)) {
    const hint = meant === undefined ? '' : `; did you mean ${meant}?`;
    warn({ variable: name, didYouMean: meant }, `${name} is not a walhook setting and is ignored${hint}`);
  }
}

/** Errors of the database connection that an operator fixes in the configuration or on the server. */
const CONNECTION_FAILURES: Record<string, string> = {
  ECONNREFUSED: 'nothing listens there: check the host and port in database.url, and that PostgreSQL runs',
  ENOTFOUND: 'the host name does not resolve: check the host in database.url',
  EAI_AGAIN: 'the host name could not be resolved now: check DNS and the host in database.url',
  ETIMEDOUT: 'no answer: check the host, the port and the network between walhook and PostgreSQL',
  EHOSTUNREACH: 'the host is unreachable: check the host in database.url and the network',
  '28P01': 'the password was refused: check the user and password in database.url',
  '28000': 'the server refused this user (pg_hba.conf or the role): check the user in database.url',
  '3D000': 'the database does not exist: check the database name in database.url',
};

class DatabaseConnectionError extends OperatorError {
  override readonly name = 'DatabaseConnectionError';
  readonly code = 'DATABASE_UNREACHABLE';
}

/** The operator-facing form of `error`, or null for a bug. */
export function asOperatorError(error: unknown): OperatorError | null {
  if (error instanceof OperatorError) return error;
  const errors = error instanceof AggregateError ? error.errors : [error];
  for (const cause of errors) {
    const code = (cause as { code?: unknown } | null)?.code;
    if (typeof code === 'string' && Object.hasOwn(CONNECTION_FAILURES, code)) {
      return new DatabaseConnectionError(`cannot connect to PostgreSQL: ${(cause as Error).message || code}`, CONNECTION_FAILURES[code] ?? null);
    }
  }
  return null;
}

