/**
 * Stopping the replication connection is bounded whatever it is doing: a
 * shutdown must not wait out the reconnection backoff, nor hang on a socket
 * that flow control paused while the server kept sending.
 */
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReplicationStream, type ReplicationOptions } from '../../src/source/replication.js';
import type { SourceMessage } from '../../src/source/types.js';
import { createTestDatabase, type TestDatabase } from '../harness/database.js';
import { waitFor } from '../harness/receiver.js';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase('replstop');
  await db.sql('CREATE TABLE person (id int PRIMARY KEY, name text)');
  await db.sql('CREATE PUBLICATION replstop FOR TABLE person');
  await db.sql("SELECT pg_create_logical_replication_slot('replstop', 'pgoutput')");
});

afterAll(async () => {
  await db?.drop();
});

function openStream(slot: string, reconnect: ReplicationOptions['reconnect'], onMessage: (message: SourceMessage) => void) {
  const logs: { level: number; msg: string }[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => logs.push(JSON.parse(line) as { level: number; msg: string }) });
  const stream = new ReplicationStream(
    { connectionString: db.url, slot, plugin: 'pgoutput', publications: ['replstop'], tables: () => [], decodeTimestamp: (text) => text, statusIntervalMs: 1_000, reconnect, logger },
    onMessage,
  );
  return { stream, logs };
}

/** Resolves with 'stopped' when `stop` settles first, else with 'still stopping'. */
async function stopWithin(stream: ReplicationStream, ms: number): Promise<'stopped' | 'still stopping'> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<'still stopping'>((resolve) => (timer = setTimeout(() => resolve('still stopping'), ms)));
  const outcome = await Promise.race([stream.stop().then(() => 'stopped' as const), bound]);
  clearTimeout(timer);
  return outcome;
}

async function slotActive(slot: string): Promise<boolean> {
  const [row] = await db.sql<{ active: boolean }>('SELECT active FROM pg_replication_slots WHERE slot_name = $1', [slot]);
  return row?.active === true;
}

describe('stopping the replication connection', () => {
  it('does not wait out the backoff before the next reconnection', async () => {
    // A slot that does not exist: every connection fails, then the stream waits 20 s before the next.
    const { stream, logs } = openStream('replstop_missing', { minDelayMs: 20_000, maxDelayMs: 20_000 }, () => undefined);
    stream.start();
    await waitFor(() => logs.some((line) => line.msg === 'replication connection lost; reconnecting'), 'the first failed connection');
    expect(await stopWithin(stream, 10_000), 'stop() during a 20 s backoff').toBe('stopped');
  });

  it('closes a paused connection the server kept sending on, without handling what arrives, and the next one streams it again', async () => {
    const received: number[] = [];
    const collect = (into: number[]) => (message: SourceMessage) => {
      if (message.type === 'change') into.push(Number(message.change.newRow?.id));
    };
    const { stream, logs } = openStream('replstop', { minDelayMs: 100, maxDelayMs: 1_000 }, collect(received));
    stream.start();
    await waitFor(() => stream.isConnected, 'the stream to connect');
    await waitFor(() => slotActive('replstop'), 'the slot to be streamed');
    stream.pause();
    // WAL the walsender sends while nothing reads it: it waits, unread, in front of the end of the connection.
    for (let id = 1; id <= 50; id++) await db.sql('INSERT INTO person VALUES ($1, $2)', [id, 'x'.repeat(2_000)]);
    await new Promise((resolve) => setTimeout(resolve, 300));

    expect(await stopWithin(stream, 15_000), 'stop() of a paused connection').toBe('stopped');
    expect(logs.filter((line) => /did not close/.test(line.msg)), 'closed without being destroyed').toEqual([]);
    expect(received, 'nothing streamed after the pause is handled').toEqual([]);
    await waitFor(async () => !(await slotActive('replstop')), 'the server to free the slot');

    // Nothing was confirmed: the next connection streams every row.
    const again: number[] = [];
    const next = openStream('replstop', { minDelayMs: 100, maxDelayMs: 1_000 }, collect(again));
    next.stream.start();
    await waitFor(() => again.length >= 50, 'the 50 rows on the next connection');
    expect([...new Set(again)].sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, index) => index + 1));
    expect(await stopWithin(next.stream, 15_000)).toBe('stopped');
  });
});
