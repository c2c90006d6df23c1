/**
 * Versioned migrations of walhook's own schema, applied at start. Each runs
 * once, in order, inside one transaction holding a lock on the migrations
 * table, so replicas starting together do not race. A table lock, not an
 * advisory lock: any login can hold an advisory lock for ever (and so keep
 * every walhook from starting), only roles with rights on the table can lock it.
 */
import type pg from 'pg';
import { inTransaction, type StateDb } from './db.js';

interface Migration {
  version: number;
  name: string;
  sql: (schema: string) => string;
}

const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'deliveries',
    sql: (s) => `
      CREATE TABLE ${s}.deliveries (
        id uuid PRIMARY KEY,
        webhook_id uuid NOT NULL,
        event_id uuid NOT NULL,
        operation text NOT NULL,
        body text NOT NULL,
        state text NOT NULL CHECK (state IN ('pending', 'retrying', 'delivered', 'dead')),
        attempts integer NOT NULL DEFAULT 0,
        next_attempt_at timestamptz,
        lease_until timestamptz,
        last_status integer,
        last_error text,
        last_duration_ms integer,
        dead_reason text,
        commit_lsn pg_lsn NOT NULL,
        commit_time timestamptz NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX deliveries_due ON ${s}.deliveries (next_attempt_at) WHERE state IN ('pending', 'retrying');
      CREATE INDEX deliveries_by_webhook ON ${s}.deliveries (webhook_id, state, created_at);
      CREATE TABLE ${s}.delivery_attempts (
        id bigserial PRIMARY KEY,
        delivery_id uuid NOT NULL REFERENCES ${s}.deliveries (id) ON DELETE CASCADE,
        attempt integer NOT NULL,
        attempted_at timestamptz NOT NULL,
        status integer,
        error text,
        duration_ms integer
      );
      CREATE INDEX delivery_attempts_by_delivery ON ${s}.delivery_attempts (delivery_id, attempt);
      CREATE TABLE ${s}.webhook_status (
        webhook_id uuid PRIMARY KEY,
        disabled_at timestamptz,
        disabled_reason text
      );`,
  },
  {
    version: 2,
    name: 'webhooks',
    // Config-file webhooks are mirrored here without their secret, which stays in the file.
    sql: (s) => `
      CREATE TABLE ${s}.webhooks (
        id uuid PRIMARY KEY,
        target_url text NOT NULL,
        operations text[] NOT NULL,
        description text NOT NULL DEFAULT '',
        format text NOT NULL CHECK (format IN ('record', 'event', 'twenty')),
        signatures text[] NOT NULL,
        secret_encrypted text,
        previous_secret_encrypted text,
        previous_secret_expires_at timestamptz,
        source text NOT NULL CHECK (source IN ('config', 'api')),
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CHECK (source = 'config' OR secret_encrypted IS NOT NULL)
      );`,
  },
  {
    version: 3,
    name: 'set_aside_changes',
    // Changes no body can be built for (src/state/set-aside.ts): kept so the stream moves on and nothing is lost silently.
    sql: (s) => `
      CREATE TABLE ${s}.set_aside_changes (
        event_id uuid PRIMARY KEY,
        schema_name text NOT NULL,
        table_name text NOT NULL,
        record_key jsonb,
        operation text NOT NULL,
        commit_lsn pg_lsn NOT NULL,
        ordinal integer NOT NULL,
        commit_time timestamptz NOT NULL,
        webhook_ids uuid[] NOT NULL,
        reason text NOT NULL,
        error text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );`,
  },
  {
    version: 4,
    name: 'leases',
    // Leadership lives here rather than in an advisory lock: only roles with rights on this schema can take or block it.
    sql: (s) => `
      CREATE TABLE ${s}.leases (
        name text PRIMARY KEY,
        holder text NOT NULL,
        term bigint NOT NULL,
        acquired_at timestamptz NOT NULL,
        renewed_at timestamptz NOT NULL,
        expires_at timestamptz NOT NULL,
        released_at timestamptz
      );`,
  },
  {
    version: 5,
    name: 'retention indexes',
    // What retention.ts deletes, found without scanning the live rows: settled deliveries by age, attempts by age.
    sql: (s) => `
      CREATE INDEX deliveries_settled ON ${s}.deliveries (state, updated_at) WHERE state IN ('delivered', 'dead');
      CREATE INDEX delivery_attempts_by_time ON ${s}.delivery_attempts (attempted_at);`,
  },
  {
    version: 6,
    name: 'webhook workspace scope and webhooks managed by Twenty',
    // `twenty` rows mirror Twenty's core.webhook for listing only: their secret stays in Twenty's table.
    sql: (s) => `
      ALTER TABLE ${s}.webhooks ADD COLUMN workspace_id text;
      ALTER TABLE ${s}.webhooks DROP CONSTRAINT webhooks_source_check;
      ALTER TABLE ${s}.webhooks ADD CONSTRAINT webhooks_source_check CHECK (source IN ('config', 'api', 'twenty'));
      ALTER TABLE ${s}.webhooks DROP CONSTRAINT webhooks_check;
      ALTER TABLE ${s}.webhooks ADD CONSTRAINT webhooks_check CHECK (source <> 'api' OR secret_encrypted IS NOT NULL);`,
  },
  {
    version: 8,
    name: 'set_aside_change_lsn',
    // Event ids now derive from the change's own WAL record: that position finds the change; the
    // transaction-wide ordinal depended on what was streamed, so it is kept only for older rows.
    sql: (s) => `
      ALTER TABLE ${s}.set_aside_changes ADD COLUMN change_lsn pg_lsn;
      ALTER TABLE ${s}.set_aside_changes ALTER COLUMN ordinal DROP NOT NULL;`,
  },
  {
    version: 9,
    name: 'backfills',
    // Progress is a key cursor per table, saved after each chunk is settled: a restart resumes at the first unsettled chunk.
    sql: (s) => `
      CREATE TABLE ${s}.backfills (
        id uuid PRIMARY KEY,
        object text NOT NULL,
        webhook_id uuid,
        where_sql text,
        rate integer CHECK (rate > 0),
        action text NOT NULL CHECK (action IN ('backfilled', 'created')),
        status text NOT NULL CHECK (status IN ('pending', 'running', 'paused', 'cancelled', 'done', 'failed')),
        tables jsonb,
        table_index integer NOT NULL DEFAULT 0,
        cursor jsonb,
        rows_total bigint,
        rows_read bigint NOT NULL DEFAULT 0,
        rows_sent bigint NOT NULL DEFAULT 0,
        rows_superseded bigint NOT NULL DEFAULT 0,
        chunks integer NOT NULL DEFAULT 0,
        error text,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        started_at timestamptz,
        finished_at timestamptz
      );
      CREATE INDEX backfills_active ON ${s}.backfills (created_at) WHERE status IN ('pending', 'running');`,
  },
  {
    version: 10,
    name: 'webhook_filters',
    // Existing webhooks get neither policy: every event keeps being sent to them.
    sql: (s) => `
      ALTER TABLE ${s}.webhooks
        ADD COLUMN changed_fields text[] NOT NULL DEFAULT '{}',
        ADD COLUMN filter text;`,
  },
  {
    version: 12,
    name: 'per-record ordering',
    // A webhook with ordering 'record' keys its waiting deliveries by record; within a key they leave in WAL order
    // (commit_lsn, then change_lsn), so the order is derived from the rows alone after a crash or a failover.
    sql: (s) => `
      ALTER TABLE ${s}.webhooks ADD COLUMN ordering text NOT NULL DEFAULT 'none' CHECK (ordering IN ('none', 'record'));
      ALTER TABLE ${s}.deliveries ADD COLUMN record_key text, ADD COLUMN change_lsn pg_lsn;
      CREATE INDEX deliveries_waiting_by_record ON ${s}.deliveries (webhook_id, record_key, commit_lsn, change_lsn)
       WHERE record_key IS NOT NULL AND state IN ('pending', 'retrying');`,
  },
  {
    version: 13,
    name: 'slot progress, backfills of some tables',
    sql: (s) => `
      CREATE TABLE ${s}.slot_progress (
        slot text PRIMARY KEY,
        last_commit_time timestamptz NOT NULL,
        last_commit_lsn pg_lsn NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
      );
      ALTER TABLE ${s}.backfills ADD COLUMN only_tables jsonb;`,
  },
  {
    version: 14,
    name: 'replicas',
    // Live replicas, for sharing streaming partitions (at most ⌈partitions / live⌉ each); the partitions' own leases are rows of `leases`.
    sql: (s) => `
      CREATE TABLE ${s}.replicas (
        id text PRIMARY KEY,
        started_at timestamptz NOT NULL DEFAULT now(),
        heartbeat_at timestamptz NOT NULL,
        expires_at timestamptz NOT NULL
      );`,
  },
  {
    version: 15,
    name: 'webhook rate limit',
    // Requests per second at most to the webhook's endpoint; NULL: no limit.
    sql: (s) => `
      ALTER TABLE ${s}.webhooks ADD COLUMN max_per_second double precision CHECK (max_per_second IS NULL OR max_per_second > 0);`,
  },
  {
    version: 16,
    name: 'webhook failing since',
    // When the webhook's endpoint began failing without a success since (delivery.disableAfter); NULL: not failing.
    // Written on the transitions only, never per attempt.
    sql: (s) => `
      ALTER TABLE ${s}.webhooks ADD COLUMN failing_since timestamptz;`,
  },
  {
    version: 17,
    name: 'webhook batching',
    // {maxEvents, maxBytes, linger (ms)}; NULL: one event per request. One jsonb: the three are set and cleared together.
    sql: (s) => `
      ALTER TABLE ${s}.webhooks ADD COLUMN batch jsonb CHECK (batch IS NULL OR jsonb_typeof(batch) = 'object');`,
  },
];

