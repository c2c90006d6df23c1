/**
 * Row changes in a Twenty-like database → events, end to end on a real
 * PostgreSQL: two `walhook tail` sessions (pgoutput and wal2json) read the
 * same database from the start; the tests assert on the pgoutput events, and
 * one of the last checks that wal2json produced exactly the same list.
 */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { eventId } from '../../src/events/event-id.js';
import { parseLsn } from '../../src/source/lsn.js';
import { missingCapability, wal2jsonInstalled } from '../harness/capabilities.js';
import { CLI } from '../harness/daemon.js';
import { createTestDatabase, type TestDatabase } from '../harness/database.js';
import { waitFor } from '../harness/receiver.js';
import { listTailSlots, startTestTail, type TailedEvent, type TestTail } from '../harness/tail.js';

/** Twenty's seed workspace and the schema Twenty keeps it in (`workspace_` + base36 of the UUID). */
const SEED_WORKSPACE = '20202020-1c25-4d02-bf25-6aeccf7ea419';
const SEED = 'workspace_1wgvd1injqtife6y4rvfbu3h5';
const OTHER_WORKSPACE = '3b8e6a2c-5d1f-4a7e-9c0b-2f4e6d8a1c3e';
const OTHER = 'workspace_3ixjccdp50sod8sb1avwsdflq';

const wal2jsonMissing = missingCapability(
  'wal2json',
  wal2jsonInstalled(inject('pgBinDir')),
  'install postgresql-15-wal2json',
  'wal2json tests',
);

const PERSON_TABLE = `(
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  "nameFirstName" text NOT NULL DEFAULT '',
  "nameLastName" text NOT NULL DEFAULT '',
  "emailsPrimaryEmail" text,
  "jobTitle" text NOT NULL DEFAULT '',
  "position" double precision,
  "createdAt" timestamptz NOT NULL DEFAULT now(),
  "updatedAt" timestamptz NOT NULL DEFAULT now(),
  "deletedAt" timestamptz
)`;

/** Twenty's tables (a few columns each), plus what the tests need: every type, a big text, no primary key. */
const SCHEMA_SQL = `
  CREATE SCHEMA ${SEED};
  CREATE TABLE ${SEED}.person ${PERSON_TABLE};
  -- Telling a soft delete or restore from an update needs the old deletedAt.
  ALTER TABLE ${SEED}.person REPLICA IDENTITY FULL;
  CREATE TABLE ${SEED}.company (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name text NOT NULL,
    employees integer,
    "createdAt" timestamptz NOT NULL DEFAULT now(),
    "deletedAt" timestamptz
  );
  CREATE TABLE ${SEED}._pet (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name text,
    "createdAt" timestamptz NOT NULL DEFAULT now(),
    "deletedAt" timestamptz
  );
  CREATE TABLE ${SEED}.note (
    id uuid PRIMARY KEY,
    title text NOT NULL,
    "bodyV2Markdown" text,
    "deletedAt" timestamptz
  );
  CREATE TABLE ${SEED}."auditLog" (name text, "happenedAt" timestamptz);

  CREATE TYPE ${SEED}.mood AS ENUM ('happy', 'sad');
  CREATE DOMAIN ${SEED}.positive AS integer CHECK (VALUE > 0);
  CREATE TABLE ${SEED}._specimen (
    id uuid PRIMARY KEY,
    small int2, regular int4, big int8,
    exact numeric, price numeric(10, 4), "notANumber" numeric,
    single float4, double float8, "floatNaN" float8, "floatInfinity" float8,
    flag bool, body text, label varchar(20), code char(5), ref uuid,
    day date, "at" time, "atZone" timetz, "local" timestamp, instant timestamptz, duration interval,
    doc json, nested jsonb, blob bytea,
    ip inet, net cidr, mac macaddr, cash money,
    mood ${SEED}.mood, moods ${SEED}.mood[],
    ints int4[], texts text[], docs jsonb[], grid int4[][], flags bool[], stamps timestamptz[],
    positive ${SEED}.positive, spot point, search tsvector, bits bit(4), varbits varbit(8), markup xml,
    numbers numrange, "intRange" int4range,
    missing text
  );

  CREATE SCHEMA ${OTHER};
  CREATE TABLE ${OTHER}.person ${PERSON_TABLE};

  -- Outside the workspace_* scope: never streamed.
  CREATE TABLE public."workspaceMember" (id serial PRIMARY KEY, name text);
`;

