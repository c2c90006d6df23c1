/**
 * The CRM under test and walhook running against it: a Twenty-like workspace
 * schema (person, company, opportunity, all REPLICA IDENTITY FULL), helpers
 * that write rows the way a CRM does, a walhook configuration whose slot,
 * publication and state schema belong to one test alone, read-outs of what
 * walhook left behind (slot position, state-table rows), and the per-file
 * test bed that ties them together.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { parseLsn, type Lsn } from '../../src/source/lsn.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { startDaemon, writeConfig, type DaemonProcess } from './daemon.js';
import { startReceiver, waitFor, type Receiver } from './receiver.js';

/** Twenty's schema name for workspace 20202020-1c25-4d02-bf25-6aeccf7ea419 (base36 of the UUID). */
export const WORKSPACE_SCHEMA = 'workspace_1wgvd1injqtife6y4rvfbu3h5';
export const WORKSPACE_ID = '20202020-1c25-4d02-bf25-6aeccf7ea419';

/** Column sets modelled on Twenty's standard objects (composite fields flattened as Twenty stores them). */
const TABLES = `
  CREATE TABLE ${WORKSPACE_SCHEMA}.company (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name text,
    "domainNamePrimaryLinkUrl" text,
    employees integer,
    "annualRecurringRevenueAmountMicros" bigint,
    "annualRecurringRevenueCurrencyCode" text,
    rating numeric(3, 2),
    address jsonb,
    "createdAt" timestamptz NOT NULL DEFAULT now(),
    "updatedAt" timestamptz NOT NULL DEFAULT now(),
    "deletedAt" timestamptz
  );
  CREATE TABLE ${WORKSPACE_SCHEMA}.person (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    "nameFirstName" text,
    "nameLastName" text,
    "emailsPrimaryEmail" text,
    "emailsAdditionalEmails" jsonb,
    "jobTitle" text,
    city text,
    position double precision,
    "companyId" uuid REFERENCES ${WORKSPACE_SCHEMA}.company (id),
    "createdAt" timestamptz NOT NULL DEFAULT now(),
    "updatedAt" timestamptz NOT NULL DEFAULT now(),
    "deletedAt" timestamptz
  );
  CREATE TABLE ${WORKSPACE_SCHEMA}.opportunity (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name text,
    "amountAmountMicros" numeric,
    "amountCurrencyCode" text,
    stage text,
    "closeDate" timestamptz,
    "companyId" uuid REFERENCES ${WORKSPACE_SCHEMA}.company (id),
    "pointOfContactId" uuid REFERENCES ${WORKSPACE_SCHEMA}.person (id),
    "createdAt" timestamptz NOT NULL DEFAULT now(),
    "updatedAt" timestamptz NOT NULL DEFAULT now(),
    "deletedAt" timestamptz
  );
  ALTER TABLE ${WORKSPACE_SCHEMA}.company REPLICA IDENTITY FULL;
  ALTER TABLE ${WORKSPACE_SCHEMA}.person REPLICA IDENTITY FULL;
  ALTER TABLE ${WORKSPACE_SCHEMA}.opportunity REPLICA IDENTITY FULL;`;

export async function createCrmSchema(db: TestDatabase): Promise<void> {
  await db.sql(`CREATE SCHEMA ${WORKSPACE_SCHEMA}`);
  await db.sql(TABLES);
}

/**
 * More workspaces beside the CRM schema's, each with a person table like
 * its own (columns, defaults, primary key; no foreign keys), for tests that
 * spread changes over several workspaces. Needs `createCrmSchema` first.
 */
export async function createPersonWorkspaces(db: TestDatabase, schemas: readonly string[]): Promise<void> {
  for (const schema of schemas) {
    await db.sql(`CREATE SCHEMA ${schema}`);
    await db.sql(`CREATE TABLE ${schema}.person (LIKE ${WORKSPACE_SCHEMA}.person INCLUDING ALL)`);
    await db.sql(`ALTER TABLE ${schema}.person REPLICA IDENTITY FULL`);
  }
}

export interface InsertedPerson {
  id: string;
  /** The person's number, also stored in `position`. */
  index: number;
  /**
   * WAL insert position read inside the insert's own transaction: before its
   * commit record, and (inserts being sequential) after the previous row's.
   */
  walLsn: Lsn;
}

const personInsert = (schema: string) => `
  INSERT INTO ${schema}.person ("nameFirstName", "nameLastName", "emailsPrimaryEmail", "jobTitle", city, position)
  SELECT 'Person', i::text, 'person' || i || '@example.com', 'Engineer', 'Paris', i
    FROM generate_series($1::int, $2::int) AS i
  RETURNING id, position::int AS index, pg_current_wal_insert_lsn()::text AS lsn`;
const PERSON_INSERT = personInsert(WORKSPACE_SCHEMA);

function toInserted(row: { id: string; index: number; lsn: string }): InsertedPerson {
  return { id: row.id, index: row.index, walLsn: parseLsn(row.lsn) };
}

