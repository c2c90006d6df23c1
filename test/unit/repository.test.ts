import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const REPO = resolve(import.meta.dirname, '../..');

function sourceFiles(directory: string): string[] {
  return readdirSync(directory, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sourceFiles(join(directory, entry.name)) : entry.name.endsWith('.ts') ? [join(directory, entry.name)] : [],
  );
}

describe('the sources', () => {
  it('cite only documents that are in the repository', () => {
    const cited = sourceFiles(join(REPO, 'src')).flatMap((file) =>
      [...readFileSync(file, 'utf8').matchAll(/(?<![\w/.-])((?:[\w-]+\/)*[\w-]+\.md)\b/g)].map((match) => match[1] ?? ''),
    );
    expect(cited.length).toBeGreaterThan(0);
    expect([...new Set(cited)].filter((document) => !existsSync(join(REPO, document)))).toEqual([]);
  });
});
