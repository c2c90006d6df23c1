/**
 * The stream under stress, for each plugin: the walsender killed while the
 * CRM keeps writing (the stream must come back by itself and skip nothing),
 * and one transaction of 100k rows.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { missingCapability, wal2jsonInstalled } from '../harness/capabilities.js';
import { createTestDatabase, type TestDatabase } from '../harness/database.js';
import { waitFor } from '../harness/receiver.js';
import { listTailSlots, startTestTail, type TailedEvent, type TestTail } from '../harness/tail.js';

const SCHEMA = 'workspace_1wgvd1injqtife6y4rvfbu3h5';
const ROWS_WRITTEN_WHILE_KILLED = 2000;
const ROWS_IN_ONE_TRANSACTION = 100_000;

const wal2jsonMissing = missingCapability(
  'wal2json',
  wal2jsonInstalled(inject('pgBinDir')),
  'install postgresql-15-wal2json',
  'wal2json tests',
);

const plugins = [
  { plugin: 'pgoutput', skip: null },
  { plugin: 'wal2json', skip: wal2jsonMissing },
];

describe.each(plugins)('$plugin stream under stress', ({ plugin, skip }) => {
  let db: TestDatabase;
  let tail: TestTail;

  beforeAll(async () => {
    if (skip !== null) return;
    db = await createTestDatabase(`resume_${plugin}`);
    await db.sql(`
      CREATE SCHEMA ${SCHEMA};
      CREATE TABLE ${SCHEMA}._ticket (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        number integer NOT NULL,
        "createdAt" timestamptz NOT NULL DEFAULT now()
      );`);
    tail = await startTestTail(db.url, { WALHOOK_SOURCE_PLUGIN: plugin, WALHOOK_SOURCE_RECONNECT_MIN_DELAY: '100ms' }, { resumable: true });
  });

  afterAll(async () => {
    await tail?.stop();
    await db?.drop();
  });

  /** Terminates the walsender streaming the tail's slot; returns its pid. */
  async function killWalsender(): Promise<number> {
    const [row] = await db.sql<{ pid: number }>(
      'SELECT active_pid AS pid FROM pg_replication_slots WHERE slot_name = $1 AND pg_terminate_backend(active_pid)',
      [tail.slotName],
    );
    if (!row) throw new Error(`slot ${tail.slotName} had no walsender to kill`);
    return row.pid;
  }

  async function waitForReconnect(killedPid: number): Promise<void> {
    await waitFor(async () => {
      const slot = (await listTailSlots(db.url)).find(({ name }) => name === tail.slotName);
      return slot?.activePid != null && slot.activePid !== killedPid;
    }, 'a new walsender on the slot');
  }

  it.skipIf(skip !== null)('comes back by itself after its walsender is killed mid-stream, and skips no transaction', async () => {
    const writer = new pg.Client(db.url);
    await writer.connect();
    let written = 0;
    const killAts = [300, 1000];
    // At each kill point the writer waits for the kill to be sent, so it always lands mid-stream, whatever the
    // machine's speed; the rows after it are written while the stream reconnects.
    const killSent = new Map(
      killAts.map((at) => {
        let resolve = () => {};
        const promise = new Promise<void>((done) => (resolve = done));
        return [at, { promise, resolve: () => resolve() }];
      }),
    );
    // One transaction per row, as a busy CRM writes.
    const writing = (async () => {
      for (let number = 1; number <= ROWS_WRITTEN_WHILE_KILLED; number++) {
        await writer.query(`INSERT INTO ${SCHEMA}._ticket (number) VALUES ($1)`, [number]);
        written = number;
        await killSent.get(number)?.promise;
      }
    })();
    try {
      for (const killAt of killAts) {
        await waitFor(() => written >= killAt && tail.events.length > 0, `${killAt} rows written and streaming`);
        const writtenAtKill = written;
        const killed = await killWalsender();
        killSent.get(killAt)!.resolve();
        await waitForReconnect(killed);
        expect(writtenAtKill).toBeLessThan(ROWS_WRITTEN_WHILE_KILLED);
      }
    } finally {
      for (const gate of killSent.values()) gate.resolve();
      await writing;
      await writer.end();
    }

    // Events come in WAL order, so once the last row is in, every row that is coming has come.
    await waitFor(() => tail.events.some((event) => event.record.number === ROWS_WRITTEN_WHILE_KILLED), 'the last row written');
    const numbers = [...new Set(tail.events.map((event) => event.record.number as number))].sort((a, b) => a - b);
    expect(numbers).toStrictEqual(Array.from({ length: ROWS_WRITTEN_WHILE_KILLED }, (_, index) => index + 1));
    expect(distinctIds(tail.events).size).toBe(ROWS_WRITTEN_WHILE_KILLED);
    // A change streamed again after the reconnect is the same event, to the byte.
    const firstSeen = new Map<string, string>();
    for (const event of tail.events) {
      const line = JSON.stringify(event);
      expect(firstSeen.get(event.id) ?? line).toBe(line);
      firstSeen.set(event.id, line);
    }
    expect(tail.logs.filter((line) => line.msg === 'replication connection lost; reconnecting').length).toBeGreaterThanOrEqual(2);
    expect(tail.logs.filter((line) => line.level === 'error')).toStrictEqual([]);
  });

  it.skipIf(skip !== null)(`delivers a transaction of ${ROWS_IN_ONE_TRANSACTION} rows completely`, async () => {
    const before = tail.events.length;
    await db.sql(`INSERT INTO ${SCHEMA}._ticket (number) SELECT n FROM generate_series(1, ${ROWS_IN_ONE_TRANSACTION}) n`);
    await waitFor(() => tail.events.length - before >= ROWS_IN_ONE_TRANSACTION, `${ROWS_IN_ONE_TRANSACTION} events`, 50_000);
    const events = tail.events.slice(before);
    expect(events).toHaveLength(ROWS_IN_ONE_TRANSACTION);
    expect(new Set(events.map((event) => event.commitLsn)).size).toBe(1);
    expect(distinctIds(events).size).toBe(ROWS_IN_ONE_TRANSACTION);
    // In the transaction's own order.
    expect(events.every((event, index) => event.record.number === index + 1)).toBe(true);
  });
});

function distinctIds(events: TailedEvent[]): Set<string> {
  return new Set(events.map((event) => event.id));
}
