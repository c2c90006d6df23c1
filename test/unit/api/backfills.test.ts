import { describe, expect, it } from 'vitest';
import { managementFor } from '../../../src/api/index.js';
import { resolveConfig } from '../../../src/config/index.js';
import type { StateDb } from '../../../src/state/db.js';

const ONLY_DATABASE_URL = { WALHOOK_DATABASE_URL: 'postgres://walhook@127.0.0.1:5432/crm' };

/** A state database that fails the test if it is ever asked anything. */
const untouched = {
  schema: 'walhook',
  schemaName: 'walhook',
  pool: { query: () => Promise.reject(new Error('the state database was queried')) },
} as unknown as StateDb;

describe('backfills with source.partitions above 1', () => {
  it('are refused before anything is written, saying why', async () => {
    const management = managementFor(resolveConfig({ source: { partitions: 4 } }, ONLY_DATABASE_URL), untouched, null);
    await expect(management.backfills.start({ object: 'person' })).rejects.toMatchObject({
      code: 'FAILED_PRECONDITION',
      message: 'backfills are not available with source.partitions above 1 yet',
    });
  });

  it('are taken with one partition', async () => {
    const management = managementFor(resolveConfig({}, ONLY_DATABASE_URL), untouched, null);
    await expect(management.backfills.start({ object: 'person' })).rejects.toThrow('the state database was queried');
  });
});
