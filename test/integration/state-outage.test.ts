/**
 * The state database out of reach, behind a TCP proxy on 127.0.0.1 that the
 * test cuts: SIGTERM must still finish within the shutdown deadline, and what
 * could not be written must not be lost (it was never confirmed, so it is
 * streamed again after a restart).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTcpProxy, type TcpProxy } from '../../chaos/lib/tcp-proxy.js';
import { createTestDatabase, type TestDatabase } from '../harness/database.js';
import { insertPersons, useCrmTestBed } from '../harness/crm.js';
import { waitFor } from '../harness/receiver.js';

const bed = useCrmTestBed('stateout');
let stateDb: TestDatabase;
let proxy: TcpProxy;

beforeAll(async () => {
  stateDb = await createTestDatabase('stateout_state');
  proxy = await startTcpProxy(Number(new URL(stateDb.url).port));
});
afterAll(async () => {
  await proxy?.close();
  await stateDb?.drop();
});

/** Person indexes (`position`) of the person.created requests answered with a 2xx. */
function deliveredIndexes(requests: { json: Record<string, unknown> }[], answeredOk: boolean[]): Set<number> {
  const indexes = new Set<number>();
  requests.forEach((request, i) => {
    if (answeredOk[i]) indexes.add((request.json.record as { position: number }).position);
  });
  return indexes;
}

describe('SIGTERM while the state database is unreachable', () => {
  it('exits within the shutdown deadline, and after a restart with the database back every change arrives', async () => {
    const SHUTDOWN_MS = 2_000;
    const PERSONS = 20;
    let failing = false;
    const answeredOk: boolean[] = [];
    const receiver = await bed.receiver((_request, index) => {
      answeredOk[index] = !failing;
      return { status: failing ? 503 : 200 };
    });
    const setup = bed.setup({
      webhooks: [{ id: randomUUID(), targetUrl: receiver.url }],
      delivery: { shutdownTimeout: `${SHUTDOWN_MS}ms`, retrySchedule: ['200ms', '200ms', '200ms'] },
      state: { databaseUrl: proxy.via(stateDb.url) },
    });
    const first = await bed.walhook(setup);

    // The pipeline works before the fault.
    await insertPersons(bed.db, 1, 1_000);
    await waitFor(() => deliveredIndexes(receiver.requests, answeredOk).has(1_000), 'the person written before the outage');

    failing = true;
    proxy.cut();
    await insertPersons(bed.db, PERSONS);
    // The first attempt fails, so the endpoint counts as failing and every change now waits on a write to the
    // state database, which takes none.
    await waitFor(() => receiver.requests.length > 1, 'a failed attempt after the cut');
    await waitFor(
      () => first.logs.some((line) => line.msg === 'state table write failed; retrying'),
      'the writer to report the unreachable state database',
    );

    first.child.kill('SIGTERM');
    // Generous against a loaded machine, yet far below "never": before the fix the writer retried forever.
    const exit = await Promise.race([first.exited, new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), SHUTDOWN_MS + 25_000))]);
    expect(exit, `walhook did not exit after SIGTERM:\n${first.output().slice(-3_000)}`).toBe(0);
    expect(first.logs.some((line) => line.msg === 'state table writes still failing at shutdown; their changes will be streamed again')).toBe(
      true,
    );

    proxy.restore();
    failing = false;
    const second = await bed.walhook(setup);
    const expected = Array.from({ length: PERSONS }, (_, i) => i + 1);
    await waitFor(
      () => expected.every((index) => deliveredIndexes(receiver.requests, answeredOk).has(index)),
      `all ${PERSONS} persons delivered after the restart (delivered: ${[...deliveredIndexes(receiver.requests, answeredOk)].sort((a, b) => a - b).join(',')})`,
      30_000,
    );

    // Liveness: fresh writes after the fault arrive.
    await insertPersons(bed.db, 3, PERSONS + 1);
    await waitFor(
      () => [PERSONS + 1, PERSONS + 2, PERSONS + 3].every((index) => deliveredIndexes(receiver.requests, answeredOk).has(index)),
      'the fresh persons written after the outage',
    );
    expect(await second.stop()).toBe(0);
  });
});
