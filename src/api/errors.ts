/**
 * Errors of management operations, shared by the GraphQL API (which puts the
 * code in `extensions.code`) and the CLI (which prints the message).
 */
import { OperatorError } from '../common/operator-error.js';

export type ManagementErrorCode = 'BAD_USER_INPUT' | 'NOT_FOUND' | 'FAILED_PRECONDITION';

/** One input field at fault and why, as `extensions.fields` lists them. */
export interface FieldProblem {
  field: string;
  reason: string;
}

export class ManagementError extends OperatorError {
  override readonly name = 'ManagementError';

  constructor(
    readonly code: ManagementErrorCode,
    message: string,
    /** Every input field at fault, for BAD_USER_INPUT; in the order of the input. */
    readonly problems: readonly FieldProblem[] = [],
  ) {
    super(message);
  }

  /** The first field at fault, or null. */
  get field(): string | null {
    return this.problems[0]?.field ?? null;
  }
}

/** One error naming every field at fault, so that a form can show them all at once. */
export function invalidFields(problems: readonly FieldProblem[]): ManagementError {
  return new ManagementError('BAD_USER_INPUT', problems.map(({ field, reason }) => `${field}: ${reason}`).join('; '), problems);
}

export function badUserInput(field: string, reason: string): ManagementError {
  return invalidFields([{ field, reason }]);
}

/**
 * Runs every check, also after one fails, and returns their values when all
 * pass; otherwise throws one BAD_USER_INPUT with the problems of all of them.
 */
export function allValid<T extends object>(checks: { [K in keyof T]: () => T[K] }): T {
  const problems: FieldProblem[] = [];
  const values: Partial<T> = {};
  for (const key of Object.keys(checks) as (keyof T)[]) {
    try {
      values[key] = checks[key]();
    } catch (error) {
      if (!(error instanceof ManagementError) || error.problems.length === 0) throw error;
      problems.push(...error.problems);
    }
  }
  if (problems.length > 0) throw invalidFields(problems);
  return values as T;
}

export function notFound(kind: 'webhook' | 'delivery', id: string): ManagementError {
  return new ManagementError('NOT_FOUND', `no ${kind} with id ${JSON.stringify(id)}`);
}
