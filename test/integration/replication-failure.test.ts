/**
 * A change that cannot be handled must never be skipped: the connection ends
 * before the rest of its transaction (or its COMMIT) is processed, so the
 * transaction is not confirmed and comes back on the next connection.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/common/log.js';
import { startTail, type TailSession } from '../../src/tail.js';
import { createTestDatabase, type TestDatabase } from '../harness/database.js';
import { waitFor } from '../harness/receiver.js';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase('replfail');
  await db.sql('CREATE SCHEMA workspace_failure; CREATE TABLE workspace_failure.person (id int PRIMARY KEY, name text)');
});

afterAll(async () => {
  await db.drop();
});

describe('a message that throws while being handled', () => {
  it('ends the connection, and its whole transaction is streamed again', async () => {
    const config = loadConfig({
      env: { WALHOOK_DATABASE_URL: db.url, WALHOOK_SOURCE_SCHEMAS: '[workspace_failure]', WALHOOK_SOURCE_RECONNECT_MIN_DELAY: '100ms' },
    });
    const seen: number[] = [];
    let thrown = false;
    const session: TailSession = await startTail(config, createLogger('silent'), (line) => {
      const id = (JSON.parse(line) as { record: { id: number } }).record.id;
      if (id === 2 && !thrown) {
        thrown = true;
        throw new Error('the sink cannot take row 2 this time');
      }
      seen.push(id);
    }, { resumable: true });
    try {
      await db.sql(`INSERT INTO workspace_failure.person VALUES (1, 'a'), (2, 'b'), (3, 'c')`);
      await db.sql(`INSERT INTO workspace_failure.person VALUES (4, 'd')`);
      await waitFor(() => [1, 2, 3, 4].every((id) => seen.includes(id)), 'every row, including the one that failed once');
      expect(thrown).toBe(true);
      // Row 1 came before the failure and again with its transaction; rows 3 and 4 only after the reconnect.
      expect(seen.filter((id) => id === 2)).toHaveLength(1);
      expect(seen.indexOf(3)).toBeGreaterThan(seen.indexOf(2));
    } finally {
      await session.stop();
    }
  });

  it('backs off between reconnections while the same change keeps failing, instead of starting over each time', async () => {
    const config = loadConfig({
      env: {
        WALHOOK_DATABASE_URL: db.url,
        WALHOOK_SOURCE_SCHEMAS: '[workspace_failure]',
        WALHOOK_SOURCE_RECONNECT_MIN_DELAY: '50ms',
        WALHOOK_SOURCE_RECONNECT_MAX_DELAY: '400ms',
      },
    });
    const waits: number[] = [];
    const logger = createLogger('warn', {
      write(line: string) {
        const entry = JSON.parse(line) as { msg: string; retryInMs?: number };
        if (entry.msg === 'replication connection lost; reconnecting') waits.push(entry.retryInMs!);
      },
    });
    const failuresWanted = 5;
    let failures = 0;
    const seen: number[] = [];
    // A resumable slot: a temporary one would skip the failing change after a reconnect instead of streaming it again.
    const session = await startTail(config, logger, (line) => {
      const id = (JSON.parse(line) as { record: { id: number } }).record.id;
      if (id === 11 && failures < failuresWanted) {
        failures++;
        throw new Error('the sink cannot take row 11 yet');
      }
      seen.push(id);
    }, { resumable: true });
    try {
      await db.sql(`INSERT INTO workspace_failure.person VALUES (11, 'transient')`);
      await waitFor(() => seen.includes(11), () => `row 11 once the sink takes it (failed ${failures} times, waits ${waits.join(', ')} ms)`, 30_000);
      // Each start streamed the failing change again and confirmed nothing: every wait doubles, up to the maximum.
      expect(waits.slice(0, failuresWanted)).toEqual([50, 100, 200, 400, 400]);
    } finally {
      await session.stop();
    }
  });
});