const UUID_V5 = /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** Number columns of `_specimen` that hold NaN or ±Infinity, and those values as events carry them. */
const SPECIAL_NUMBER_COLUMNS = new Set(['notANumber', 'floatNaN', 'floatInfinity']);
const SPECIAL_NUMBERS = new Set(['NaN', 'Infinity', '-Infinity']);

/**
 * The event as it comes through wal2json 2.5, which writes NaN and ±Infinity
 * of number columns as JSON null (its own output; the value cannot be told
 * from NULL afterwards): the one difference between the plugins expected.
 */
function asWal2jsonWrites(event: TailedEvent): TailedEvent {
  const nullSpecials = (record: Record<string, unknown> | null) =>
    record && Object.fromEntries(Object.entries(record).map(([column, value]) => [column, SPECIAL_NUMBER_COLUMNS.has(column) && SPECIAL_NUMBERS.has(value as string) ? null : value]));
  return { ...event, record: nullSpecials(event.record) ?? {}, previousRecord: nullSpecials(event.previousRecord) };
}

describe('CDC: row changes to events', () => {
  let db: TestDatabase;
  let pgoutput: TestTail;
  let wal2json: TestTail | null = null;
  let startedAt: number;

  /** The next events of the pgoutput session, which the assertions read. */
  const next = (count: number) => pgoutput.waitForEvents(count);

  beforeAll(async () => {
    startedAt = Date.now();
    db = await createTestDatabase('cdc');
    await db.sql(SCHEMA_SQL);
    pgoutput = await startTestTail(db.url, { WALHOOK_SOURCE_PLUGIN: 'pgoutput' });
    if (wal2jsonMissing === null) wal2json = await startTestTail(db.url, { WALHOOK_SOURCE_PLUGIN: 'wal2json' });
  });

  afterAll(async () => {
    await pgoutput?.stop();
    await wal2json?.stop();
    await db?.drop();
  });

  it('turns insert, update, soft delete, restore and DELETE into person.created/updated/deleted/restored/destroyed', async () => {
    await db.sql(`
      BEGIN;
      INSERT INTO ${SEED}.person (id, "nameFirstName", "nameLastName", "emailsPrimaryEmail", "jobTitle", "position", "createdAt", "updatedAt")
        VALUES ('11111111-1111-4111-8111-111111111111', 'Ada', 'Lovelace', 'ada@example.com', 'Engineer', 1, '2024-05-01 09:00:00+00', '2024-05-01 09:00:00+00');
      INSERT INTO ${SEED}._pet (id, name, "createdAt") VALUES ('22222222-2222-4222-8222-222222222222', 'Rex', '2024-05-01 09:00:00.25+00');
      COMMIT;`);
    const [created, pet] = await next(2);
    const ada = {
      id: '11111111-1111-4111-8111-111111111111',
      nameFirstName: 'Ada',
      nameLastName: 'Lovelace',
      emailsPrimaryEmail: 'ada@example.com',
      jobTitle: 'Engineer',
      position: 1,
      createdAt: '2024-05-01T09:00:00.000Z',
      updatedAt: '2024-05-01T09:00:00.000Z',
      deletedAt: null,
    };
    expect(created).toMatchObject({
      operation: 'person.created',
      workspaceId: SEED_WORKSPACE,
      schema: SEED,
      table: 'person',
      record: ada,
      previousRecord: null,
      updatedFields: null,
    });
    expect(created?.unavailableFields).toBeUndefined();
    expect(pet).toMatchObject({
      operation: 'pet.created',
      workspaceId: SEED_WORKSPACE,
      table: '_pet',
      record: { id: '22222222-2222-4222-8222-222222222222', name: 'Rex', createdAt: '2024-05-01T09:00:00.250Z', deletedAt: null },
    });
    // One transaction: one commit position; each change's id derives from its own WAL record on this cluster.
    expect(pet?.commitLsn).toBe(created?.commitLsn);
    expect(pet?.commitTime).toBe(created?.commitTime);
    const [cluster] = await db.sql<{ systemId: string; timeline: number }>(
      'SELECT system_identifier::text AS "systemId", (SELECT timeline_id FROM pg_control_checkpoint()) AS timeline FROM pg_control_system()',
    );
    const idAt = (event: TailedEvent | undefined) => eventId({ systemId: cluster!.systemId, timeline: cluster!.timeline, lsn: parseLsn(event?.changeLsn ?? ''), index: 0 });
    expect(parseLsn(pet?.changeLsn ?? '')).toBeGreaterThan(parseLsn(created?.changeLsn ?? ''));
    expect(parseLsn(pet?.commitLsn ?? '')).toBeGreaterThan(parseLsn(pet?.changeLsn ?? ''));
    expect(created?.id).toBe(idAt(created));
    expect(pet?.id).toBe(idAt(pet));
    expect(created?.id).toMatch(UUID_V5);
    expect(created?.commitTime).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}(\d{3})?Z$/);
    const commitTime = Date.parse(created?.commitTime ?? '');
    expect(commitTime).toBeGreaterThanOrEqual(startedAt - 1000);
    expect(commitTime).toBeLessThanOrEqual(Date.now() + 1000);

    const where = `WHERE id = '${ada.id}'`;
    await db.sql(`UPDATE ${SEED}.person SET "jobTitle" = 'CTO', "updatedAt" = '2024-05-02 10:00:00+00' ${where}`);
    await db.sql(`UPDATE ${SEED}.person SET "deletedAt" = '2024-05-03 11:00:00.123456+00' ${where}`);
    await db.sql(`UPDATE ${SEED}.person SET "deletedAt" = NULL ${where}`);
    await db.sql(`DELETE FROM ${SEED}.person ${where}`);
    const [updated, deleted, restored, destroyed] = await next(4);

    const promoted = { ...ada, jobTitle: 'CTO', updatedAt: '2024-05-02T10:00:00.000Z' };
    const softDeleted = { ...promoted, deletedAt: '2024-05-03T11:00:00.123456Z' };
    expect(updated).toMatchObject({ operation: 'person.updated', record: promoted, previousRecord: ada, updatedFields: ['jobTitle', 'updatedAt'] });
    expect(deleted).toMatchObject({ operation: 'person.deleted', record: softDeleted, previousRecord: promoted, updatedFields: ['deletedAt'] });
    expect(restored).toMatchObject({ operation: 'person.restored', record: promoted, previousRecord: softDeleted, updatedFields: ['deletedAt'] });
    expect(destroyed).toMatchObject({ operation: 'person.destroyed', record: promoted, previousRecord: promoted, updatedFields: null });
    const positions = [created, updated, deleted, restored, destroyed].map((event) => parseLsn(event?.commitLsn ?? ''));
    expect(positions).toStrictEqual([...positions].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
    expect(new Set(positions).size).toBe(positions.length);
  });

  it('without a soft-delete column (WALHOOK_EVENTS_SOFT_DELETE_COLUMN=""), a DELETE is person.deleted and setting deletedAt an update', async () => {
    const hardDeletes = await startTestTail(db.url, { WALHOOK_EVENTS_SOFT_DELETE_COLUMN: '' });
    try {
      const id = '33333333-3333-4333-8333-333333333333';
      await db.sql(`INSERT INTO ${SEED}.person (id, "nameFirstName") VALUES ('${id}', 'Grace')`);
      await db.sql(`UPDATE ${SEED}.person SET "deletedAt" = '2024-06-01 00:00:00+00' WHERE id = '${id}'`);
      await db.sql(`DELETE FROM ${SEED}.person WHERE id = '${id}'`);
      const operations = (events: TailedEvent[]) => events.map((event) => event.operation);
      expect(operations(await hardDeletes.waitForEvents(3))).toStrictEqual(['person.created', 'person.updated', 'person.deleted']);
      expect(operations(await next(3))).toStrictEqual(['person.created', 'person.deleted', 'person.destroyed']);
    } finally {
      await hardDeletes.stop();
    }
  });

  it('sends the key only as previousRecord with REPLICA IDENTITY DEFAULT, the full row with FULL', async () => {
    const id = '44444444-4444-4444-8444-444444444444';
    const row = { id, name: 'Acme', employees: 10, createdAt: '2024-01-01T00:00:00.000Z', deletedAt: null };
    const where = `WHERE id = '${id}'`;
    await db.sql(`INSERT INTO ${SEED}.company (id, name, employees, "createdAt") VALUES ('${id}', 'Acme', 10, '2024-01-01 00:00:00+00')`);
    await db.sql(`UPDATE ${SEED}.company SET employees = 11 ${where}`);
    await db.sql(`DELETE FROM ${SEED}.company ${where}`);
    const [, updated, destroyed] = await next(3);
    expect(updated).toMatchObject({ operation: 'company.updated', record: { ...row, employees: 11 }, previousRecord: { id } });
    // No old image: what changed is unknown, and updatedFields says so (null) instead of listing every column.
    expect(updated?.updatedFields).toBeNull();
    // With only the key known, a delete's record is the key.
    expect(destroyed).toMatchObject({ operation: 'company.destroyed', record: { id }, previousRecord: { id } });

    await db.sql(`ALTER TABLE ${SEED}.company REPLICA IDENTITY FULL`);
    await db.sql(`INSERT INTO ${SEED}.company (id, name, employees, "createdAt") VALUES ('${id}', 'Acme', 10, '2024-01-01 00:00:00+00')`);
    await db.sql(`UPDATE ${SEED}.company SET employees = 11 ${where}`);
    await db.sql(`DELETE FROM ${SEED}.company ${where}`);
    const [, updatedFull, destroyedFull] = await next(3);
    expect(updatedFull).toMatchObject({ operation: 'company.updated', record: { ...row, employees: 11 }, previousRecord: row, updatedFields: ['employees'] });
    expect(destroyedFull).toMatchObject({
      operation: 'company.destroyed',
      record: { ...row, employees: 11 },
      previousRecord: { ...row, employees: 11 },
    });
  });

  it('turns every common PostgreSQL type into the JSON of its value', async () => {
    await db.sql(`INSERT INTO ${SEED}._specimen VALUES (
      'c0a80101-0000-4000-8000-000000000001',
      32767, -2147483648, 9007199254740993,
      12.3400, 1.5, 'NaN',
      1.5, 3.141592653589793, 'NaN', '-Infinity',
      true, E'Zoë 🦄 </script><script>alert(1)</script> "quoted" \\\\ back\\nline\\u2028', 'varchar', 'ab', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
      '2024-02-29', '13:45:56.123456', '13:45:56+05:30', '2024-03-04 10:30:00.5', '2024-03-04 10:30:00.123456+02', '1 year 2 mons 3 days 04:05:06.7',
      '{"b": 1, "a": [1, 2.50]}', '{"z": {"y": [1, {"x": null}]}, "a": "ü"}', '\\xdeadbeef00',
      '192.168.0.1/24', '10.0.0.0/8', '08:00:2b:01:02:03', 1234.56,
      'happy', '{happy,sad}',
      '{1,2,NULL,-3}', ARRAY['a', NULL, 'NULL', 'say "hi"', 'back\\slash', 'comma,here', '', '{braces}'],
      ARRAY['{"a": 1}', '[true, null]']::jsonb[], '{{1,2},{3,4}}', '{t,f}', '{"2024-01-01 00:00:00+00",NULL}',
      42, '(1.5,-2)', to_tsvector('simple', 'the quick quick fox'), B'1010', B'101', '<a href="x">t &amp; u</a>',
      '[1.5,2.5)', '[1,10]',
      NULL
    )`);
    const [event] = await next(1);
    expect(event?.operation).toBe('specimen.created');
    const expected = {
      id: 'c0a80101-0000-4000-8000-000000000001',
      small: 32767,
      regular: -2147483648,
      big: '9007199254740993',
      exact: '12.3400',
      price: '1.5000',
      notANumber: 'NaN',
      single: 1.5,
      double: 3.141592653589793,
      floatNaN: 'NaN',
      floatInfinity: '-Infinity',
      flag: true,
      body: 'Zoë 🦄 </script><script>alert(1)</script> "quoted" \\ back\nline\u2028',
      label: 'varchar',
      code: 'ab   ',
      ref: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
      day: '2024-02-29',
      at: '13:45:56.123456',
      atZone: '13:45:56+05:30',
      local: '2024-03-04T10:30:00.500',
      instant: '2024-03-04T08:30:00.123456Z',
      duration: 'P1Y2M3DT4H5M6.7S',
      doc: { b: 1, a: [1, 2.5] },
      nested: { a: 'ü', z: { y: [1, { x: null }] } },
      blob: '3q2+7wA=',
      ip: '192.168.0.1/24',
      net: '10.0.0.0/8',
      mac: '08:00:2b:01:02:03',
      cash: '$1,234.56',
      mood: 'happy',
      moods: ['happy', 'sad'],
      ints: [1, 2, null, -3],
      texts: ['a', null, 'NULL', 'say "hi"', 'back\\slash', 'comma,here', '', '{braces}'],
      docs: [{ a: 1 }, [true, null]],
      grid: [
        [1, 2],
        [3, 4],
      ],
      flags: [true, false],
      stamps: ['2024-01-01T00:00:00.000Z', null],
      positive: 42,
      spot: '(1.5,-2)',
      search: "'fox':4 'quick':2,3 'the':1",
      bits: '1010',
      varbits: '101',
      markup: '<a href="x">t &amp; u</a>',
      numbers: '[1.5,2.5)',
      intRange: '[1,11)',
      missing: null,
    };
    expect(event?.record).toStrictEqual(expected);
    // Columns in table order, as Twenty's records list their fields.
    expect(Object.keys(event?.record ?? {})).toStrictEqual(Object.keys(expected));
  });

  it('leaves an unchanged TOAST value out (and names it) without an old image, and fills it from the old image with FULL', async () => {
    const id = '55555555-5555-4555-8555-555555555555';
    await db.sql(`INSERT INTO ${SEED}.note VALUES ('${id}', 'Minutes', (SELECT string_agg(md5(i::text), '') FROM generate_series(1, 33000) i))`);
    const [created] = await next(1);
    const body = created?.record.bodyV2Markdown;
    expect(typeof body === 'string' && body.length).toBe(33000 * 32);

    await db.sql(`UPDATE ${SEED}.note SET title = 'Minutes v2' WHERE id = '${id}'`);
    const [updated] = await next(1);
    expect(updated).toMatchObject({
      operation: 'note.updated',
      record: { id, title: 'Minutes v2', deletedAt: null },
      previousRecord: { id },
      unavailableFields: ['bodyV2Markdown'],
    });
    expect(updated?.record).not.toHaveProperty('bodyV2Markdown');
    expect(updated?.updatedFields).toBeNull();

    await db.sql(`ALTER TABLE ${SEED}.note REPLICA IDENTITY FULL`);
    await db.sql(`UPDATE ${SEED}.note SET title = 'Minutes v3' WHERE id = '${id}'`);
    const [updatedFull] = await next(1);
    expect(updatedFull).toMatchObject({ operation: 'note.updated', updatedFields: ['title'] });
    expect(updatedFull?.unavailableFields).toBeUndefined();
    expect(updatedFull?.record).toStrictEqual({ id, title: 'Minutes v3', bodyV2Markdown: body, deletedAt: null });
    expect(updatedFull?.previousRecord).toStrictEqual({ id, title: 'Minutes v2', bodyV2Markdown: body, deletedAt: null });
  });

  it('carries a column added by ALTER TABLE between two changes', async () => {
    const id = '66666666-6666-4666-8666-666666666666';
    await db.sql(`INSERT INTO ${SEED}._pet (id, name, "createdAt") VALUES ('${id}', 'Tom', '2024-01-01 00:00:00+00')`);
    await db.sql(`ALTER TABLE ${SEED}._pet ADD COLUMN nickname text, ADD COLUMN legs integer NOT NULL DEFAULT 4`);
    await db.sql(`UPDATE ${SEED}._pet SET nickname = 'Tommy' WHERE id = '${id}'`);
    const [before, after] = await next(2);
    expect(Object.keys(before?.record ?? {})).toStrictEqual(['id', 'name', 'createdAt', 'deletedAt']);
    expect(after).toMatchObject({
      operation: 'pet.updated',
      record: { id, name: 'Tom', createdAt: '2024-01-01T00:00:00.000Z', deletedAt: null, nickname: 'Tommy', legs: 4 },
    });
  });

  it('streams the inserts of a table without primary key, and never makes its UPDATE or DELETE fail', async () => {
    const table = `${SEED}."auditLog"`;
    await db.sql(`INSERT INTO ${table} VALUES ('login', '2024-01-01 00:00:00+00'), ('logout', '2024-01-01 01:00:00+00')`);
    // PostgreSQL rejects these when the table is published for updates/deletes without a replica identity.
    await expect(db.sql(`UPDATE ${table} SET name = 'signin' WHERE name = 'login'`)).resolves.toBeDefined();
    await expect(db.sql(`DELETE FROM ${table} WHERE name = 'logout'`)).resolves.toBeDefined();
    await db.sql(`INSERT INTO ${table} VALUES ('marker', NULL)`);
    const events = await next(3);
    expect(events.map((event) => [event.operation, event.record])).toStrictEqual([
      ['auditLog.created', { name: 'login', happenedAt: '2024-01-01T00:00:00.000Z' }],
      ['auditLog.created', { name: 'logout', happenedAt: '2024-01-01T01:00:00.000Z' }],
      ['auditLog.created', { name: 'marker', happenedAt: null }],
    ]);
  });

  it('gives each workspace schema its own workspaceId, and streams nothing outside the workspaces', async () => {
    await db.sql(`
      BEGIN;
      INSERT INTO ${SEED}.person (id, "nameFirstName") VALUES ('77777777-7777-4777-8777-777777777777', 'Seed');
      INSERT INTO public."workspaceMember" (name) VALUES ('not streamed');
      INSERT INTO ${OTHER}.person (id, "nameFirstName") VALUES ('88888888-8888-4888-8888-888888888888', 'Other');
      COMMIT;`);
    const events = await next(2);
    expect(events.map((event) => [event.workspaceId, event.schema, event.record.nameFirstName])).toStrictEqual([
      [SEED_WORKSPACE, SEED, 'Seed'],
      [OTHER_WORKSPACE, OTHER, 'Other'],
    ]);
  });

  it('sends no row events for TRUNCATE, and keeps streaming after it', async () => {
    await db.sql(`TRUNCATE ${SEED}.person, ${SEED}._pet`);
    await db.sql(`INSERT INTO ${SEED}._pet (id, name) VALUES ('99999999-9999-4999-8999-999999999999', 'After')`);
    const [event] = await next(1);
    expect(event).toMatchObject({ operation: 'pet.created', record: { id: '99999999-9999-4999-8999-999999999999', name: 'After' } });
    expect(pgoutput.logs.filter((line) => line.msg === 'TRUNCATE seen: not turned into row events')).toHaveLength(2);
  });

  it.skipIf(wal2jsonMissing !== null)('gives the same events through wal2json as through pgoutput', async () => {
    // Types, a multi-row transaction, an update and a delete of their own, on top of everything the tests above changed.
    await db.sql(`
      BEGIN;
      INSERT INTO ${SEED}._specimen (id, big, exact, single, double, instant, stamps, nested, texts, blob, missing)
        SELECT ('c0a80101-0000-4000-8000-00000000000' || i)::uuid, 9223372036854775807 - i, 0.10 * i, i / 3.0, i / 7.0,
               '2024-03-04 10:30:00.000001+00'::timestamptz + i * interval '1 day', ARRAY[now()], jsonb_build_object('n', i),
               ARRAY[repeat('x', i)], '\\x00ff', NULL
          FROM generate_series(2, 4) i;
      UPDATE ${SEED}._specimen SET flag = false, "floatInfinity" = 'Infinity' WHERE id = 'c0a80101-0000-4000-8000-000000000001';
      DELETE FROM ${SEED}._specimen WHERE id = 'c0a80101-0000-4000-8000-000000000002';
      COMMIT;`);
    await next(5);
    const all = pgoutput.events;
    await waitFor(() => (wal2json?.events.length ?? 0) >= all.length, `${all.length} wal2json events`);
    const other = wal2json?.events ?? [];
    expect(other).toHaveLength(all.length);
    for (const [index, event] of all.entries()) {
      expect.soft(other[index], `event ${index} (${event.operation})`).toStrictEqual(asWal2jsonWrites(event));
    }
    expect(wal2json?.logs.filter((line) => line.level === 'error')).toStrictEqual([]);
  });

  it('logs no error', () => {
    expect(pgoutput.logs.filter((line) => line.level === 'error')).toStrictEqual([]);
  });
});

