/**
 * `walhook repartition`: changes source.partitions without stopping the
 * CRM's writes and without losing a change, while every walhook replica is
 * stopped. The new layout's slots are created first (each starts at its
 * creation point c_k); then the current layout is drained in-process with
 * the daemon's own streaming and delivery until every current slot is
 * confirmed past stopLsn = max c_k; only then are the old slots and
 * publications dropped. Every change committed before stopLsn was settled by
 * an old slot, every change committed after c_k is in new slot k: those in
 * between go out twice, with the same event ids (they derive from the WAL).
 *
 * Steps, in order; a failure before the old layout is dropped drops the new
 * slots and publications again, so nothing retains WAL and a retry starts
 * clean: `checking` → `creating` → `draining` → `dropping` → `done`.
 */
import pg from 'pg';
import type { Logger } from './common/log.js';
import { OperatorError } from './common/operator-error.js';
import { partitionTargets, type PartitionTarget } from './common/partitions.js';
import type { WalhookConfig } from './config/schema.js';
import { Daemon } from './daemon.js';
import { formatLsn, parseLsn, type Lsn } from './source/lsn.js';
import { prepareSource } from './source/prepare.js';
import { publicationNames } from './source/setup.js';
import { openStateDb, type StateDb } from './state/db.js';
import { slotLeaseName } from './state/leases.js';
import { migrate } from './state/migrations.js';

/** A repartition that cannot (or must not) go on; `code` says which. */
export class RepartitionError extends OperatorError {
  override readonly name = 'RepartitionError';

  constructor(
    readonly code: 'REPARTITION_SAME' | 'REPARTITION_NAMES_SHARED' | 'REPARTITION_REPLICA_RUNNING' | 'REPARTITION_LAYOUT' | 'REPARTITION_DRAIN' | 'REPARTITION_DROP',
    message: string,
    fix: string,
  ) {
    super(message, fix);
  }
}

/** The configured names the partitions' names derive from. */
type LayoutNames = Pick<WalhookConfig['source'], 'slot' | 'publication'>;

/** The slots and publications of a layout of `partitions`. */
export function layout(source: LayoutNames, partitions: number): PartitionTarget[] {
  return partitionTargets({ slot: source.slot, publication: source.publication, partitions });
}

/**
 * Why going from `from` to `to` partitions is refused before anything is
 * touched, or null: the same N, or layouts that share slot names (2 → 4
 * shares `<slot>_p0` and `_p1`): a shared slot would carry other workspaces
 * after the change, and the new layout must start at a point of its own.
 */
export function layoutRefusal(source: LayoutNames, from: number, to: number): RepartitionError | null {
  if (from === to) {
    return new RepartitionError(
      'REPARTITION_SAME',
      `source.partitions is already ${to}: nothing to repartition`,
      'source.partitions in the configuration is the layout in use; change it only after walhook repartition --partitions N succeeded',
    );
  }
  const current = new Set(layout(source, from).map((target) => target.slot));
  const shared = layout(source, to).filter((target) => current.has(target.slot));
  if (shared.length === 0) return null;
  // One partition's names are the configured ones themselves, which no layout of several shares.
  return new RepartitionError(
    'REPARTITION_NAMES_SHARED',
    `the layouts of ${from} and ${to} partitions share slot names (${shared.map((target) => target.slot).join(', ')})`,
    `go through one partition: walhook repartition --partitions 1, set source.partitions: 1, then walhook repartition --partitions ${to} (the replicas need not run in between)`,
  );
}

export interface RepartitionOptions {
  config: WalhookConfig;
  partitions: number;
  logger: Logger;
  /** How long the drain may take before it gives up (and drops the new layout again). */
  drainTimeoutMs: number;
  /** Resolves when the operator asks to stop (SIGINT, SIGTERM): the new layout is dropped again. */
  interrupted?: Promise<void>;
}

export interface RepartitionResult {
  from: number;
  to: number;
  /** The point the old layout was drained to (the highest creation point of the new slots). */
  stopLsn: string;
  created: { slot: string; createdAt: string }[];
  dropped: string[];
}

const POLL_MS = 200;
const PROGRESS_EVERY_MS = 5_000;

