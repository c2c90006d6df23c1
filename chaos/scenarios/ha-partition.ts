/**
 * A silent network partition of the leader: its database connections (CRM
 * and state) go through a loopback TCP proxy that is black-holed — nothing
 * passes, no socket is closed — while a standby reaches the database
 * directly. The standby must take over once the cut-off leader's lease runs
 * out (it stops streaming on its own before that), nothing be lost; after the
 * network heals the old leader must not stream again (audited on the slot's
 * active_pid), and fresh writes must arrive (liveness).
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { startWalhook, apiPortOf, type RunningWalhook } from '../../bench/lib/walhook.js';
import { committedPersonIds } from '../../bench/lib/writers.js';
import { writeConfig } from '../../test/harness/daemon.js';
import { waitFor } from '../../test/harness/receiver.js';
import { auditSlotReaders, namedUrl } from '../../test/harness/slot-readers.js';
import { closeBed, FAST_RECOVERY, openBed, runCourse, sleep, type ChaosScenario } from '../lib/bed.js';
import { startTcpProxy } from '../lib/tcp-proxy.js';

const CUT_OFF = 'walhook_cut_off';
const STANDBY = 'walhook_standby';
/** Fresh writes after the network healed must arrive within this. */
const LIVENESS_BOUND_MS = 30_000;

/** The same config as `file` (slot, state schema, webhooks) with every database connection at `url`. */
function configAt(file: string, url: string): string {
  const config = parse(readFileSync(file, 'utf8')) as { database: Record<string, unknown>; state: Record<string, unknown> };
  return writeConfig({ ...config, database: { ...config.database, url }, state: { ...config.state, databaseUrl: url } });
}

async function ready(port: number | null): Promise<boolean> {
  return port !== null && (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null))?.status === 200;
}

export const partitionLeader: ChaosScenario = {
  name: 'ha-partition',
  async run(env) {
    const partitionMs = env.scale === 'ci' ? 15_000 : 45_000;
    const db = await env.crmDatabase('chaos_partition');
    const proxy = await startTcpProxy(Number(new URL(db.url).port));
    const cutOffUrl = namedUrl(proxy.via(db.url), CUT_OFF);
    // The fleet's one replica is the leader-to-be, behind the proxy; the standby runs beside it.
    const bed = await openBed(env, db, { walhook: { ...FAST_RECOVERY, database: { url: cutOffUrl }, state: { databaseUrl: cutOffUrl } } });
    const audit = auditSlotReaders(db, bed.setup.slot);
    const notes: string[] = [];
    const problems: string[] = [];
    let standby: RunningWalhook | null = null;
    try {
      return await runCourse(bed, {
        scenario: 'HA leader partitioned',
        fault: `leader's database connections black-holed for ${partitionMs / 1000} s, standby reaching it`,
        ratePerSecond: env.scale === 'ci' ? 150 : 300,
        notes,
        problems,
        async inject({ fleet, receiver }) {
          const leader = fleet.leader();
          if (!leader) throw new Error('no replica streams the slot');
          standby = await startWalhook({ ...bed.setup, file: configAt(bed.setup.file, namedUrl(db.url, STANDBY)) }, { streaming: false });
          await sleep(3_000);
          env.progress('black-holing the leader');
          const partitionedAt = Date.now();
          proxy.blackHole();
          const running = standby;
          await waitFor(() => running.logs.some((line) => line.msg === 'replication streaming'), 'the standby to stream the slot', 60_000);
          const takeoverAt = Date.parse(String(running.logs.find((line) => line.msg === 'replication streaming')!.time));
          notes.push(`takeover ${takeoverAt - partitionedAt} ms after the partition began`);
          await sleep(Math.max(0, partitionedAt + partitionMs - Date.now()));
          env.progress('network healed');
          const before = new Set(await committedPersonIds(db));
          proxy.restore();
          await sleep(3_000);
          // Liveness: what was written since the network healed arrives.
          const fresh = (await committedPersonIds(db)).filter((id) => !before.has(id));
          await waitFor(() => fresh.every((id) => receiver.eventIdByChange.has(`person.created:${id}`)), 'the writes after the network healed', LIVENESS_BOUND_MS).catch(
            () => problems.push(`liveness: writes made after the network healed did not all arrive within ${LIVENESS_BOUND_MS / 1000} s`),
          );
          if (fresh.length === 0) problems.push('liveness: nothing was written after the network healed');
          await waitFor(async () => (await ready(apiPortOf(leader))) && (await ready(running.apiPort)), 'both instances to be ready', 30_000).catch(() =>
            problems.push('an instance was not ready 30 s after the network healed'),
          );
          if (leader.logs.filter((line) => line.msg === 'replication streaming').length > 1) problems.push('the old leader streamed again after the partition');
          const readers = audit.readers;
          const names = readers.map((reader) => reader.applicationName ?? 'nobody');
          if (names.slice(names.indexOf(STANDBY)).includes(CUT_OFF)) problems.push(`the cut-off leader read the slot again after the standby: ${names.join(' → ')}`);
          notes.push(`slot readers: ${readers.map((reader) => `${reader.applicationName ?? 'nobody'} +${((reader.since - partitionedAt) / 1000).toFixed(1)} s`).join(' → ')}`);
          for (const line of running.logs.filter((entry) => entry.level === 'warn' || entry.level === 'error').slice(0, 8)) {
            notes.push(`standby: ${String(line.msg)} ${JSON.stringify(line.err ?? '')}`.slice(0, 300));
          }
        },
      });
    } finally {
      await audit.stop();
      await (standby as RunningWalhook | null)?.stop();
      await closeBed(bed);
      await proxy.close();
    }
  },
};
