/**
 * Errors of management operations, shared by the GraphQL API (which puts the
 * code in `extensions.code`) and the CLI (which prints the message).
 */
import { OperatorError } from '../operator-error.js';

export type ManagementErrorCode = 'BAD_USER_INPUT' | 'NOT_FOUND' | 'FAILED_PRECONDITION';

export class ManagementError extends OperatorError {
  override readonly name = 'ManagementError';

  constructor(
    readonly code: ManagementErrorCode,
    message: string,
    /** The input field at fault, for BAD_USER_INPUT. */
    readonly field: string | null = null,
  ) {
    super(message);
  }
}

export function badUserInput(field: string, reason: string): ManagementError {
  return new ManagementError('BAD_USER_INPUT', `${field}: ${reason}`, field);
}

export function notFound(kind: 'webhook' | 'delivery', id: string): ManagementError {
  return new ManagementError('NOT_FOUND', `no ${kind} with id ${JSON.stringify(id)}`);
}
