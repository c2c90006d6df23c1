/**
 * Writes docs/configuration.md from the configuration schema; with --check,
 * fails (exit 1) when the file is not what the schema renders, so CI catches
 * a key changed without its reference.
 *
 *   npx tsx scripts/config-reference.ts [--check]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderConfigReference } from '../src/config/reference.js';

const referenceFile = fileURLToPath(new URL('../docs/configuration.md', import.meta.url));
const rendered = renderConfigReference();

if (process.argv.includes('--check')) {
  let current: string | undefined;
  try {
    current = readFileSync(referenceFile, 'utf8');
  } catch {
    current = undefined;
  }
  if (current !== rendered) {
    console.error('docs/configuration.md is stale: run npm run docs:config');
    process.exit(1);
  }
} else {
  writeFileSync(referenceFile, rendered);
  console.log('wrote docs/configuration.md');
}
