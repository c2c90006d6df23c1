/**
 * Whether the slot survives a failover of the CRM database. PostgreSQL 17+
 * copies a logical slot created with `failover = true` to physical standbys
 * that run with `sync_replication_slots = on`, and `synchronized_standby_slots`
 * on the primary holds walhook back until those standbys have the WAL it is
 * sent. Older servers never copy slots: after a failover the slot is gone.
 * Read on the server walhook streams from; what only a standby can tell
 * (its own settings) is in the README.
 */
import type pg from 'pg';

/** First PostgreSQL (server_version_num) that synchronizes logical slots to standbys. */
export const FAILOVER_SLOTS_SINCE = 170000;

export interface FailoverFacts {
  serverVersionNum: number;
  /** The slot's `failover` flag; null before 17 or when the slot does not exist. */
  slotFailover: boolean | null;
  /** Physical walsenders: standbys streaming from this server, with or without a slot. */
  streamingStandbys: number;
  /** Physical replication slots on this server, and whether a standby streams from each. */
  physicalSlots: { name: string; active: boolean }[];
  /** `synchronized_standby_slots` as a list; empty when unset or before 17. */
  synchronizedStandbySlots: string[];
}

export interface FailoverWarning {
  problem: string;
  fix: string;
}

const README = 'see "Database failover" in the README';

/** What keeps the slot from surviving a failover, or stalls streaming, with what to do; empty when nothing does. */
export function failoverWarnings(slot: string, facts: FailoverFacts): FailoverWarning[] {
  const hasStandbys = facts.streamingStandbys > 0 || facts.physicalSlots.length > 0;
  if (facts.serverVersionNum < FAILOVER_SLOTS_SINCE) {
    if (!hasStandbys) return [];
    return [
      {
        problem:
          `this server has physical standbys, but PostgreSQL ${Math.floor(facts.serverVersionNum / 10_000)} does not copy logical slots to them: ` +
          `after a failover slot '${slot}' is gone and walhook creates a new one at the new primary's current position, ` +
          'so changes from the last confirmed position until then are not delivered',
        fix: `upgrade to PostgreSQL 17+ for failover slots, or after each failover backfill the changes made since the last delivered event; ${README}`,
      },
    ];
  }
  const warnings: FailoverWarning[] = [];
  if (facts.slotFailover === false) {
    warnings.push({
      problem: `slot '${slot}' was created without failover = true: it is not copied to standbys and is lost in a failover`,
      fix:
        `while walhook is stopped, run ALTER_REPLICATION_SLOT ${quoteIdent(slot)} (FAILOVER true) on a replication connection ` +
        `(psql "dbname=<crm> replication=database"); ${README}`,
    });
  }
  const physical = new Map(facts.physicalSlots.map((s) => [s.name, s]));
  for (const name of facts.synchronizedStandbySlots) {
    const standbySlot = physical.get(name);
    if (!standbySlot) {
      warnings.push({
        problem:
          `synchronized_standby_slots names '${name}', which is not a physical slot on this server: ` +
          'PostgreSQL holds back every failover slot, walhook\'s included, until that slot exists (streaming stalls)',
        fix: `remove '${name}' from synchronized_standby_slots (ALTER SYSTEM SET synchronized_standby_slots = '…'; SELECT pg_reload_conf();), e.g. after a promotion`,
      });
    } else if (!standbySlot.active) {
      warnings.push({
        problem: `the standby of slot '${name}' (synchronized_standby_slots) is not connected: walhook receives no changes until it is back`,
        fix: `bring that standby back, or remove '${name}' from synchronized_standby_slots and SELECT pg_reload_conf();`,
      });
    }
  }
  if (facts.synchronizedStandbySlots.length === 0 && facts.physicalSlots.length > 0) {
    const names = facts.physicalSlots.map((s) => s.name).join(',');
    warnings.push({
      problem:
        'synchronized_standby_slots is empty: walhook may deliver changes a standby has not received yet, ' +
        'which a failover to that standby undoes (events for rows that no longer exist), and the copied slot may lag',
      fix: `ALTER SYSTEM SET synchronized_standby_slots = '${names}'; SELECT pg_reload_conf(); (the physical slots of the standbys that may be promoted)`,
    });
  }
  if (facts.streamingStandbys > facts.physicalSlots.filter((s) => s.active).length) {
    warnings.push({
      problem: 'a standby streams without a replication slot (primary_slot_name unset): slots are never synchronized to it',
      fix: `give it a physical slot (pg_create_physical_replication_slot) and set primary_slot_name, sync_replication_slots = on and hot_standby_feedback = on on it; ${README}`,
    });
  }
  return warnings;
}

export async function readFailoverFacts(client: pg.ClientBase, slot: string): Promise<FailoverFacts> {
  const { rows } = await client.query<{ version: number; standbys: number; physical: { name: string; active: boolean }[] }>(`
    SELECT current_setting('server_version_num')::int AS version,
           (SELECT count(*) FROM pg_stat_replication r JOIN pg_stat_activity a USING (pid) WHERE a.datname IS NULL)::int AS standbys,
           coalesce((SELECT json_agg(json_build_object('name', slot_name, 'active', active) ORDER BY slot_name)
                       FROM pg_replication_slots WHERE slot_type = 'physical'), '[]') AS physical`);
  const facts = rows[0]!;
  const base = { serverVersionNum: facts.version, streamingStandbys: facts.standbys, physicalSlots: facts.physical };
  if (facts.version < FAILOVER_SLOTS_SINCE) return { ...base, slotFailover: null, synchronizedStandbySlots: [] };
  const { rows: more } = await client.query<{ failover: boolean | null; standby_slots: string }>(
    `SELECT (SELECT failover FROM pg_replication_slots WHERE slot_name = $1) AS failover,
            current_setting('synchronized_standby_slots') AS standby_slots`,
    [slot],
  );
  return {
    ...base,
    slotFailover: more[0]?.failover ?? null,
    synchronizedStandbySlots: (more[0]?.standby_slots ?? '')
      .split(',')
      .map((name) => name.trim().replace(/^"(.*)"$/, '$1'))
      .filter((name) => name !== ''),
  };
}

/** Whether slots created on this server should carry `failover = true`. */
export function createsFailoverSlots(serverVersionNum: number): boolean {
  return serverVersionNum >= FAILOVER_SLOTS_SINCE;
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