/** Runs the whole migration; see the file comment. */
export async function repartition({ config, partitions, logger, drainTimeoutMs, interrupted }: RepartitionOptions): Promise<RepartitionResult> {
  const from = config.source.partitions;
  const refusal = layoutRefusal(config.source, from, partitions);
  if (refusal) throw refusal;
  const current = layout(config.source, from);
  const next = layout(config.source, partitions);
  const state = openStateDb(config.state.databaseUrl ?? config.database.url, config.state.schema, 2);
  const crm = new pg.Client({ connectionString: config.database.url, application_name: 'walhook repartition' });
  try {
    await crm.connect();
    await migrate(state);
    await refuseRunning(crm, state, current, next);
    const created: RepartitionResult['created'] = [];
    let stopLsn: Lsn = 0n;
    try {
      for (const target of next) {
        const prepared = await prepareSource(crm, config, logger.child({ component: 'setup', slot: target.slot }), { target });
        created.push({ slot: target.slot, createdAt: formatLsn(await confirmedFlush(crm, target.slot)) });
        if (prepared.publicationProblem) throw new RepartitionError('REPARTITION_LAYOUT', prepared.publicationProblem, 'create the new partitions’ publications as walhook would (see docs/deploy.md), or set source.createPublication: true');
      }
      stopLsn = created.map((slot) => parseLsn(slot.createdAt)).reduce((a, b) => (a > b ? a : b));
      logger.info({ from, to: partitions, stopLsn: formatLsn(stopLsn), created }, 'new partitions created; draining the current ones up to stopLsn');
      await drain(config, stopLsn, logger, drainTimeoutMs, interrupted);
      // New workspaces may have appeared while draining: the new publications take them now, before the old ones go.
      for (const target of next) await prepareSource(crm, config, logger.child({ component: 'setup', slot: target.slot }), { target });
      // A replica started meanwhile would stream an old slot now that the drain released it.
      await refuseRunning(crm, state, current, []);
    } catch (error) {
      // Nothing of the old layout was dropped yet: the new one goes, so a retry starts clean and nothing retains WAL.
      await dropLayout(crm, state, config, next).catch((cleanup: unknown) =>
        logger.error({ err: cleanup, slots: next.map((target) => target.slot) }, 'could not drop the new partitions again: drop their slots and publications by hand before a retry'),
      );
      throw error;
    }
    // From here the new layout carries everything after stopLsn: it is never dropped again, whatever fails.
    let dropped: string[];
    try {
      dropped = await dropLayout(crm, state, config, current);
    } catch (error) {
      throw new RepartitionError(
        'REPARTITION_DROP',
        `the current partitions were drained and the new ones created, but dropping the old ones failed: ${(error as Error).message}`,
        `keep the new slots; drop what is left of ${current.map((target) => target.slot).join(', ')} and their publications by hand (pg_drop_replication_slot, DROP PUBLICATION), then set source.partitions: ${partitions} and start the replicas`,
      );
    }
    logger.info({ dropped }, 'old partitions dropped');
    return { from, to: partitions, stopLsn: formatLsn(stopLsn), created, dropped };
  } finally {
    await crm.end().catch(() => undefined);
    await state.pool.end();
  }
}

/** Refuses while a replica may still stream a current slot, when the current layout is not there, or the new one is. */
async function refuseRunning(crm: pg.Client, state: StateDb, current: PartitionTarget[], next: PartitionTarget[]): Promise<void> {
  const slots = await crm.query<{ slot_name: string; active_pid: number | null }>(
    'SELECT slot_name, active_pid FROM pg_replication_slots WHERE slot_name = ANY($1)',
    [[...current, ...next].map((target) => target.slot)],
  );
  const existing = new Map(slots.rows.map((row) => [row.slot_name, row.active_pid]));
  const missing = current.filter((target) => !existing.has(target.slot)).map((target) => target.slot);
  if (missing.length > 0) {
    throw new RepartitionError(
      'REPARTITION_LAYOUT',
      `slot(s) ${missing.join(', ')} of the current layout (source.partitions: ${current.length}) do not exist`,
      'source.partitions must be the layout walhook streams now: set it back to the N the replicas ran with (walhook start once creates missing slots)',
    );
  }
  const leftover = next.filter((target) => existing.has(target.slot)).map((target) => target.slot);
  if (leftover.length > 0) {
    throw new RepartitionError(
      'REPARTITION_LAYOUT',
      `slot(s) ${leftover.join(', ')} of the new layout exist already (left by an interrupted walhook repartition?)`,
      `while every slot of the current layout exists, dropping them loses nothing: ${leftover.map((slot) => `SELECT pg_drop_replication_slot('${slot}');`).join(' ')} then run walhook repartition again`,
    );
  }
  const active = current.filter((target) => existing.get(target.slot) !== null).map((target) => `${target.slot} (walsender pid ${existing.get(target.slot)})`);
  const leases = await state.pool.query<{ name: string; holder: string }>(
    `SELECT name, holder FROM ${state.schema}.leases WHERE name = ANY($1) AND expires_at > now() AND released_at IS NULL`,
    [current.map((target) => slotLeaseName(target.slot))],
  );
  const held = leases.rows.map((row) => `${row.name} held by ${row.holder}`);
  if (active.length > 0 || held.length > 0) {
    throw new RepartitionError(
      'REPARTITION_REPLICA_RUNNING',
      `a walhook replica still streams: ${[...active, ...held].join('; ')}`,
      'stop every walhook replica (kubectl scale --replicas=0, or SIGTERM each) and run walhook repartition again; a lease of a killed replica runs out within seconds',
    );
  }
}

