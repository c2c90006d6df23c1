/**
 * The grammar of webhook operations (`person.created`, `person.*`,
 * `*.updated`, `*.*`): the one parser the config file, the API and matching
 * (`events/matching.ts`) use, so all three accept exactly the same operations.
 */

/** What happened to a row, as the second half of an event name: Twenty's action names. */
/** `backfilled`: a row that already existed, sent by a backfill (src/backfill), not by a change. */
export const ACTIONS = ['created', 'updated', 'deleted', 'restored', 'destroyed', 'backfilled'] as const;
export type Action = (typeof ACTIONS)[number];

export const WILDCARD = '*';

export interface OperationPattern {
  object: string | typeof WILDCARD;
  action: Action | typeof WILDCARD;
}

const OPERATION_SYNTAX =
  `"object.action" where object is an identifier such as person or opportunity (or *) and action is one of ` +
  `${ACTIONS.join(', ')} (or *)`;

export class InvalidOperationError extends Error {
  override readonly name = 'InvalidOperationError';

  constructor(
    readonly operation: string,
    readonly reason: string,
  ) {
    super(`invalid operation ${JSON.stringify(operation)}: ${reason}; expected ${OPERATION_SYNTAX}`);
  }

  /** What would do, and why this was not it: what the config file puts after "expected". */
  get expected(): string {
    return `an operation ${OPERATION_SYNTAX} (${this.reason})`;
  }
}

/** Twenty's object names: camelCase singular (`person`, `workspaceMember`, custom `pet`). */
const OBJECT_NAME = /^[a-z][A-Za-z0-9_]*$/;

function isAction(text: string): text is Action {
  return (ACTIONS as readonly string[]).includes(text);
}

export function parseOperationPattern(text: string): OperationPattern {
  const parts = text.split('.');
  if (parts.length !== 2) throw new InvalidOperationError(text, 'it must have exactly one "."');
  const [object = '', action = ''] = parts;
  if (object !== WILDCARD && !OBJECT_NAME.test(object)) {
    throw new InvalidOperationError(text, `object ${JSON.stringify(object)} is not a lowercase identifier`);
  }
  if (action !== WILDCARD && !isAction(action)) {
    throw new InvalidOperationError(text, `action ${JSON.stringify(action)} is unknown`);
  }
  return { object, action };
}

/** A webhook's operations: at least one, each valid. */
export function validateOperations(operations: readonly string[]): OperationPattern[] {
  if (operations.length === 0) throw new InvalidOperationError('', 'the list of operations is empty');
  return operations.map(parseOperationPattern);
}