/** How long walhook waits on one migration step (or on another replica migrating) before giving up. */
const MIGRATION_QUERY_TIMEOUT_MS = 60 * 60 * 1000;

/** `text` with the client-side timeout of a migration step (pg reads query_timeout per query; its types omit it). */
function patiently(text: string): pg.QueryConfig {
  const query = { text, query_timeout: MIGRATION_QUERY_TIMEOUT_MS };
  return query;
}

export const LATEST_VERSION = Math.max(...MIGRATIONS.map((migration) => migration.version));

/**
 * What a replica creating the schema or the migrations table at the same
 * moment as another one gets (IF NOT EXISTS does not wait for the other's
 * commit): trying again finds them.
 */
const CREATED_CONCURRENTLY = new Set(['23505', '42P06', '42P07']);

/** Applies pending migrations; returns the versions applied now. */
export async function migrate(db: StateDb): Promise<number[]> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await migrateOnce(db);
    } catch (error) {
      if (attempt >= 3 || !CREATED_CONCURRENTLY.has((error as { code?: string }).code ?? '')) throw error;
    }
  }
}

async function migrateOnce(db: StateDb): Promise<number[]> {
  return inTransaction(db, async (client) => {
    // A migration may rewrite a large table: the pool's statement timeouts, meant for the delivery path, do not apply.
    await client.query('SET LOCAL statement_timeout = 0');
    // Both may wait for another replica's migration to commit.
    await client.query(patiently(`CREATE SCHEMA IF NOT EXISTS ${db.schema}`));
    await client.query(
      patiently(`
      CREATE TABLE IF NOT EXISTS ${db.schema}.migrations (
        version integer PRIMARY KEY,
        name text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`),
    );
    // Self-conflicting: one replica migrates at a time; the others then find nothing left to do.
    await client.query(patiently(`LOCK TABLE ${db.schema}.migrations IN SHARE ROW EXCLUSIVE MODE`));
    const { rows } = await client.query<{ version: number }>(`SELECT version FROM ${db.schema}.migrations`);
    const applied = new Set(rows.map((row) => row.version));
    const newlyApplied: number[] = [];
    for (const migration of MIGRATIONS) {
      if (applied.has(migration.version)) continue;
      await client.query(patiently(migration.sql(db.schema)));
      await client.query(`INSERT INTO ${db.schema}.migrations (version, name) VALUES ($1, $2)`, [migration.version, migration.name]);
      newlyApplied.push(migration.version);
    }
    return newlyApplied;
  });
}
