/**
 * Streaming partitioned over replicas: source.partitions 4 over two
 * replicas, the steady stream spread over eight workspaces (two per
 * partition, by the documented hash). Each replica leads two partitions; one
 * is killed (kill -9) under load and stays down while the survivor must
 * lead and stream all four within 10 s; then it comes back and must get two
 * back. Counted like the others (written vs delivered, ids), and audited
 * throughout: no partition claimed by two replicas alive at once (their
 * walhook_partition_leader), and each partition slot's walsender
 * (pg_replication_slots.active_pid, named `walhook p<k> <holder>`) never
 * returning to a replica once another read the slot after it.
 */
import { partitionName, partitionOfSchema } from '../../src/common/partitions.js';
import { createPersonWorkspaces } from '../../test/harness/crm.js';
import type { DaemonProcess } from '../../test/harness/daemon.js';
import { scrapeMetrics } from '../../test/harness/operations.js';
import { waitFor } from '../../test/harness/receiver.js';
import { auditSlotReaders, type SlotReaderAudit } from '../../test/harness/slot-readers.js';
import { apiPortOf } from '../../bench/lib/walhook.js';
import { closeBed, FAST_RECOVERY, openBed, runCourse, sleep, type ChaosScenario } from '../lib/bed.js';
import type { WalhookFleet } from '../lib/fleet.js';

const PARTITIONS = 4;
const REPLICAS = 2;
const WORKSPACES_PER_PARTITION = 2;
/** The bound: a dead replica's partitions stream again on another within this. */
const TAKEOVER_LIMIT_MS = 10_000;

/** Workspace schemas, `WORKSPACES_PER_PARTITION` in each partition, found by the hash walhook uses. */
function workspacesPerPartition(): string[] {
  const chosen: string[][] = Array.from({ length: PARTITIONS }, () => []);
  for (let n = 0; chosen.some((schemas) => schemas.length < WORKSPACES_PER_PARTITION); n++) {
    const schema = `workspace_chaos${n}`;
    const partition = chosen[partitionOfSchema(schema, PARTITIONS)]!;
    if (partition.length < WORKSPACES_PER_PARTITION) partition.push(schema);
  }
  return chosen.flat();
}

/** The partitions `daemon` says it streams (walhook_partition_leader); null when it does not answer. */
async function ledBy(daemon: DaemonProcess): Promise<number[] | null> {
  const port = apiPortOf(daemon);
  if (port === null) return null;
  const metrics = await scrapeMetrics(`http://127.0.0.1:${port}`).catch(() => null);
  if (!metrics) return null;
  return metrics.samples
    .filter((sample) => sample.name === 'walhook_partition_leader' && sample.value === 1)
    .map((sample) => Number(sample.labels.partition))
    .sort((a, b) => a - b);
}

/** The name a replica leads under (the lease's holder, and its walsenders' application_name suffix); null before it led. */
function holderOf(daemon: DaemonProcess): string | null {
  const line = daemon.logs.find((entry) => entry.msg === 'leader: holding the slot lease');
  return typeof line?.holder === 'string' ? line.holder : null;
}

/** Epoch ms `daemon` first logged streaming `partition` after `sinceMs`; null when it has not. */
function streamedAfter(daemon: DaemonProcess, partition: number, sinceMs: number): number | null {
  for (const line of daemon.logs) {
    if (line.msg !== 'replication streaming' || line.partition !== partition) continue;
    const at = Date.parse(String(line.time));
    if (at > sinceMs) return at;
  }
  return null;
}

/**
 * Epoch ms until which `survivor` may not take `partitions` back: a replica that handed a partition over
 * to balance the replicas rests before trying it again (logged as it resigns, with the cooldown).
 */
function cooldownUntil(survivor: DaemonProcess, partitions: readonly number[]): number {
  let until = 0;
  for (const line of survivor.logs) {
    if (line.msg !== 'leader: resigned the slot lease' || !partitions.includes(line.partition as number)) continue;
    until = Math.max(until, Date.parse(String(line.time)) + Number(line.cooldownMs));
  }
  return until;
}

interface Balance {
  /** Per replica alive, the partitions it leads; null for one that did not answer. */
  led: (number[] | null)[];
  /** Every partition led by exactly one replica, each leading `perReplica`, and each slot read by its leader's walsender. */
  settled: boolean;
}

