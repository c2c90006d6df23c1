/**
 * `${VAR}` and `${VAR:-default}` in the config file. Applied to string values
 * after the YAML is parsed, so a variable can never add keys or change the
 * file's structure; `$${` writes a literal `${`.
 */

export type Interpolated = { text: string } | { unsetVariable: string } | { malformed: true };

export interface InterpolationFailure {
  path: PropertyKey[];
  /** The string as written in the file. */
  written: string;
  failure: Exclude<Interpolated, { text: string }>;
}

const REFERENCE = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{/g;

/** Like the shell: `${VAR:-default}` takes the default when VAR is unset or empty. */
export function interpolateText(written: string, env: NodeJS.ProcessEnv): Interpolated {
  let failure: Interpolated | undefined;
  const text = written.replace(REFERENCE, (match, name: string | undefined, fallback: string | undefined) => {
    if (match === '$${') return '${';
    if (name === undefined) {
      failure ??= { malformed: true };
      return match;
    }
    const value = env[name];
    if (value !== undefined && (value !== '' || fallback === undefined)) return value;
    if (fallback !== undefined) return fallback;
    failure ??= { unsetVariable: name };
    return match;
  });
  return failure ?? { text };
}

/**
 * A copy of `value` with every string interpolated, except at paths `skip`
 * names (values that came from the environment are taken as they are).
 * Strings that fail are kept as written and reported in `failures`.
 */
export function interpolateTree(
  value: unknown,
  env: NodeJS.ProcessEnv,
  skip: (path: PropertyKey[]) => boolean,
  failures: InterpolationFailure[],
  path: PropertyKey[] = [],
): unknown {
  if (skip(path)) return value;
  if (typeof value === 'string') {
    const result = interpolateText(value, env);
    if ('text' in result) return result.text;
    failures.push({ path, written: value, failure: result });
    return value;
  }
  if (Array.isArray(value)) return value.map((item, index) => interpolateTree(item, env, skip, failures, [...path, index]));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, interpolateTree(item, env, skip, failures, [...path, key])]),
    );
  }
  return value;
}
