/**
 * A silent network partition of the leader: both its database connections
 * (CRM and state) go through a loopback TCP proxy that is black-holed —
 * nothing passes, nothing is closed, as when a node drops off the network.
 * The server keeps the leader's sessions (and its walsender) for as long as
 * TCP keepalive or wal_sender_timeout allow; leadership must not depend on
 * them. The standby must take over within seconds, nothing be lost, and once
 * the network heals the old leader must not stream a second time (audited on
 * the slot's active_pid), ending with fresh writes delivered.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startTcpProxy, type TcpProxy } from '../../chaos/lib/tcp-proxy.js';
import { insertPersonsOneByOne, useCrmTestBed, type InsertedPerson } from '../harness/crm.js';
import { probe, scrapeMetrics, useInstances, withConfig } from '../harness/operations.js';
import { waitFor, type ReceivedRequest } from '../harness/receiver.js';
import { auditSlotReaders, namedUrl } from '../harness/slot-readers.js';

const TOTAL = 1_500;
/** Lease (6 s) + a poll + ending the stale walsender + starting the stream, with room for a loaded machine. */
const TAKEOVER_BOUND_MS = 30_000;

const bed = useCrmTestBed('ha_partition');
const instances = useInstances();
const proxies: TcpProxy[] = [];
afterEach(async () => {
  await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
});

function rowIdOf(request: ReceivedRequest): string {
  return (request.json.record as { id: string }).id;
}

describe('a silent network partition of the leader', { timeout: 180_000 }, () => {
  it('the standby takes over within seconds, nothing is lost, and the healed old leader never streams again', async () => {
    const hooks = await bed.receiver();
    const setup = bed.setup({ webhooks: [{ targetUrl: hooks.url }], delivery: { leaseDuration: '3s' } });
    const proxy = await startTcpProxy(Number(new URL(bed.db.url).port));
    proxies.push(proxy);
    const cutOffUrl = namedUrl(proxy.via(bed.db.url), 'walhook_cut_off');
    const cutOff = await instances.start(withConfig(setup, { database: { url: cutOffUrl }, state: { databaseUrl: cutOffUrl } }).file, {
      streaming: true,
    });
    const standby = await instances.start(withConfig(setup, { database: { url: namedUrl(bed.db.url, 'walhook_standby') } }).file);
    const audit = auditSlotReaders(bed.db, setup.slot);
    const persons: InsertedPerson[] = [];
    const delivered = () => new Set(hooks.requests.map(rowIdOf));

    const inserting = insertPersonsOneByOne(bed.db, TOTAL, { inserted: (person) => persons.push(person) });
    await waitFor(() => hooks.requests.length >= TOTAL / 4, 'a quarter of the changes to arrive', 30_000, 10);
    const partitionedAt = Date.now();
    proxy.blackHole();
    await waitFor(
      () => standby.logs.some((line) => line.msg === 'replication streaming'),
      'the standby to stream the slot after the leader was cut off',
      TAKEOVER_BOUND_MS,
      20,
    );
    const takeoverMs = standby.loggedAt('replication streaming')! - partitionedAt;
    const demotedAt = cutOff.logs.filter((line) => /^leader: lost the slot lease \(not renewed within/.test(String(line.msg))).map((line) => Date.parse(String(line.time)))[0] ?? null;
    console.log(`partition: the cut-off leader stopped ${demotedAt === null ? 'never' : `${demotedAt - partitionedAt} ms`} after; takeover ${takeoverMs} ms after`);
    expect(demotedAt, 'the cut-off leader demoted itself').not.toBeNull();
    expect(demotedAt!).toBeLessThan(standby.loggedAt('replication streaming')!);
    await inserting;
    await waitFor(() => persons.every((person) => delivered().has(person.id)), 'every change written around the partition', 60_000);

    // The network heals; the old leader reads the lease again (held by the standby) and stays a standby.
    proxy.restore();
    const standbyHolder = async () => (await scrapeMetrics(standby.api)).samples.find((s) => s.name === 'walhook_leader_lease_holder')?.labels.holder;
    const holder = await standbyHolder();
    await waitFor(async () => {
      const metrics = await scrapeMetrics(cutOff.api);
      const seen = metrics.samples.find((sample) => sample.name === 'walhook_leader_lease_holder')?.labels.holder;
      return seen === holder && (metrics.value('walhook_leader_lease_seconds_since_renewal') ?? Infinity) < 3;
    }, 'the healed instance to read the lease again, held by the standby');

    // Liveness: fresh writes after the fault arrive.
    const fresh = await insertPersonsOneByOne(bed.db, 20, { from: TOTAL + 1 });
    await waitFor(() => fresh.every((person) => delivered().has(person.id)), 'the writes made after the network healed', 30_000);
    await waitFor(async () => (await probe(cutOff.api, '/readyz')).status === 200, 'the healed instance to be ready again');
    expect((await probe(standby.api, '/readyz')).body).toMatchObject({ status: 'ready', role: 'leader' });
    expect((await probe(cutOff.api, '/readyz')).body).toMatchObject({ status: 'ready', role: 'standby' });

    const readers = await audit.stop();
    const names = readers.map((reader) => reader.applicationName ?? 'nobody');
    // The cut-off leader, then (perhaps) nobody, then the standby for good: never the old leader again.
    expect(names.at(0)).toBe('walhook_cut_off');
    expect(names.slice(names.indexOf('walhook_standby'))).not.toContain('walhook_cut_off');
    expect(names.at(-1)).toBe('walhook_standby');
    expect(cutOff.logs.filter((line) => line.msg === 'replication streaming')).toHaveLength(1);
    expect(hooks.verified()).toHaveLength(hooks.requests.length);
  });
});
