/** What a wrong configuration fails with: every problem at once, each naming the key, the value and what would do. */
import { EXIT_STATUS, OperatorError } from '../common/operator-error.js';

export interface ConfigProblem {
  /** `delivery.timeout`, `webhooks[0].secret`; the file's name for a problem with the file as a whole. */
  path: string;
  /** The value found, as JSON with secrets masked, or `nothing`. */
  got: string;
  expected: string;
  /** The environment variable the value came from. */
  envVar?: string;
}

export function formatProblem(problem: ConfigProblem): string {
  const origin = problem.envVar === undefined ? '' : ` (from ${problem.envVar})`;
  return `${problem.path}: got ${problem.got} — expected ${problem.expected}${origin}`;
}

export class ConfigError extends OperatorError {
  override readonly name: string = 'ConfigError';
  readonly code = 'CONFIG_INVALID';
  override readonly exitStatus = EXIT_STATUS.config;

  constructor(readonly problems: readonly ConfigProblem[]) {
    const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
    super(`invalid configuration (${count}):\n${problems.map(formatProblem).join('\n')}`);
  }
}

const LONGEST_SHOWN_VALUE = 200;

/** The `got` part of a problem: the value (already masked) as JSON, shortened when long. */
export function showValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  const json = JSON.stringify(value) ?? String(value);
  return json.length > LONGEST_SHOWN_VALUE ? `${json.slice(0, LONGEST_SHOWN_VALUE)}…` : json;
}

/** The first line of a YAML parser's message (the rest is a code excerpt), without its trailing colon. */
export function yamlErrorReason(error: unknown): string {
  return String((error as Error).message).split('\n')[0]?.replace(/:$/, '') ?? '';
}
