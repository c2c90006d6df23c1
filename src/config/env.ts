/**
 * Environment variables over the file: `WALHOOK_<PATH>` (see `envVarFor`)
 * replaces the key's value. Scalars are taken as text (each field reads
 * numbers, booleans and durations from text itself, and a secret or URL is
 * never reinterpreted); lists and maps are YAML flow (`[1m, 5m]`, `{"a": "b"}`).
 * An empty variable is an empty value, as `key:` is in the file.
 */
import { parse as parseYaml } from 'yaml';
import { yamlErrorReason, type ConfigProblem } from './errors.js';
import { ENV_BINDINGS, listConfigKeys, type EnvBinding } from './keys.js';
import { closestName, problemAt } from './problems.js';
import { REDACTED } from './redact.js';
import { setAt } from './tree.js';

function holdsSecrets(binding: EnvBinding): boolean {
  const path = binding.path.join('.');
  return listConfigKeys().some((key) => key.secret && (key.path === path || key.path.startsWith(`${path}[]`)));
}

/**
 * Writes every set `WALHOOK_*` variable into `tree` (in place; a section the
 * file got wrong is replaced) and returns the bindings it used. A list or map
 * value that is not YAML is reported in `problems`.
 */
export function applyEnvOverrides(
  tree: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
  problems: ConfigProblem[],
): EnvBinding[] {
  const applied = ENV_BINDINGS.filter((binding) => env[binding.envVar] !== undefined);
  for (const binding of applied) {
    const text = env[binding.envVar] ?? '';
    if (!binding.structured || text === '') {
      setAt(tree, binding.path, text === '' ? null : text);
      continue;
    }
    try {
      setAt(tree, binding.path, parseYaml(text));
    } catch (error) {
      setAt(tree, binding.path, text);
      const expected = `YAML such as [1m, 5m] or {"key": "value"} (${yamlErrorReason(error)})`;
      problems.push(problemAt(binding.path, tree, expected, [binding], holdsSecrets(binding) ? REDACTED : undefined));
    }
  }
  return applied;
}

/** WALHOOK_* variables that are not configuration keys: the demo's WALHOOK_PG_BIN, the tests' and the bench's. */
const OTHER_VARIABLES: ReadonlySet<string> = new Set(['WALHOOK_PG_BIN', 'WALHOOK_REQUIRE', 'WALHOOK_BENCH_CPU_PROF']);

export interface UnknownEnvVariable {
  name: string;
  /** The configuration variable it most likely meant. */
  didYouMean: string | undefined;
}

/** Set WALHOOK_* variables that set nothing: most likely misspelt, and otherwise ignored without a word. */
export function unknownEnvVariables(env: NodeJS.ProcessEnv): UnknownEnvVariable[] {
  const known = ENV_BINDINGS.map((binding) => binding.envVar);
  return Object.keys(env)
    .filter((name) => name.startsWith('WALHOOK_') && !known.includes(name) && !OTHER_VARIABLES.has(name))
    .sort()
    .map((name) => ({ name, didYouMean: closestName(name, known) }));
}