/** Who leads what, and whether that is the balance wanted and what the server shows. */
async function balanceOf(replicas: DaemonProcess[], audits: SlotReaderAudit[], perReplica: number): Promise<Balance> {
  const led = await Promise.all(replicas.map(ledBy));
  const all = led.flatMap((partitions) => partitions ?? []);
  const balanced = led.every((partitions) => partitions?.length === perReplica) && new Set(all).size === PARTITIONS && all.length === PARTITIONS;
  // Led is not yet streamed: a partition handed over may still be preparing on the replica that took it.
  const streamed = audits.every((audit, partition) => {
    const leader = replicas.find((_, index) => led[index]?.includes(partition));
    const holder = leader && holderOf(leader);
    return holder !== null && holder !== undefined && audit.readers.at(-1)?.applicationName === `walhook p${partition} ${holder}`;
  });
  return { led, settled: balanced && streamed };
}

/**
 * Every 100 ms until stopped: the partitions each replica alive claims. Two claiming one partition is an
 * overlap (a replica killed this round does not answer, and is not counted).
 */
function auditClaims(fleet: WalhookFleet) {
  const overlaps: string[] = [];
  let watching = true;
  const watch = (async () => {
    while (watching) {
      const led = (await Promise.all(fleet.replicasAlive().map(ledBy))).filter((partitions) => partitions !== null);
      const all = led.flat();
      if (new Set(all).size !== all.length) overlaps.push(JSON.stringify(led));
      await sleep(100);
    }
  })();
  return {
    async stop(): Promise<string[]> {
      watching = false;
      await watch;
      return overlaps;
    },
  };
}

/**
 * What the slot audits say is wrong: a walsender not named for its partition, a replica reading a slot
 * again after another, or a session other than a walsender holding the slot once it was streamed (the
 * one creating it holds it before).
 */
function readerProblems(audits: SlotReaderAudit[]): string[] {
  const problems: string[] = [];
  audits.forEach((audit, partition) => {
    const prefix = `walhook p${partition} `;
    const held = audit.readers.filter((reader) => reader.pid !== null);
    const firstStream = held.findIndex((reader) => reader.backendType === 'walsender');
    const others = held.filter((reader, index) => reader.backendType !== 'walsender' && index > firstStream && firstStream >= 0);
    if (others.length > 0) problems.push(`partition ${partition}'s slot was held by a ${others[0]!.backendType} (${others[0]!.applicationName}) after it was streamed`);
    const names = held.flatMap((reader) => (reader.backendType === 'walsender' ? [reader.applicationName ?? ''] : []));
    const strangers = names.filter((name) => !name.startsWith(prefix));
    if (strangers.length > 0) problems.push(`partition ${partition}'s slot was read by a walsender not named for it: ${strangers.join(', ')}`);
    const holders = names.map((name) => name.slice(prefix.length)).filter((holder, index, all) => index === 0 || all[index - 1] !== holder);
    if (new Set(holders).size !== holders.length) problems.push(`partition ${partition}'s slot went back to a replica after another read it: ${holders.join(' → ')}`);
  });
  return problems;
}

/** Each partition's readers, as short names (r1, r2… in order of first appearance) with the seconds since `fromMs`. */
function describeReaders(audits: SlotReaderAudit[], fromMs: number): string[] {
  const short = new Map<string, string>();
  const nameOf = (holder: string) => short.get(holder) ?? short.set(holder, `r${short.size + 1}`).get(holder)!;
  return audits.map((audit, partition) => {
    const steps = audit.readers.map((reader) => {
      const who =
        reader.pid === null ? 'nobody' : reader.backendType === 'walsender' ? nameOf((reader.applicationName ?? '').replace(`walhook p${partition} `, '')) : `${reader.backendType} '${reader.applicationName}'`;
      return `${who} ${((reader.since - fromMs) / 1000).toFixed(1)} s`;
    });
    return `partition ${partition} slot readers: ${steps.join(' → ')}`;
  });
}

