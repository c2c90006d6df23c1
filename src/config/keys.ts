/**
 * The keys of the configuration, read off the schema: their paths, the
 * environment variable of each, how to show their type and default. Walking
 * the schema (rather than keeping a list) is what keeps the env names and the
 * reference from drifting away from it.
 */
import { z } from 'zod';
import { fieldInfo } from './fields.js';
import { configSchema } from './schema.js';

type Schema = z.core.$ZodType;

const ENV_PREFIX = 'WALHOOK';

export interface ConfigKey {
  /** Dotted path; keys of list items read `webhooks[].secret`. */
  path: string;
  /** Variable that overrides the key; null inside lists, which are overridden whole. */
  envVar: string | null;
  /** Type as the reference shows it: `duration`, `list of string`, `pgoutput | wal2json`… */
  type: string;
  required: boolean;
  /** Default as written in the file (`'10s'`, not 10000); undefined when there is none. */
  default: unknown;
  description: string;
  secret: boolean;
}

/** Where environment values go, and whether a value is YAML (lists, maps) or text. */
export interface EnvBinding {
  envVar: string;
  path: string[];
  structured: boolean;
}

interface UnwrappedKey {
  /** The schema under defaults and optionality: what a value must be. */
  inner: Schema;
  hasDefault: boolean;
  default: unknown;
  optional: boolean;
}

function defOf(schema: Schema) {
  return (schema as z.core.$ZodTypes)._zod.def;
}

/** Looks through `.prefault()`, `.default()` and `.optional()` to the schema a key's value must match. */
export function unwrapKey(schema: Schema): UnwrappedKey {
  const key: UnwrappedKey = { inner: schema, hasDefault: false, default: undefined, optional: false };
  for (;;) {
    const def = defOf(key.inner);
    if (def.type === 'default' || def.type === 'prefault') {
      if (!key.hasDefault) key.default = def.defaultValue;
      key.hasDefault = true;
      key.inner = def.innerType;
    } else if (def.type === 'optional') {
      key.optional = true;
      key.inner = def.innerType;
    } else {
      return key;
    }
  }
}

/** The schema of the value at `segment` below a value of `schema`; undefined where the schema has no such place. */
export function childSchema(schema: Schema | undefined, segment: PropertyKey): Schema | undefined {
  if (schema === undefined) return undefined;
  const def = defOf(unwrapKey(schema).inner);
  if (def.type === 'object' && typeof segment === 'string' && Object.hasOwn(def.shape, segment)) return def.shape[segment];
  if (def.type === 'array' && typeof segment === 'number') return def.element;
  if (def.type === 'record' && typeof segment === 'string') return def.valueType;
  return undefined;
}

export function schemaAt(path: readonly PropertyKey[]): Schema | undefined {
  return path.reduce<Schema | undefined>(childSchema, configSchema);
}

/** The keys an object schema allows, for "did you mean" on a typo. */
export function keysOfObjectAt(path: readonly PropertyKey[]): string[] {
  const schema = schemaAt(path);
  const def = schema && defOf(unwrapKey(schema).inner);
  return def?.type === 'object' ? Object.keys(def.shape) : [];
}

export function isSecret(schema: Schema | undefined): boolean {
  return schema !== undefined && fieldInfo.get(unwrapKey(schema).inner)?.mask !== undefined;
}

/** `webhooks[0].targetUrl`, `events.objectNames["workspace_1.person"]` */
export function formatPath(path: readonly PropertyKey[]): string {
  return path
    .map((segment, index) => {
      if (typeof segment === 'number') return `[${segment}]`;
      const name = String(segment);
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) return `[${JSON.stringify(name)}]`;
      return index === 0 ? name : `.${name}`;
    })
    .join('');
}

/** `delivery.retrySchedule` → `WALHOOK_DELIVERY_RETRY_SCHEDULE`: each segment's camelCase split into UPPER_SNAKE. */
export function envVarFor(path: string): string {
  const segments = path.split('.').map((segment) => segment.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase());
  return [ENV_PREFIX, ...segments].join('_');
}

function typeOf(schema: Schema): string {
  const label = fieldInfo.get(schema)?.type;
  if (label !== undefined) return label;
  const def = defOf(schema);
  switch (def.type) {
    case 'enum':
      return Object.values(def.entries).join(' | ');
    case 'array':
      return `list of ${typeOf(unwrapKey(def.element).inner)}`;
    case 'record':
      return `map of ${typeOf(unwrapKey(def.valueType).inner)}`;
    case 'nullable':
      return `${typeOf(def.innerType)} or null`;
    case 'pipe':
      return typeOf(def.in);
    case 'string':
      return 'format' in def && typeof def.format === 'string' ? def.format : 'string';
    default:
      return def.type;
  }
}

function descriptionOf(schema: Schema, path: string): string {
  const description = z.globalRegistry.get(schema)?.description;
  if (description === undefined) throw new Error(`config key ${path} has no .describe() text`);
  return description;
}

interface KeyNode {
  path: string[];
  schema: Schema;
  inList: boolean;
}

function collectKeys(objectSchema: Schema, prefix: string[], inList: boolean, into: KeyNode[]): KeyNode[] {
  const def = defOf(objectSchema);
  if (def.type !== 'object') return into;
  for (const [name, child] of Object.entries(def.shape)) {
    const { inner } = unwrapKey(child);
    const innerDef = defOf(inner);
    if (innerDef.type === 'object') {
      collectKeys(inner, [...prefix, name], inList, into);
      continue;
    }
    into.push({ path: [...prefix, name], schema: child, inList });
    if (innerDef.type === 'array') collectKeys(unwrapKey(innerDef.element).inner, [...prefix, `${name}[]`], true, into);
  }
  return into;
}

const KEY_NODES = collectKeys(configSchema, [], false, []);

export function listConfigKeys(): ConfigKey[] {
  return KEY_NODES.map(({ path, schema, inList }) => {
    const dotted = path.join('.');
    const key = unwrapKey(schema);
    return {
      path: dotted,
      envVar: inList ? null : envVarFor(dotted),
      type: typeOf(key.inner),
      required: !key.hasDefault && !key.optional,
      default: key.default,
      description: descriptionOf(schema, dotted),
      secret: isSecret(schema),
    };
  });
}

function buildEnvBindings(): EnvBinding[] {
  const bindings = KEY_NODES.filter((node) => !node.inList).map(({ path, schema }) => {
    const kind = defOf(unwrapKey(schema).inner).type;
    return { envVar: envVarFor(path.join('.')), path, structured: kind === 'array' || kind === 'record' };
  });
  const names = new Set(bindings.map((binding) => binding.envVar));
  if (names.size !== bindings.length) throw new Error('two config keys map to the same environment variable');
  return bindings;
}

export const ENV_BINDINGS: readonly EnvBinding[] = buildEnvBindings();
