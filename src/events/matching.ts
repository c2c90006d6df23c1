/**
 * Webhook operations matched the way Twenty matches them. Matching runs for
 * every event and every webhook, so a webhook's list is compiled once into
 * set lookups.
 */
import { InvalidOperationError, parseOperationPattern, WILDCARD, type Action, type OperationPattern } from '../common/operations.js';

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