/** Inserts persons `from`..`from + count - 1` in one transaction, into the person table of `schema` (a workspace). */
export async function insertPersons(db: TestDatabase, count: number, from = 1, schema = WORKSPACE_SCHEMA): Promise<InsertedPerson[]> {
  const sql = schema === WORKSPACE_SCHEMA ? PERSON_INSERT : personInsert(schema);
  const rows = await db.sql<{ id: string; index: number; lsn: string }>(sql, [from, from + count - 1]);
  return rows.map(toInserted);
}

/**
 * Inserts persons `from`..`from + count - 1` one after the other, each in a
 * transaction of its own (as a CRM's users do), calling `inserted` after each
 * commit. Person n+1's `walLsn` is then at or past the end of person n's
 * commit: a slot confirmed up to it has settled person n.
 */
export async function insertPersonsOneByOne(
  db: Pick<TestDatabase, 'sql'>,
  count: number,
  { from = 1, inserted = () => undefined }: { from?: number; inserted?: (person: InsertedPerson) => void } = {},
): Promise<InsertedPerson[]> {
  const persons: InsertedPerson[] = [];
  for (let index = from; index < from + count; index++) {
    const [row] = await db.sql<{ id: string; index: number; lsn: string }>(PERSON_INSERT, [index, index]);
    if (!row) throw new Error(`insert of person ${index} returned nothing`);
    const person = toInserted(row);
    persons.push(person);
    inserted(person);
  }
  return persons;
}

export async function currentWalLsn(db: TestDatabase): Promise<Lsn> {
  const [row] = await db.sql<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
  return parseLsn(row!.lsn);
}

/** Waits until the slot is confirmed at or past `lsn`. */
export async function waitForSlotAt(db: TestDatabase, slot: string, lsn: Lsn, what: string, timeoutMs = 10_000): Promise<void> {
  await waitFor(async () => ((await confirmedFlushLsn(db, slot)) ?? 0n) >= lsn, what, timeoutMs);
}

/** Waits until a walsender streams the slot: changes committed from then on reach whoever streams it. */
export async function waitForSlotStreamed(db: TestDatabase, slot: string, timeoutMs = 30_000): Promise<void> {
  await waitFor(
    async () => (await db.sql('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1 AND active_pid IS NOT NULL', [slot])).length > 0,
    `slot ${slot} to be streamed`,
    timeoutMs,
  );
}

/**
 * Stops the walsender streaming `slot` with SIGSTOP: a hung server process,
 * or a network path gone silent — the connection stays open and nothing
 * moves. `resume()` continues it (once; it then sees its client gone if the
 * client reconnected meanwhile, and exits).
 */
export async function silenceWalsender(db: TestDatabase, slot: string): Promise<{ resume: () => void }> {
  const [row] = await db.sql<{ pid: number | null }>('SELECT active_pid AS pid FROM pg_replication_slots WHERE slot_name = $1', [slot]);
  const walsender = row?.pid;
  if (!walsender) throw new Error(`no walsender streams slot ${slot}`);
  process.kill(walsender, 'SIGSTOP');
  let stopped = true;
  return {
    resume: () => {
      if (stopped) process.kill(walsender, 'SIGCONT');
      stopped = false;
    },
  };
}

/** The slot's confirmed_flush_lsn, or null while it has none (or does not exist yet). */
export async function confirmedFlushLsn(db: TestDatabase, slot: string): Promise<Lsn | null> {
  const [row] = await db.sql<{ lsn: string | null }>(
    'SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1',
    [slot],
  );
  return row?.lsn ? parseLsn(row.lsn) : null;
}

export interface WalhookSetup {
  /** The config file, reused across restarts. */
  file: string;
  slot: string;
  stateSchema: string;
}

/** Sections of walhook's configuration a test overrides; each is merged over the test defaults. */
export interface WalhookOverrides {
  webhooks: Record<string, unknown>[];
  source?: Record<string, unknown>;
  delivery?: Record<string, unknown>;
  state?: Record<string, unknown>;
  events?: Record<string, unknown>;
  twenty?: Record<string, unknown>;
  api?: Record<string, unknown>;
  backfill?: Record<string, unknown>;
}

/**
 * A config file for walhook on `db`, with a slot, publication and state schema
 * of its own (slot names are cluster-wide and test files run in parallel) and
 * test-sized timings: short polls, a compressed retry schedule, receivers on
 * 127.0.0.1 allowed.
 */
export function walhookSetup(db: Pick<TestDatabase, 'url'>, overrides: WalhookOverrides): WalhookSetup {
  const suffix = randomBytes(4).toString('hex');
  const slot = `walhook_${suffix}`;
  const stateSchema = `walhook_state_${suffix}`;
  const config = {
    database: { url: db.url },
    source: { slot, publication: `walhook_${suffix}`, statusInterval: '200ms', reconnect: { minDelay: '100ms', maxDelay: '1s' }, ...overrides.source },
    delivery: {
      retrySchedule: ['300ms', '300ms'],
      // Shorter than the first retry wait, as the defaults are (30 s against 1 min).
      breakerProbeInterval: '100ms',
      retryPollInterval: '100ms',
      allowList: ['127.0.0.1/32'],
      shutdownTimeout: '3s',
      ...overrides.delivery,
    },
    webhooks: overrides.webhooks,
    ...(overrides.events && { events: overrides.events }),
    ...(overrides.twenty && { twenty: overrides.twenty }),
    ...(overrides.backfill && { backfill: overrides.backfill }),
    state: { schema: stateSchema, ...overrides.state },
    api: { listen: '127.0.0.1:0', ...overrides.api },
  };
  return { file: writeConfig(config), slot, stateSchema };
}

