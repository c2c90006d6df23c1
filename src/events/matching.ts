/**
 * Webhook operations (`person.created`, `person.*`, `*.updated`, `*.*`),
 * matched the way Twenty matches them. Matching runs for every event and
 * every webhook, so a webhook's list is compiled once into set lookups.
 */
import { ACTIONS, type Action } from './types.js';

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

export interface OperationMatcher {
  /** `*.*` */
  readonly everything: boolean;
  /** Objects with `object.*` */
  readonly anyActionOf: ReadonlySet<string>;
  /** Actions with `*.action` */
  readonly anyObjectWith: ReadonlySet<string>;
  /** `object.action` */
  readonly exact: ReadonlySet<string>;
}

export function compileOperations(patterns: readonly OperationPattern[]): OperationMatcher {
  const anyActionOf = new Set<string>();
  const anyObjectWith = new Set<string>();
  const exact = new Set<string>();
  let everything = false;
  for (const { object, action } of patterns) {
    if (object === WILDCARD && action === WILDCARD) everything = true;
    else if (action === WILDCARD) anyActionOf.add(object);
    else if (object === WILDCARD) anyObjectWith.add(action);
    else exact.add(`${object}.${action}`);
  }
  return { everything, anyActionOf, anyObjectWith, exact };
}

/**
 * A webhook's operations as Twenty stores them (`core.webhook.operations`),
 * taken as they are: strings that name no row event (`person.upserted`,
 * `metadata.…`) match nothing and are not an error.
 */
export function compileTwentyOperations(operations: readonly string[]): OperationMatcher {
  const patterns: OperationPattern[] = [];
  for (const operation of operations) {
    try {
      patterns.push(parseOperationPattern(operation));
    } catch (error) {
      if (!(error instanceof InvalidOperationError)) throw error;
    }
  }
  return compileOperations(patterns);
}

export function matchesOperation(matcher: OperationMatcher, object: string, action: Action): boolean {
  return (
    matcher.everything ||
    matcher.anyActionOf.has(object) ||
    matcher.anyObjectWith.has(action) ||
    matcher.exact.has(`${object}.${action}`)
  );
}