export const partitionsOverReplicas: ChaosScenario = {
  name: 'partitions',
  async run(env) {
    const rounds = env.scale === 'ci' ? 1 : 3;
    const db = await env.crmDatabase('chaos_partitions');
    const workspaces = workspacesPerPartition();
    await createPersonWorkspaces(db, workspaces);
    const bed = await openBed(env, db, { replicas: REPLICAS, workspaces, walhook: { ...FAST_RECOVERY, source: { partitions: PARTITIONS } } });
    const audits = Array.from({ length: PARTITIONS }, (_, index) => auditSlotReaders(db, partitionName(bed.setup.slot, index, PARTITIONS)));
    const auditStartedAt = Date.now();
    let claims: ReturnType<typeof auditClaims> | null = null;
    const notes: string[] = [];
    const problems: string[] = [];
    const perReplica = Math.ceil(PARTITIONS / REPLICAS);
    const settle = async (what: string, timeoutMs: number) => {
      let balance: Balance = { led: [], settled: false };
      await waitFor(
        async () => (balance = await balanceOf(bed.fleet.replicasAlive(), audits, perReplica)).settled,
        () => `${what} (led: ${JSON.stringify(balance.led)})`,
        timeoutMs,
        100,
      );
      return balance;
    };
    try {
      return await runCourse(bed, {
        scenario: 'partitions over replicas',
        fault: `${PARTITIONS} partitions over ${REPLICAS} replicas, ${rounds} × kill -9 of one, back once the other streams all`,
        ratePerSecond: env.scale === 'ci' ? 150 : 300,
        notes,
        problems,
        async inject({ fleet }) {
          claims = auditClaims(fleet);
          const startedAt = Date.now();
          let balance = await settle(`each replica to lead ${perReplica} partitions, streamed by its walsender`, 30_000);
          notes.push(`balanced ${perReplica}/${perReplica} ${((Date.now() - startedAt) / 1000).toFixed(1)} s after the fleet streamed`);
          for (let round = 1; round <= rounds; round++) {
            await sleep(env.scale === 'ci' ? 2_000 : 5_000);
            // The victim: the replica whose partitions the other may take at once (it does not take back for
            // a while what it handed over itself to balance); when both wait, the one waiting least.
            const replicas = fleet.replicasAlive();
            const choices = replicas.map((victim, index) => {
              const survivor = replicas[1 - index]!;
              return { victim, survivor, partitions: balance.led[index] ?? [], until: cooldownUntil(survivor, balance.led[index] ?? []) };
            });
            const { victim, survivor, partitions, until } = choices.reduce((a, b) => (b.until < a.until ? b : a));
            if (until > Date.now()) {
              notes.push(`round ${round}: waited ${((until - Date.now()) / 1000).toFixed(1)} s for the survivor's hand-over cooldown to pass`);
              await sleep(until - Date.now());
            }
            env.progress(`round ${round}: kill -9 of the replica leading partitions ${partitions.join(', ')}`);
            const killedAt = Date.now();
            await fleet.kill9(victim, { holdReplacement: true });
            let ledAllAt: number | null = null;
            await waitFor(
              async () => {
                if (ledAllAt === null && (await ledBy(survivor))?.length === PARTITIONS) ledAllAt = Date.now();
                return ledAllAt !== null && partitions.every((partition) => streamedAfter(survivor, partition, killedAt) !== null);
              },
              () => `round ${round}: the survivor to lead and stream all ${PARTITIONS} partitions`,
              TAKEOVER_LIMIT_MS * 3,
              50,
            );
            const takeoverMs = Math.max(...partitions.map((partition) => streamedAfter(survivor, partition, killedAt)!)) - killedAt;
            const ledMs = ledAllAt! - killedAt;
            notes.push(`round ${round}: survivor led all ${PARTITIONS} ${ledMs} ms and streamed partitions ${partitions.join(', ')} ${takeoverMs} ms after kill -9`);
            if (takeoverMs > TAKEOVER_LIMIT_MS) {
              problems.push(`round ${round}: the survivor streamed the dead replica's partitions ${takeoverMs} ms after kill -9, beyond ${TAKEOVER_LIMIT_MS / 1000} s`);
            }
            await sleep(1_000);
            env.progress(`round ${round}: the killed replica comes back`);
            const backAt = Date.now();
            const [returned] = fleet.replaceHeld();
            balance = await settle(`the returned replica to get ${perReplica} partitions back, streamed by its walsender`, 40_000);
            const returnedLed = balance.led[fleet.replicasAlive().indexOf(returned!)] ?? [];
            notes.push(`round ${round}: the returned replica streams partitions ${returnedLed.join(', ')} ${((Date.now() - backAt) / 1000).toFixed(1)} s after it started`);
          }
          await sleep(1_000);
          problems.push(...readerProblems(audits));
          const overlaps = await claims.stop();
          claims = null;
          if (overlaps.length > 0) problems.push(`${overlaps.length} time(s) two replicas claimed one partition, e.g. ${overlaps[0]}`);
          notes.push(...describeReaders(audits, auditStartedAt));
        },
      });
    } finally {
      await (claims as ReturnType<typeof auditClaims> | null)?.stop();
      await Promise.all(audits.map((audit) => audit.stop()));
      await closeBed(bed);
    }
  },
};
