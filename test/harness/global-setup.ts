/**
 * Starts one throwaway PostgreSQL cluster (wal_level=logical, free port) for the
 * whole test run and removes it afterwards. Each test file makes its own
 * database on it (see `database.ts`), so files run in parallel without sharing
 * slots, publications or tables.
 */
import type { TestProject } from 'vitest/node';
import { startThrowawayPostgres, type ThrowawayPostgres } from '../../src/demo/throwaway-postgres.js';
import { reportSkippedCapabilities } from './capabilities.js';

let cluster: ThrowawayPostgres | undefined;

export async function setup(project: TestProject): Promise<void> {
  cluster = await startThrowawayPostgres();
  project.provide('pgUrl', cluster.url);
  project.provide('pgBinDir', cluster.binDir ?? '');
  project.provide('pgDataDir', cluster.dataDir);
}

export async function teardown(): Promise<void> {
  await cluster?.stop();
  reportSkippedCapabilities();
}

declare module 'vitest' {
  export interface ProvidedContext {
    pgUrl: string;
    pgBinDir: string;
    pgDataDir: string;
  }
}
