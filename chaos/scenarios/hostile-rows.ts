/**
 * Hostile rows while the stream runs: every built-in type (extreme values
 * and NULLs included), 10 MB TOAST values (and an update that leaves one
 * unchanged), a table without a primary key (only its inserts are streamed;
 * its updates must keep working on the CRM), ALTER TABLE mid-stream (add,
 * drop, retype, rename), TRUNCATE, and one 100 k-row transaction. Every
 * change must arrive, in a body the receiver verifies.
 */
import { WORKSPACE_SCHEMA } from '../../test/harness/crm.js';
import type { TestDatabase } from '../../test/harness/database.js';
import { writePersons } from '../../bench/lib/writers.js';
import { closeBed, openBed, runCourse, sleep, type ChaosScenario } from '../lib/bed.js';

const S = WORKSPACE_SCHEMA;

const TABLES = `
  CREATE TYPE ${S}.mood AS ENUM ('sad', 'ok', 'happy');
  CREATE DOMAIN ${S}.positive_int AS integer CHECK (VALUE > 0);
  CREATE TYPE ${S}.money_amount AS ("amountMicros" bigint, "currencyCode" text);
  CREATE TABLE ${S}.every_type (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    c_bool boolean, c_int2 smallint, c_int4 integer, c_int8 bigint, c_numeric numeric, c_float4 real, c_float8 double precision,
    c_money money, c_char char(3), c_varchar varchar(20), c_text text, c_name name, c_bytea bytea,
    c_date date, c_time time, c_timetz timetz, c_timestamp timestamp, c_timestamptz timestamptz, c_interval interval,
    c_uuid uuid, c_json json, c_jsonb jsonb, c_jsonpath jsonpath, c_xml xml,
    c_inet inet, c_cidr cidr, c_macaddr macaddr, c_macaddr8 macaddr8,
    c_point point, c_line line, c_lseg lseg, c_box box, c_path path, c_polygon polygon, c_circle circle,
    c_bit bit(4), c_varbit varbit(8), c_tsvector tsvector, c_tsquery tsquery,
    c_int4range int4range, c_int8range int8range, c_numrange numrange, c_tsrange tsrange, c_tstzrange tstzrange, c_daterange daterange,
    c_int4multirange int4multirange, c_oid oid, c_pg_lsn pg_lsn, c_regclass regclass,
    c_enum ${S}.mood, c_domain ${S}.positive_int, c_composite ${S}.money_amount,
    c_int_array integer[], c_text_array text[], c_matrix integer[][], c_jsonb_array jsonb[], c_enum_array ${S}.mood[]
  );
  CREATE TABLE ${S}.attachment (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), name text, content text);
  CREATE TABLE ${S}.no_key (id uuid DEFAULT gen_random_uuid(), note text);
  CREATE TABLE ${S}.evolving (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), a integer);
  CREATE TABLE ${S}.scratch (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), n integer);`;

const EVERY_TYPE_ROWS = `
  INSERT INTO ${S}.every_type (
    c_bool, c_int2, c_int4, c_int8, c_numeric, c_float4, c_float8, c_money, c_char, c_varchar, c_text, c_name, c_bytea,
    c_date, c_time, c_timetz, c_timestamp, c_timestamptz, c_interval, c_uuid, c_json, c_jsonb, c_jsonpath, c_xml,
    c_inet, c_cidr, c_macaddr, c_macaddr8, c_point, c_line, c_lseg, c_box, c_path, c_polygon, c_circle,
    c_bit, c_varbit, c_tsvector, c_tsquery, c_int4range, c_int8range, c_numrange, c_tsrange, c_tstzrange, c_daterange,
    c_int4multirange, c_oid, c_pg_lsn, c_regclass, c_enum, c_domain, c_composite,
    c_int_array, c_text_array, c_matrix, c_jsonb_array, c_enum_array)
  VALUES
   (true, -32768, 2147483647, 9223372036854775807, 123456789012345678901234567890.123456789, 'NaN', 'Infinity', '-92233720368547758.08', 'ab ', 'café ☕', E'quote " backslash \\\\ tab \\t newline \\n 😀 \\u2028', 'name', '\\x00ff10',
    '-infinity', '24:00:00', '23:59:59.999999+14', 'infinity', '2024-02-29 23:59:59.999999+00', '-178000000 years 1 microsecond',
    '00000000-0000-0000-0000-000000000000', '{"b": 1, "a": [1.0, 1e400], "dup": 1, "dup": 2}', '{"big": 12345678901234567890, "float": 0.1, "nested": {"x": null}}',
    '$.a[*] ? (@ > 1)', '<a x="1">text &amp; more</a>',
    '::ffff:10.0.0.1', '10.0.0.0/8', '08:00:2b:01:02:03', '08:00:2b:01:02:03:04:05', '(1.5,-2)', '{1,-1,0}', '[(0,0),(1,1)]', '((1,1),(0,0))',
    '[(0,0),(1,1),(2,0)]', '((0,0),(1,1),(1,0))', '<(0,0),1.5>',
    B'1010', B'101', 'a fat cat sat on a mat', 'fat & (rat | cat)', '[1,10)', '(,)', '[-1.5,2.5]', '["2024-01-01 00:00","infinity")',
    '[2024-01-01 00:00+00,2024-06-01 00:00+00)', 'empty',
    '{[1,3), [5,7)}', 4294967295, 'FFFFFFFF/FFFFFFFF', 'pg_class', 'happy', 2147483647, ROW(-9223372036854775808, 'EUR'),
    '{1,NULL,3}', '{"with,comma","with \\"quote\\"",NULL,""}', '{{1,2},{3,4}}', ARRAY['{"a": 1}'::jsonb, 'null'::jsonb], '{sad,happy}'),
   (false, 0, 0, -9223372036854775808, '-Infinity', '-0', 1.7976931348623157e308, 0, '', '', '', '', '\\x',
    'infinity', '00:00', '00:00-12', '-infinity', '-infinity', 'PT0S', gen_random_uuid(), 'null', '[]', '$', '',
    '::', '::/0', '00:00:00:00:00:00', '00:00:00:00:00:00:00:00', '(0,0)', '{0,1,0}', '[(0,0),(0,0)]', '((0,0),(0,0))',
    '((0,0))', '((0,0))', '<(0,0),0>', B'0000', B'', '', 'a', 'empty', 'empty', 'empty', 'empty', 'empty', 'empty',
    '{}', 0, '0/0', '-', 'sad', 1, ROW(NULL, NULL), '{}', '{}', '{}', '{}', '{}')`;

