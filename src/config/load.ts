/**
 * From file and environment to a validated WalhookConfig, in this order:
 * parse the YAML, put environment overrides over it, interpolate `${VAR}` in
 * what is left of the file, read empty values as "use the default", validate.
 * Every problem found on the way is reported together in one ConfigError.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { parse as parseYaml } from 'yaml';
import { applyEnvOverrides } from './env.js';
import { ConfigError, showValue, yamlErrorReason, type ConfigProblem } from './errors.js';
import { interpolateTree, type InterpolationFailure } from './interpolate.js';
import { childSchema } from './keys.js';
import { expectedFor, problemFromInterpolation, problemsFromIssue } from './problems.js';
import { configSchema, type WalhookConfig } from './schema.js';
import { isPlainObject, isUnder } from './tree.js';

export interface LoadConfigOptions {
  /** YAML file; without one, defaults and environment variables alone. */
  file?: string;
  /** Defaults to process.env. */
  env?: NodeJS.ProcessEnv;
}

export function loadConfig({ file, env = process.env }: LoadConfigOptions = {}): WalhookConfig {
  return resolveConfig(file === undefined ? {} : readConfigFile(file), env, file);
}

/** The file's YAML as plain data; a file that cannot be read or parsed is a ConfigError naming it. */
export function readConfigFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError([{ path: file, got: 'nothing', expected: `a readable file (${(error as Error).message})` }]);
  }
  try {
    return parseYaml(text);
  } catch (error) {
    throw new ConfigError([{ path: file, got: 'text that is not YAML', expected: `valid YAML (${yamlErrorReason(error)})` }]);
  }
}

/**
 * `api:` with every key commented out is YAML null: an empty value means the
 * default, except for keys where null means something (softDeleteColumn).
 */
function dropEmptyValues(value: unknown, schema: z.core.$ZodType | undefined): void {
  if (Array.isArray(value)) value.forEach((item, index) => dropEmptyValues(item, childSchema(schema, index)));
  if (!isPlainObject(value)) return;
  for (const [key, item] of Object.entries(value)) {
    const itemSchema = childSchema(schema, key);
    if (item === null && itemSchema !== undefined && !z.safeParse(itemSchema, null).success) delete value[key];
    else dropEmptyValues(item, itemSchema);
  }
}

/** A problem under a path already reported is a consequence of it (a `${VAR}` left in a URL is not a URL). */
function isUnderReported(problem: ConfigProblem, reported: readonly ConfigProblem[]): boolean {
  return reported.some(({ path }) => [path, `${path}.`, `${path}[`].some((prefix) => problem.path.startsWith(prefix)));
}

/** Pure core of loadConfig: `document` is the parsed file (or `{}`). */
export function resolveConfig(document: unknown, env: NodeJS.ProcessEnv, source = 'config'): WalhookConfig {
  if (document !== null && document !== undefined && !isPlainObject(document)) {
    throw new ConfigError([{ path: source, got: showValue(document), expected: 'a mapping of keys to values at the top level' }]);
  }
  const problems: ConfigProblem[] = [];
  const overridden = structuredClone(document ?? {});
  const envSources = applyEnvOverrides(overridden, env, problems);

  const interpolationFailures: InterpolationFailure[] = [];
  const fromEnv = (path: PropertyKey[]) =>
    envSources.some((source) => source.path.length === path.length && isUnder(path, source.path));
  const tree = interpolateTree(overridden, env, fromEnv, interpolationFailures);
  problems.push(...interpolationFailures.map((failure) => problemFromInterpolation(failure, tree)));
  dropEmptyValues(tree, configSchema);

  const result = configSchema.safeParse(tree, { error: expectedFor });
  const validationProblems = (result.error?.issues ?? []).flatMap((issue) => problemsFromIssue(issue, tree, envSources));
  problems.push(...validationProblems.filter((problem) => !isUnderReported(problem, problems)));
  if (problems.length > 0 || !result.success) throw new ConfigError(problems);
  return result.data;
}
