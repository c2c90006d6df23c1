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

/**
 * Renews (or writes) replica `id`'s heartbeat for `ttlMs` from now and
 * returns how many replicas are alive on the server's clock, this one included.
 */
export async function beat(db: Queryable, schema: string, id: string, ttlMs: number): Promise<number> {
  // The statement's snapshot is from before its own writes: the others are counted, and this one added.
  const { rows } = await db.query<{ others: number }>(
    `WITH written AS (
       INSERT INTO ${schema}.replicas (id, heartbeat_at, expires_at) VALUES ($1, now(), now() + $2 * interval '1 millisecond')
       ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, expires_at = excluded.expires_at
       RETURNING id
     ), forgotten AS (
       DELETE FROM ${schema}.replicas WHERE expires_at < now() - ${FORGET_AFTER} AND id <> $1
     )
     SELECT count(*)::int AS others FROM ${schema}.replicas WHERE expires_at > now() AND id <> $1`,
    [id, ttlMs],
  );
  return (rows[0]?.others ?? 0) + 1;
}

/** A replica shutting down: the others count it out at once. */
export async function leave(db: Queryable, schema: string, id: string): Promise<void> {
  await db.query(`DELETE FROM ${schema}.replicas WHERE id = $1`, [id]);
}
