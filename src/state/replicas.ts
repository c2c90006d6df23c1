/**
 * Live replicas, as the state schema knows them: a heartbeat row per running
 * instance, renewed by it and expiring on the server's clock like a lease
 * (state/leases.ts). Streaming partitions are shared by the replicas alive
 * (source/balance.ts); only roles with rights on the schema can write here.
 */
import type pg from 'pg';

type Queryable = Pick<pg.ClientBase, 'query'>;

/** Rows expired this long ago are removed by whoever beats next: a replica's id is new at every start. */
const FORGET_AFTER = "interval '1 hour'";

/** Another live replica, and how many of the leases named it holds. */
export interface LiveReplica {
  id: string;
  held: number;
}

/**
 * Renews (or writes) replica `id`'s heartbeat for `ttlMs` from now and
 * returns the other replicas alive on the server's clock, each with how many
 * of the leases `leaseNames` it holds (unexpired).
 */
export async function beat(db: Queryable, schema: string, id: string, ttlMs: number, leaseNames: string[]): Promise<LiveReplica[]> {
  // The statement's snapshot is from before its own writes: this replica's own row is left out either way.
  const { rows } = await db.query<LiveReplica>(
    `WITH written AS (
       INSERT INTO ${schema}.replicas (id, heartbeat_at, expires_at) VALUES ($1, now(), now() + $2 * interval '1 millisecond')
       ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, expires_at = excluded.expires_at
       RETURNING id
     ), forgotten AS (
       DELETE FROM ${schema}.replicas WHERE expires_at < now() - ${FORGET_AFTER} AND id <> $1
     )
     SELECT r.id, (SELECT count(*)::int FROM ${schema}.leases l WHERE l.holder = r.id AND l.name = ANY ($3) AND l.expires_at > now()) AS held
       FROM ${schema}.replicas r WHERE r.expires_at > now() AND r.id <> $1
      ORDER BY r.id`,
    [id, ttlMs, leaseNames],
  );
  return rows;
}

/** A replica shutting down: the others count it out at once. */
export async function leave(db: Queryable, schema: string, id: string): Promise<void> {
  await db.query(`DELETE FROM ${schema}.replicas WHERE id = $1`, [id]);
}
