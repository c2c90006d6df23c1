/**
 * Failures an operator can fix — a wrong configuration, a server not set up
 * for logical decoding, a refused management request, a mistyped command
 * line. Each carries a code to search for, what to do, and the exit status of
 * the command it ends; the CLI prints them as one message, never a stack
 * trace. Any other error is a bug and keeps its stack.
 */

/** Exit statuses, as sysexits(3) names them where it has a name. */
export const EXIT_STATUS = {
  failure: 1,
  usage: 2,
  config: 78, // EX_CONFIG
} as const;

export abstract class OperatorError extends Error {
  /** Stable and searchable: `CONFIG_INVALID`, `SOURCE_SETUP`, `BAD_USER_INPUT`… */
  abstract readonly code: string;
  readonly exitStatus: number = EXIT_STATUS.failure;

  constructor(
    message: string,
    /** What to change so it works; shown after the message. */
    readonly fix: string | null = null,
  ) {
    super(fix === null ? message : `${message}\n  To fix: ${fix}`);
  }
}

/** A command line that cannot be run: printed with the command's usage. */
export class UsageError extends OperatorError {
  override readonly name = 'UsageError';
  readonly code = 'USAGE';
  override readonly exitStatus = EXIT_STATUS.usage;
}