async function confirmedFlush(crm: pg.Client, slot: string): Promise<Lsn> {
  const { rows } = await crm.query<{ lsn: string | null }>('SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1', [slot]);
  const lsn = rows[0]?.lsn;
  if (!lsn) throw new Error(`slot ${slot} has no confirmed position right after its creation`);
  return parseLsn(lsn);
}

/**
 * The current layout streamed and delivered by the daemon's own machinery
 * (its API on a loopback port of its own) until every partition's slot is
 * confirmed at or past `stopLsn`, i.e. every change committed before it is
 * settled; then stopped as SIGTERM stops it.
 */
async function drain(config: WalhookConfig, stopLsn: Lsn, logger: Logger, timeoutMs: number, interrupted?: Promise<void>): Promise<void> {
  const daemon = new Daemon({ ...config, api: { ...config.api, listen: { host: '127.0.0.1', port: 0 }, opsListen: undefined } }, logger.child({ component: 'drain' }));
  let stopRequested = false;
  void interrupted?.then(() => (stopRequested = true));
  const startedAt = Date.now();
  try {
    await daemon.start();
    let reportedAt = startedAt;
    for (;;) {
      const positions = daemon.confirmedPositions();
      if (positions.every((lsn) => lsn !== null && lsn >= stopLsn)) break;
      if (stopRequested) throw new RepartitionError('REPARTITION_DRAIN', 'interrupted while draining the current partitions', 'run walhook repartition again');
      const now = Date.now();
      const behind = positions.map((lsn, index) => ({ partition: index, confirmed: lsn === null ? null : formatLsn(lsn) })).filter((_, index) => (positions[index] ?? 0n) < stopLsn);
      if (now - startedAt > timeoutMs) {
        throw new RepartitionError(
          'REPARTITION_DRAIN',
          `the current partitions were not drained up to ${formatLsn(stopLsn)} within ${Math.round(timeoutMs / 1000)} s (behind: ${JSON.stringify(behind)})`,
          'see the log for what holds the stream (a receiver, the state database); fix it and run walhook repartition again, or give it longer with --timeout',
        );
      }
      if (now - reportedAt >= PROGRESS_EVERY_MS) {
        reportedAt = now;
        logger.info({ stopLsn: formatLsn(stopLsn), behind }, 'draining the current partitions');
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
    logger.info({ stopLsn: formatLsn(stopLsn), elapsedMs: Date.now() - startedAt }, 'current partitions drained');
  } finally {
    await daemon.stop();
  }
}

/** Drops a layout's slots, the publications walhook manages for it, and its leases and settled points; what exists only. */
async function dropLayout(crm: pg.Client, state: StateDb, config: WalhookConfig, targets: PartitionTarget[]): Promise<string[]> {
  const dropped: string[] = [];
  for (const target of targets) {
    const { rowCount } = await crm.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1', [target.slot]);
    if (rowCount) dropped.push(`slot ${target.slot}`);
    if (config.source.plugin === 'pgoutput' && config.source.createPublication) {
      const names = publicationNames(target.publication);
      for (const name of [names.all, names.insertsOnly]) {
        const found = await crm.query('SELECT 1 FROM pg_publication WHERE pubname = $1', [name]);
        if (found.rowCount === 0) continue;
        await crm.query(`DROP PUBLICATION ${crm.escapeIdentifier(name)}`);
        dropped.push(`publication ${name}`);
      }
    }
    await state.pool.query(`DELETE FROM ${state.schema}.leases WHERE name = $1`, [slotLeaseName(target.slot)]);
    await state.pool.query(`DELETE FROM ${state.schema}.slot_progress WHERE slot = $1`, [target.slot]);
  }
  return dropped;
}
