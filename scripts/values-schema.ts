/**
 * Writes the `config` part of helm/walhook/values.schema.json from the
 * configuration schema (zod's JSON Schema of its input), so that `helm
 * install` refuses a mistyped key or a wrong value under `config:` instead of
 * a pod failing at start; with --check, fails (exit 1) when the file is not
 * current. Values that walhook reads from text (durations, sizes, numbers)
 * are left to walhook, which names the key when they are wrong; so are the
 * length and pattern of strings, which may be `${VAR}` references that only
 * walhook resolves.
 *
 *   npx tsx scripts/values-schema.ts [--check]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { configSchema } from '../src/config/schema.js';

const schemaFile = fileURLToPath(new URL('../helm/walhook/values.schema.json', import.meta.url));

const CONFIG_DESCRIPTION =
  "walhook's configuration (docs/configuration.md), rendered into the ConfigMap; checked by helm against this schema, generated from walhook's (npm run docs:config).";

interface JsonSchemaNode {
  description?: string;
  properties?: Record<string, JsonSchemaNode>;
}

/** Sections (`source`, `delivery.…`) carry no text of their own in the config schema: they point to the reference. */
function describeSections(node: JsonSchemaNode, path: string): void {
  for (const [key, child] of Object.entries(node.properties ?? {})) {
    const childPath = path ? `${path}.${key}` : key;
    child.description ??= `The ${childPath} keys: see docs/configuration.md.`;
    describeSections(child, childPath);
  }
}

const STRING_CONTENT_RULES = ['minLength', 'maxLength', 'pattern', 'format'];

/** Drops what a string's content must be: helm sees `${HOOK_SECRET}`, walhook checks the value it stands for. */
function acceptReferences(node: unknown): void {
  if (Array.isArray(node)) return node.forEach(acceptReferences);
  if (node === null || typeof node !== 'object') return;
  const schema = node as Record<string, unknown>;
  if (schema.type === 'string') for (const rule of STRING_CONTENT_RULES) delete schema[rule];
  Object.values(schema).forEach(acceptReferences);
}

function configValuesSchema(): Record<string, unknown> {
  const { $schema: _, ...schema } = z.toJSONSchema(configSchema, { target: 'draft-7', io: 'input', unrepresentable: 'any' });
  acceptReferences(schema);
  describeSections(schema as JsonSchemaNode, '');
  return { ...schema, description: CONFIG_DESCRIPTION };
}

export function renderValuesSchema(current: string): string {
  const values = JSON.parse(current) as { properties: Record<string, unknown> };
  values.properties.config = configValuesSchema();
  return `${JSON.stringify(values, null, 2)}\n`;
}

const current = readFileSync(schemaFile, 'utf8');
const rendered = renderValuesSchema(current);
if (process.argv.includes('--check')) {
  if (current !== rendered) {
    console.error('helm/walhook/values.schema.json is not what the config schema renders: run `npm run docs:config`');
    process.exit(1);
  }
} else {
  writeFileSync(schemaFile, rendered);
}
