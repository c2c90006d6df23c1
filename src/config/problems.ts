/**
 * Turns what went wrong (a zod issue, a `${VAR}` that is not set, an
 * environment value that is not YAML) into a ConfigProblem: the key path, the
 * value with secrets masked, what was expected, and the environment variable
 * behind the value.
 */
import type { z } from 'zod';
import { showValue, type ConfigProblem } from './errors.js';
import { withQuoteHint } from './fields.js';
import type { InterpolationFailure } from './interpolate.js';
import { ENV_BINDINGS, envVarFor, formatPath, isSecret, keysOfObjectAt, schemaAt, type EnvBinding } from './keys.js';
import { REDACTED, redactValue } from './redact.js';
import { isUnder, valueAt } from './tree.js';

/** Which environment variables supplied values, so a problem under one of them can name it. */
export type EnvSources = readonly EnvBinding[];

/** A problem with the value at `path`; `shown` replaces the value when it must not be printed as it is. */
export function problemAt(
  path: readonly PropertyKey[],
  tree: unknown,
  expected: string,
  envSources: EnvSources,
  shown?: unknown,
): ConfigProblem {
  const value = valueAt(tree, path);
  const envVar = envSources.find((source) => isUnder(path, source.path))?.envVar;
  const settable = ENV_BINDINGS.some((binding) => binding.path.length === path.length && isUnder(path, binding.path));
  const missingHint = value === undefined && settable && envVar === undefined;
  const hint = missingHint ? ` (set it in the file or with ${envVarFor(path.join('.'))})` : '';
  return {
    path: formatPath(path),
    got: showValue(shown ?? redactValue(value, schemaAt(path))),
    expected: expected + hint,
    ...(envVar === undefined ? {} : { envVar }),
  };
}

const TYPE_NAMES: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  array: 'a list',
  object: 'a mapping of keys to values',
  record: 'a mapping of keys to values',
};

function plural(count: number | bigint, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

function bound(origin: string, limit: number | bigint): string {
  if (origin === 'string') return plural(limit, 'character');
  if (origin === 'array') return plural(limit, 'item');
  return String(limit);
}

/**
 * The "expected …" sentence for issues whose schema did not bring its own.
 * Passed to zod as the parse's error map, so every issue's message is that sentence.
 */
export function expectedFor(issue: z.core.$ZodRawIssue): string {
  switch (issue.code) {
    case 'invalid_type': {
      const name = TYPE_NAMES[issue.expected] ?? `a ${issue.expected}`;
      return issue.expected === 'string' ? withQuoteHint(name, issue.input) : name;
    }
    case 'invalid_value':
      return `one of ${issue.values.map((value) => String(value)).join(', ')}`;
    case 'too_small':
      return `${issue.inclusive === false ? 'more than' : 'at least'} ${bound(issue.origin, issue.minimum)}`;
    case 'too_big':
      return `${issue.inclusive === false ? 'less than' : 'at most'} ${bound(issue.origin, issue.maximum)}`;
    case 'invalid_format':
      return issue.format === 'regex' ? `text matching ${issue.pattern}` : `a valid ${issue.format}`;
    case 'invalid_key':
      return issue.issues[0]?.message ?? 'a valid key';
    default:
      return issue.message ?? 'a valid value';
  }
}

const SECRET_LOOKING_NAME = /secret|token|password|passw|key/i;

function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

/** The name a typo most likely meant: same letters ignoring case and `_`/`-`, or a few edits away. */
export function closestName(typo: string, keys: readonly string[]): string | undefined {
  const normalise = (key: string) => key.toLowerCase().replace(/[_-]/g, '');
  const scored = keys.map((key) => ({ key, score: distance(normalise(typo), normalise(key)) }));
  const best = scored.sort((a, b) => a.score - b.score)[0];
  return best !== undefined && best.score <= Math.max(2, Math.floor(typo.length / 3)) ? best.key : undefined;
}

function unknownKeyProblem(path: readonly PropertyKey[], tree: unknown, envSources: EnvSources): ConfigProblem {
  const parent = path.slice(0, -1);
  const name = String(path.at(-1));
  const allowed = keysOfObjectAt(parent);
  const suggestion = closestName(name, allowed);
  const expected =
    suggestion === undefined
      ? `a known key: one of ${allowed.join(', ')}`
      : `a known key: did you mean ${formatPath([...parent, suggestion])}?`;
  // Shown as the key it was meant for would show it (a URL keeps all but its password).
  const meant = suggestion === undefined ? undefined : schemaAt([...parent, suggestion]);
  const value = valueAt(tree, path);
  const shown = meant !== undefined && isSecret(meant) ? redactValue(value, meant) : SECRET_LOOKING_NAME.test(name) ? REDACTED : undefined;
  return problemAt(path, tree, expected, envSources, shown);
}

export function problemsFromIssue(issue: z.core.$ZodIssue, tree: unknown, envSources: EnvSources): ConfigProblem[] {
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => unknownKeyProblem([...issue.path, key], tree, envSources));
  }
  return [problemAt(issue.path, tree, issue.message, envSources)];
}

export function problemFromInterpolation({ path, failure }: InterpolationFailure, tree: unknown): ConfigProblem {
  const expected =
    'unsetVariable' in failure
      ? `environment variable ${failure.unsetVariable} to be set, or a default: \${${failure.unsetVariable}:-value}`
      : '${NAME} or ${NAME:-default} (write $${ for a literal ${)';
  return problemAt(path, tree, expected, []);
}
