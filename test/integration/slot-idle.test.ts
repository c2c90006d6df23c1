/**
 * A slot whose published tables are idle while the cluster is busy elsewhere
 * — an unpublished table of the same database, another database — must not
 * retain WAL without bound. The server keeps telling walhook how far it has
 * decoded (keepalives), and walhook confirms that position while nothing is
 * in flight (src/source/watermark.ts): measured here, so walhook needs no
 * heartbeat write (issue 18).
 */
import { describe, expect, it } from 'vitest';
import { useCrmTestBed } from '../harness/crm.js';
import { createTestDatabase, type TestDatabase } from '../harness/database.js';

const bed = useCrmTestBed('slot_idle');

/** Busy writes elsewhere, in a bounded number of rounds: WAL written, and the most WAL the slot retained at any round. */
async function busyElsewhere(writer: TestDatabase, slot: string, rounds: number): Promise<{ walWrittenBytes: number; maxRetainedBytes: number; lastRetainedBytes: number; maxLagBytes: number }> {
  const [start] = await bed.db.sql<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
  let maxRetainedBytes = 0;
  let lastRetainedBytes = 0;
  let maxLagBytes = 0;
  for (let round = 0; round < rounds; round++) {
    await writer.sql(`INSERT INTO busy SELECT repeat(md5(i::text), 8) FROM generate_series(1, 4000) AS i`);
    const [row] = await bed.db.sql<{ retained: number; lag: number }>(
      `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::float8 AS retained,
              pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::float8 AS lag
         FROM pg_replication_slots WHERE slot_name = $1`,
      [slot],
    );
    lastRetainedBytes = row!.retained;
    maxRetainedBytes = Math.max(maxRetainedBytes, lastRetainedBytes);
    maxLagBytes = Math.max(maxLagBytes, row!.lag);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const [written] = await bed.db.sql<{ bytes: number }>('SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn)::float8 AS bytes', [start!.lsn]);
  return { walWrittenBytes: written!.bytes, maxRetainedBytes, lastRetainedBytes, maxLagBytes };
}

const ROUNDS = 150;
/** Generous: about 25 rounds' WAL, against the 150 of each phase. */
const LAG_BOUND_BYTES = 32 * 1024 * 1024;

describe('an idle slot on a busy cluster', () => {
  it('is confirmed close to the WAL end, and releases WAL, while unpublished tables and another database are written', async () => {
    const hooks = await bed.receiver();
    // The default status interval: what confirms here is walhook's answer to the server's keepalives, not its own timer.
    const setup = bed.setup({ webhooks: [{ targetUrl: hooks.url }], source: { statusInterval: '10s' } });
    await bed.walhook(setup);
    await bed.db.sql('CREATE TABLE public.busy (payload text)');
    const other = await createTestDatabase('slot_idle_other');
    try {
      await other.sql('CREATE TABLE busy (payload text)');
      const sameDatabase = await busyElsewhere(bed.db, setup.slot, ROUNDS);
      const otherDatabase = await busyElsewhere(other, setup.slot, ROUNDS);
      console.log(JSON.stringify({ sameDatabase, otherDatabase }));
      for (const figures of [sameDatabase, otherDatabase]) {
        expect(figures.walWrittenBytes).toBeGreaterThan(4 * LAG_BOUND_BYTES);
        expect(figures.maxLagBytes).toBeLessThan(LAG_BOUND_BYTES);
      }
      // restart_lsn follows the confirmed position at PostgreSQL's next running-transactions record (about every 15 s):
      // the slot let go of WAL written during the run rather than pinning all of it.
      expect(otherDatabase.lastRetainedBytes).toBeLessThan(sameDatabase.walWrittenBytes + otherDatabase.walWrittenBytes);
    } finally {
      await other.drop();
    }
  }, 240_000);
});
