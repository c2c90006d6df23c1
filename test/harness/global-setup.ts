/**
 * Starts one throwaway PostgreSQL cluster (wal_level=logical, free port) for the
 * whole test run and removes it afterwards. Each test file makes its own
 * database on it (see `database.ts`), so files run in parallel without sharing
 * slots, publications or tables. A vitest project with WALHOOK_TEST_PG set in
 * its `env` (see vitest.config.ts) gets a cluster of that PostgreSQL major.
 */
import type { TestProject } from 'vitest/node';
import { startThrowawayPostgres } from '../../src/demo/throwaway-postgres.js';
import { reportSkippedCapabilities } from './capabilities.js';
import { embeddedBinDir, isEmbeddedVersion, TEST_PG_VERSION_ENV } from './pg-versions.js';

/** Called once per vitest project; returns that project's teardown. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const version = project.config.env?.[TEST_PG_VERSION_ENV];
  if (version !== undefined && !isEmbeddedVersion(version)) throw new Error(`${TEST_PG_VERSION_ENV}=${version}: no such embedded PostgreSQL`);
  const cluster = await startThrowawayPostgres(version ? { binDir: embeddedBinDir(version) } : {});
  project.provide('pgUrl', cluster.url);
  project.provide('pgBinDir', cluster.binDir ?? '');
  project.provide('pgDataDir', cluster.dataDir);
  return async () => {
    await cluster.stop();
    reportSkippedCapabilities();
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    pgUrl: string;
    pgBinDir: string;
    pgDataDir: string;
  }
}