/** Starts `walhook start` and waits until it streams from its slot. */
async function startWalhook(setup: WalhookSetup): Promise<DaemonProcess> {
  const daemon = startDaemon(setup.file);
  let exitCode: number | null | undefined;
  void daemon.exited.then((code) => (exitCode = code));
  try {
    await waitFor(
      () => {
        if (exitCode !== undefined) throw new Error(`walhook exited with ${exitCode} before streaming:\n${daemon.output()}`);
        return daemon.logs.some((line) => line.msg === 'replication streaming');
      },
      'walhook to start streaming',
      15_000,
    );
  } catch (error) {
    // Nobody else holds it yet: left running, it would stream (and load the machine) until killed by hand.
    await daemon.kill9();
    throw error;
  }
  return daemon;
}

export interface DeliveryRow {
  id: string;
  webhook_id: string;
  body: string;
  state: 'pending' | 'retrying' | 'delivered' | 'dead';
  attempts: number;
  next_attempt_at: Date | null;
  last_status: number | null;
  last_error: string | null;
  dead_reason: string | null;
}

/** Waits until the webhook's first state-table row satisfies `done`, and returns it. */
export async function waitForDelivery(
  db: TestDatabase,
  setup: WalhookSetup,
  webhookId: string,
  done: (row: DeliveryRow) => boolean,
  what: string,
): Promise<DeliveryRow> {
  let found: DeliveryRow | undefined;
  await waitFor(async () => {
    [found] = await deliveryRows(db, setup, webhookId);
    return found !== undefined && done(found);
  }, what);
  return found!;
}

/** walhook's state-table rows for one webhook. */
export async function deliveryRows(db: TestDatabase, setup: WalhookSetup, webhookId: string): Promise<DeliveryRow[]> {
  return db.sql<DeliveryRow>(
    `SELECT id, webhook_id, body, state, attempts, next_attempt_at, last_status, last_error, dead_reason
       FROM ${setup.stateSchema}.deliveries WHERE webhook_id = $1 ORDER BY commit_lsn, id`,
    [webhookId],
  );
}

export interface AttemptRow {
  attempt: number;
  status: number | null;
  error: string | null;
}

export async function attemptRows(db: TestDatabase, setup: WalhookSetup, deliveryId: string): Promise<AttemptRow[]> {
  return db.sql<AttemptRow>(
    `SELECT attempt, status, error FROM ${setup.stateSchema}.delivery_attempts WHERE delivery_id = $1 ORDER BY attempt`,
    [deliveryId],
  );
}

export interface CrmTestBed {
  /** The file's database, with the workspace schema (inside tests and hooks only). */
  readonly db: TestDatabase;
  /** Signing secret of every webhook the file defines; its receivers verify with it. */
  readonly secret: string;
  /** A config for walhook on the file's database; webhooks default to `person.created`, signed with `secret`. */
  setup(overrides: WalhookOverrides): WalhookSetup;
  /** A receiver on 127.0.0.1, closed after the test. */
  receiver(respond?: Receiver['respond']): Promise<Receiver>;
  /** `walhook start` on `setup`, streaming; killed after the test. */
  walhook(setup: WalhookSetup): Promise<DaemonProcess>;
}

/**
 * Registers the file's hooks: a database of its own with the workspace schema,
 * and after each test the daemons and receivers it started stopped.
 */
export function useCrmTestBed(prefix: string, createSchema: (db: TestDatabase) => Promise<unknown> = createCrmSchema): CrmTestBed {
  let db: TestDatabase | undefined;
  const daemons: DaemonProcess[] = [];
  const receivers: Receiver[] = [];
  const secret = randomBytes(24).toString('hex');

  beforeAll(async () => {
    db = await createTestDatabase(prefix);
    await createSchema(db);
  });
  afterEach(async () => {
    await Promise.all(daemons.splice(0).map((daemon) => daemon.kill9()));
    await Promise.all(receivers.splice(0).map((receiver) => receiver.close()));
  });
  afterAll(async () => {
    await db?.drop();
  });

  return {
    get db() {
      if (!db) throw new Error('the test database exists only inside tests and hooks');
      return db;
    },
    secret,
    setup(overrides) {
      const webhooks = overrides.webhooks.map((webhook) => ({ operations: ['person.created'], secret, ...webhook }));
      return walhookSetup(this.db, { ...overrides, webhooks });
    },
    async receiver(respond) {
      const started = await startReceiver({ secret, ...(respond && { respond }) });
      receivers.push(started);
      return started;
    },
    async walhook(setup) {
      const daemon = await startWalhook(setup);
      daemons.push(daemon);
      return daemon;
    },
  };
}