/** Writes every kind of hostile row; returns the ids of the rows a TRUNCATE removed after their inserts. */
async function writeHostileRows(db: TestDatabase, largeValueBytes: number, bigTransactionRows: number, progress: (m: string) => void): Promise<string[]> {
  progress('every built-in type');
  await db.sql(EVERY_TYPE_ROWS);
  await db.sql(`INSERT INTO ${S}.every_type DEFAULT VALUES`);

  progress(`TOAST values of ${largeValueBytes / 1024 / 1024} MB`);
  // md5 hex of random numbers: barely compressible, so the value really is stored out of line.
  const large = `(SELECT string_agg(md5(random()::text), '') FROM generate_series(1, ${Math.ceil(largeValueBytes / 32)}))`;
  await db.sql(`INSERT INTO ${S}.attachment (name, content) SELECT 'large-' || i, ${large} FROM generate_series(1, 2) AS i`);
  await db.sql(`UPDATE ${S}.attachment SET name = 'renamed' WHERE name = 'large-1'`);

  progress('a table without a primary key');
  await db.sql(`INSERT INTO ${S}.no_key (note) SELECT 'row ' || i FROM generate_series(1, 20) AS i`);
  await db.sql(`UPDATE ${S}.no_key SET note = 'updated'`);

  progress('ALTER TABLE mid-stream');
  const alterations = [
    `ALTER TABLE ${S}.evolving ADD COLUMN b text DEFAULT 'added'`,
    `ALTER TABLE ${S}.evolving DROP COLUMN a`,
    `ALTER TABLE ${S}.evolving ALTER COLUMN b TYPE varchar(100)`,
    `ALTER TABLE ${S}.evolving RENAME COLUMN b TO c`,
    `ALTER TABLE ${S}.evolving ADD COLUMN d jsonb NOT NULL DEFAULT '{"k": 1}'`,
  ];
  await db.sql(`INSERT INTO ${S}.evolving DEFAULT VALUES`);
  for (const alteration of alterations) {
    await db.sql(alteration);
    await db.sql(`INSERT INTO ${S}.evolving DEFAULT VALUES`);
    await sleep(200);
  }

  progress('TRUNCATE');
  const truncated = await db.sql<{ id: string }>(`INSERT INTO ${S}.scratch (n) SELECT i FROM generate_series(1, 10) AS i RETURNING id`);
  await db.sql(`TRUNCATE ${S}.scratch`);
  await db.sql(`INSERT INTO ${S}.scratch (n) SELECT i FROM generate_series(11, 20) AS i`);

  progress(`one ${bigTransactionRows}-row transaction`);
  await writePersons(db, { count: bigTransactionRows, from: 1_000_000, perTransaction: bigTransactionRows });
  return truncated.map((row) => row.id);
}

export const hostileRows: ChaosScenario = {
  name: 'hostile-rows',
  async run(env) {
    const largeValueBytes = (env.scale === 'ci' ? 2 : 10) * 1024 * 1024;
    const bigTransactionRows = env.scale === 'ci' ? 5_000 : 100_000;
    const db = await env.crmDatabase('chaos_hostile');
    await db.sql(TABLES);
    const bed = await openBed(env, db, { walhook: { delivery: { maxPayloadBytes: '64MB' } } });
    // Ids of scratch rows before the TRUNCATE: their inserts were streamed, the rows are gone.
    const truncated: string[] = [];
    try {
      return await runCourse(bed, {
        scenario: 'hostile rows',
        fault: `every type, ${largeValueBytes / 1024 / 1024} MB TOAST, no PK, ALTER TABLE, TRUNCATE, ${bigTransactionRows / 1000}k-row txn`,
        ratePerSecond: 100,
        async inject() {
          await sleep(1_000);
          truncated.push(...(await writeHostileRows(db, largeValueBytes, bigTransactionRows, env.progress)));
          await sleep(1_000);
        },
        async otherChanges() {
          const ids = async (table: string) => (await db.sql<{ id: string }>(`SELECT id FROM ${S}.${table}`)).map((row) => row.id);
          const created = (table: string, list: string[]) => list.map((id) => `${table}.created:${id}`);
          const [renamed] = await db.sql<{ id: string }>(`SELECT id FROM ${S}.attachment WHERE name = 'renamed'`);
          return [
            ...created('every_type', await ids('every_type')),
            ...created('attachment', await ids('attachment')),
            `attachment.updated:${renamed?.id}`,
            ...created('no_key', await ids('no_key')),
            ...created('evolving', await ids('evolving')),
            ...created('scratch', [...(await ids('scratch')), ...truncated]),
          ];
        },
        settleTimeoutMs: 180_000,
      });
    } finally {
      await closeBed(bed);
    }
  },
};