describe('walhook tail (the built CLI)', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase('cdc_cli');
    await db.sql(`CREATE SCHEMA ${SEED}; CREATE TABLE ${SEED}.person ${PERSON_TABLE};`);
  });

  afterAll(async () => {
    await db?.drop();
  });

  /** `walhook tail` as a child process, resolved once its slot is streaming. */
  async function spawnTail() {
    const child = spawn(process.execPath, [CLI, 'tail'], {
      env: { PATH: process.env.PATH ?? '', WALHOOK_DATABASE_URL: db.url },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const output = { stdout: '', stderr: '' };
    child.stdout.on('data', (chunk: Buffer) => (output.stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (output.stderr += chunk.toString('utf8')));
    await waitFor(async () => {
      if (child.exitCode !== null) throw new Error(`walhook tail exited with ${child.exitCode}: ${output.stderr}`);
      return (await listTailSlots(db.url)).some((slot) => slot.activePid !== null);
    }, "the tail's slot to be streaming");
    const [slot] = await listTailSlots(db.url);
    if (!slot) throw new Error('no tail slot');
    return { child, exited, output, slot: slot.name };
  }

  const tailPublications = () => db.sql('SELECT pubname FROM pg_publication WHERE pubname LIKE $1', ['walhook\\_tail\\_%']);

  it('prints a JSON line per change and drops its temporary slot on SIGINT', async () => {
    const { child, exited, output } = await spawnTail();
    try {
      await db.sql(`INSERT INTO ${SEED}.person (id, "nameFirstName") VALUES ('11111111-1111-4111-8111-111111111111', 'Ada')`);
      // Complete lines only; event lines are those with an operation (pino's log lines are JSON too).
      const eventLines = () =>
        output.stdout
          .split('\n')
          .slice(0, -1)
          .map((line) => JSON.parse(line) as Record<string, unknown>)
          .filter((line) => 'operation' in line);
      await waitFor(() => eventLines().length > 0, 'an event line on stdout');
      expect(eventLines()).toMatchObject([
        {
          operation: 'person.created',
          workspaceId: SEED_WORKSPACE,
          record: { id: '11111111-1111-4111-8111-111111111111', nameFirstName: 'Ada', deletedAt: null },
          previousRecord: null,
        },
      ]);

      child.kill('SIGINT');
      expect(await exited).toBe(0);
      expect(await listTailSlots(db.url)).toStrictEqual([]);
      expect(await tailPublications()).toStrictEqual([]);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('cleans up on SIGHUP, as when its terminal closes', async () => {
    const { child, exited } = await spawnTail();
    try {
      child.kill('SIGHUP');
      expect(await exited).toBe(0);
      expect(await listTailSlots(db.url)).toStrictEqual([]);
      expect(await tailPublications()).toStrictEqual([]);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('leaves no slot behind when killed with SIGKILL, and the next session drops its publications', async () => {
    const slotsBefore = await db.sql('SELECT slot_name FROM pg_replication_slots');
    const { child, exited, slot } = await spawnTail();
    child.kill('SIGKILL');
    await exited;
    // The server drops a temporary slot as soon as it sees the connection gone.
    await waitFor(async () => (await db.sql('SELECT slot_name FROM pg_replication_slots')).length === slotsBefore.length, 'the slot count back to before');
    expect(await tailPublications()).toStrictEqual([{ pubname: slot }, { pubname: `${slot}_inserts` }]);

    const next = await startTestTail(db.url);
    expect(await tailPublications()).toStrictEqual([{ pubname: next.slotName }, { pubname: `${next.slotName}_inserts` }]);
    await next.stop();
    expect(await tailPublications(), `what the session logged: ${JSON.stringify(next.logs)}`).toStrictEqual([]);
    expect(await db.sql('SELECT slot_name FROM pg_replication_slots')).toStrictEqual(slotsBefore);
  });
});
