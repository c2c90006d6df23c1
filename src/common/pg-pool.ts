/**
 * A pg.Pool that a lost connection cannot crash. pg emits `error` on a
 * client whose connection ends (a server restart, a failover, a terminated
 * backend); the pool listens only while the client is idle. A client checked
 * out at that moment — a transaction in flight, a backfill chunk being read —
 * would raise an unhandled `error` event and end the process. The query in
 * flight already fails with that error, and the pool discards the client on
 * release, so the event itself only needs a listener.
 */
import pg from 'pg';

export function openPool(config: pg.PoolConfig, onIdleClientError: (error: Error) => void = () => undefined): pg.Pool {
  const pool = new pg.Pool(config);
  pool.on('error', onIdleClientError);
  pool.on('connect', (client) => client.on('error', () => undefined));
  return pool;
}
