/**
 * Leases in walhook's own state schema: a row per leased thing (today the
 * slot), held by one instance until it expires. Only roles with rights on
 * the schema can read, take or lock them, so a login that merely reaches the
 * database cannot stop streaming (as it could with an advisory lock).
 *
 * Every time comparison is made by the server (`now()`): instances never
 * compare their clocks with each other or with the server. A holder keeps
 * its own deadline from its monotonic clock, measured from when it sent a
 * renewal, which is never later than the server's expiry.
 */
import type pg from 'pg';

/** A lease as the server sees it now. */
export interface LeaseRecord {
  holder: string;
  /** Bumped on every change of holder: a renewal names the term it holds. */
  term: number;
  /** Server-side seconds since the holder last renewed (or took) it. */
  secondsSinceRenewal: number;
  /** Server-side seconds until it expires (negative once it has). */
  secondsUntilExpiry: number;
  /** Expired (or released) on the server's clock: anyone may take it. */
  expired: boolean;
  released: boolean;
}

/** What an instance last knew of a lease, for metrics and readiness. */
export interface LeaseView {
  /** This instance holds it. */
  held: boolean;
  /** Who held it at the last read, or null when nobody ever took it. */
  holder: string | null;
  /** Seconds since anyone renewed it, as of now (last read + time elapsed since; since watching when nobody ever took it). */
  secondsSinceRenewal: number;
  /** Nobody holds it: expired, released, or never taken. */
  expired: boolean;
  /** Why the last attempt to read, take or renew it failed, or null. */
  error: string | null;
}

type Queryable = Pick<pg.ClientBase, 'query'>;

export interface Acquired {
  term: number;
  /** The holder before, or null when the lease row is new. */
  previousHolder: string | null;
  /** The previous holder let it run out rather than releasing it (crashed, cut off, or stalled). */
  previousExpired: boolean;
}

/**
 * Takes the lease if nobody holds it (no row, or the row expired on the
 * server's clock). Resolves null when someone else holds it.
 */
export async function tryAcquireLease(db: Queryable, schema: string, name: string, holder: string, leaseMs: number): Promise<Acquired | null> {
  // The CTE reads the row as it was before this statement: who held it, and how it ended.
  const { rows } = await db.query<{ term: string; previous_holder: string | null; previous_released: boolean | null }>(
    `WITH previous AS (SELECT holder, released_at IS NOT NULL AS released FROM ${schema}.leases WHERE name = $1)
     INSERT INTO ${schema}.leases AS lease (name, holder, term, acquired_at, renewed_at, expires_at)
     VALUES ($1, $2, 1, now(), now(), now() + $3 * interval '1 millisecond')
     ON CONFLICT (name) DO UPDATE
        SET holder = excluded.holder, term = lease.term + 1, acquired_at = now(), renewed_at = now(),
            expires_at = excluded.expires_at, released_at = NULL
      WHERE lease.expires_at <= now()
     RETURNING lease.term, (SELECT holder FROM previous) AS previous_holder, (SELECT released FROM previous) AS previous_released`,
    [name, holder, leaseMs],
  );
  const row = rows[0];
  if (!row) return null;
  return { term: Number(row.term), previousHolder: row.previous_holder, previousExpired: row.previous_holder !== null && row.previous_released !== true };
}

/** Extends the lease by `leaseMs` from now; false when it is no longer this holder's (taken over, or expired). */
export async function renewLease(db: Queryable, schema: string, name: string, holder: string, term: number, leaseMs: number): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE ${schema}.leases SET renewed_at = now(), expires_at = now() + $4 * interval '1 millisecond'
      WHERE name = $1 AND holder = $2 AND term = $3 AND expires_at > now()`,
    [name, holder, term, leaseMs],
  );
  return rowCount === 1;
}

/** Ends the lease now, so another instance can take it without waiting for it to expire. */
export async function releaseLease(db: Queryable, schema: string, name: string, holder: string, term: number): Promise<void> {
  await db.query(
    `UPDATE ${schema}.leases SET expires_at = now(), released_at = now()
      WHERE name = $1 AND holder = $2 AND term = $3 AND expires_at > now()`,
    [name, holder, term],
  );
}

/** The lease as the server sees it, or null when nobody ever took it. A plain read: row locks do not block it. */
export async function readLease(db: Queryable, schema: string, name: string): Promise<LeaseRecord | null> {
  const { rows } = await db.query<{ holder: string; term: string; since: number; until: number; expired: boolean; released: boolean }>(
    `SELECT holder, term, extract(epoch FROM now() - renewed_at)::float8 AS since, extract(epoch FROM expires_at - now())::float8 AS until,
            expires_at <= now() AS expired,
            released_at IS NOT NULL AS released
       FROM ${schema}.leases WHERE name = $1`,
    [name],
  );
  const row = rows[0];
  if (!row) return null;
  return {
    holder: row.holder,
    term: Number(row.term),
    secondsSinceRenewal: row.since,
    secondsUntilExpiry: row.until,
    expired: row.expired,
    released: row.released,
  };
}

/** The name of the lease on streaming a slot. */
export function slotLeaseName(slot: string): string {
  return `slot:${slot}`;
}
