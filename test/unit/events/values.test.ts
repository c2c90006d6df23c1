import { describe, expect, it } from 'vitest';
import type { ColumnType } from '../../../src/source/types.js';
import type { JsonValue } from '../../../src/events/types.js';
import {
  BUILTIN_TYPE_CATALOG,
  decodeValue,
  typeCatalogFromRows,
  type PgTypeRow,
} from '../../../src/events/values.js';

const byOid = (oid: number): ColumnType => ({ oid, name: null });
const decode = (raw: string | boolean | null, oid: number): JsonValue =>
  decodeValue(raw, byOid(oid), BUILTIN_TYPE_CATALOG);

// Raw values are PostgreSQL 15 text output under DateStyle=ISO, TimeZone=UTC, IntervalStyle=iso_8601, extra_float_digits=3.
const MATRIX: Array<[type: string, oid: number, raw: string | boolean, expected: JsonValue]> = [
  ['bool t', 16, 't', true],
  ['bool f', 16, 'f', false],
  ['bool from wal2json', 16, false, false],
  ['int2', 21, '-32768', -32768],
  ['int4', 23, '2147483647', 2147483647],
  ['oid', 26, '4294967295', 4294967295],
  ['int8 beyond 2^53', 20, '9007199254740993', '9007199254740993'],
  ['numeric keeps trailing zeros', 1700, '1.50', '1.50'],
  ['numeric NaN', 1700, 'NaN', 'NaN'],
  ['float4', 700, '1.1', 1.1],
  ['float8', 701, '0.1', 0.1],
  ['float8 exponent', 701, '1e+300', 1e300],
  ['float8 NaN', 701, 'NaN', 'NaN'],
  ['float4 -Infinity', 700, '-Infinity', '-Infinity'],
  ['float8 Infinity', 701, 'Infinity', 'Infinity'],
  ['text', 25, 'héllo "world"', 'héllo "world"'],
  ['varchar', 1043, 'abc', 'abc'],
  ['bpchar keeps padding', 1042, 'ab  ', 'ab  '],
  ['name', 19, 'pg_class', 'pg_class'],
  ['uuid', 2950, '20202020-f8b2-4c1f-a19e-5ec5c9e1d8d2', '20202020-f8b2-4c1f-a19e-5ec5c9e1d8d2'],
  ['date', 1082, '2024-03-04', '2024-03-04'],
  ['time', 1083, '10:30:00.123456', '10:30:00.123456'],
  ['timetz', 1266, '12:00:00+05:30', '12:00:00+05:30'],
  ['interval (iso_8601)', 1186, 'P1DT2H3.5S', 'P1DT2H3.5S'],
  ['inet', 869, '192.168.0.1/24', '192.168.0.1/24'],
  ['cidr', 650, '10.0.0.0/8', '10.0.0.0/8'],
  ['macaddr', 829, '08:00:2b:01:02:03', '08:00:2b:01:02:03'],
  ['money', 790, '$1,000.00', '$1,000.00'],
  ['xml', 142, '<a>1</a>', '<a>1</a>'],
  ['bit', 1560, '101', '101'],
  ['tsvector', 3614, "'cat':1 'fat':2", "'cat':1 'fat':2"],
  ['point', 600, '(1,2)', '(1,2)'],
  ['int4range', 3904, '[1,10)', '[1,10)'],
  ['bytea hex', 17, '\\x0a0bff', Buffer.from([0x0a, 0x0b, 0xff]).toString('base64')],
  ['bytea empty', 17, '\\x', ''],
  ['bytea escape format', 17, 'a\\\\b\\000\\377', Buffer.from([0x61, 0x5c, 0x62, 0x00, 0xff]).toString('base64')],
  ['timestamptz whole seconds', 1184, '2024-03-04 10:30:00+00', '2024-03-04T10:30:00.000Z'],
  ['timestamptz milliseconds', 1184, '2024-03-04 10:30:00.5+00', '2024-03-04T10:30:00.500Z'],
  ['timestamptz microseconds', 1184, '2024-03-04 05:00:00.123456+00', '2024-03-04T05:00:00.123456Z'],
  ['timestamptz offset +05:30 and µs', 1184, '2024-03-04 16:00:00.000001+05:30', '2024-03-04T10:30:00.000001Z'],
  ['timestamptz offset -03', 1184, '2024-03-04 07:30:00-03', '2024-03-04T10:30:00.000Z'],
  ['timestamptz offset with seconds', 1184, '1900-03-04 06:59:08-03:30:52', '1900-03-04T10:30:00.000Z'],
  ['timestamptz crossing a day', 1184, '2024-01-01 00:30:00+01', '2023-12-31T23:30:00.000Z'],
  ['timestamptz year 1', 1184, '0001-01-01 00:00:00+00', '0001-01-01T00:00:00.000Z'],
  ['timestamptz infinity', 1184, 'infinity', 'infinity'],
  ['timestamptz -infinity', 1184, '-infinity', '-infinity'],
  ['timestamptz 5-digit year', 1184, '12344-12-31 21:00:00-03', '12344-12-31 21:00:00-03'],
  ['timestamptz BC', 1184, '0044-03-15 08:53:32-03:06:28 BC', '0044-03-15 08:53:32-03:06:28 BC'],
  ['timestamptz before year 1 in UTC', 1184, '0001-01-01 00:00:00+05', '0001-01-01 00:00:00+05'],
  ['timestamp', 1114, '2024-03-04 10:30:00', '2024-03-04T10:30:00.000'],
  ['timestamp µs', 1114, '2024-03-04 10:30:00.12345', '2024-03-04T10:30:00.123450'],
  ['timestamp year 0044', 1114, '0044-03-15 12:00:00', '0044-03-15T12:00:00.000'],
  ['timestamp infinity', 1114, 'infinity', 'infinity'],
  ['int4[] with NULL', 1007, '{1,NULL,3}', [1, null, 3]],
  ['int4[] with bounds', 1007, '[0:1]={5,6}', [5, 6]],
  ['empty int4[]', 1007, '{}', []],
  ['2-D int4[]', 1007, '{{1,2},{3,4}}', [[1, 2], [3, 4]]],
  ['text[] with NULL, quotes, "NULL", empty, backslash, braces', 1009, '{"a \\"q\\"",NULL,"NULL","","b\\\\c","{x}"}', ['a "q"', null, 'NULL', '', 'b\\c', '{x}']],
  ['int8[]', 1016, '{9007199254740993,-1}', ['9007199254740993', '-1']],
  ['bool[]', 1000, '{t,f,NULL}', [true, false, null]],
  ['bytea[]', 1001, '{"\\\\x0102",NULL}', [Buffer.from([1, 2]).toString('base64'), null]],
  ['jsonb[]', 3807, '{"{\\"a\\": 1}"}', [{ a: 1 }]],
  ['timestamptz[]', 1185, '{"2024-03-04 07:30:00-03"}', ['2024-03-04T10:30:00.000Z']],
  ['box[] keeps text (";" delimiter)', 1020, '{(1,1),(0,0);(3,3),(2,2)}', '{(1,1),(0,0);(3,3),(2,2)}'],
  ['unknown OID keeps text', 987654, 'whatever (1,2)', 'whatever (1,2)'],
];

describe('decodeValue', () => {
  it.each(MATRIX)('%s', (_type, oid, raw, expected) => {
    expect(decode(raw, oid)).toStrictEqual(expected);
  });

  it('covers at least 25 distinct types', () => {
    expect(new Set(MATRIX.map(([, oid]) => oid)).size).toBeGreaterThanOrEqual(25);
  });

  it('passes SQL NULL through as null for every type', () => {
    for (const [, oid] of MATRIX) expect(decode(null, oid)).toBeNull();
  });

  it('formats timestamptz like Date#toISOString when there are no microseconds', () => {
    const text = '2031-07-09 23:59:59.999+00';
    expect(decode(text, 1184)).toBe(new Date('2031-07-09T23:59:59.999Z').toISOString());
  });

  describe('json and jsonb', () => {
    const body = '{"a": [1, 2.50, {"b": null}], "s": "</script> 😀 é \\u00e9 \\"q\\"", "n": 12345678901234567890}';

    it.each([
      ['json', 114],
      ['jsonb', 3802],
    ])('%s is parsed, not passed on as text', (_name, oid) => {
      const value = decode(body, oid);
      expect(value).toStrictEqual({
        a: [1, 2.5, { b: null }],
        s: '</script> 😀 é é "q"',
        // Beyond double precision: JS number semantics (documented).
        n: 12345678901234567000,
      });
    });

    it('re-serialises canonically, so the body survives JSON.stringify(JSON.parse(body))', () => {
      const serialised = JSON.stringify({ record: { data: decode(body, 3802) } });
      expect(serialised).not.toContain('": ');
      expect(JSON.stringify(JSON.parse(serialised))).toBe(serialised);
    });

    it('keeps JSON scalars and arrays at the top level', () => {
      expect(decode('"x"', 3802)).toBe('x');
      expect(decode('[1, "2", null]', 3802)).toStrictEqual([1, '2', null]);
      expect(decode('null', 3802)).toBeNull();
    });
  });

  describe('by type name when the catalog does not know the OID', () => {
    it.each<[string, string, JsonValue]>([
      ['integer', '42', 42],
      ['bigint', '9007199254740993', '9007199254740993'],
      ['numeric(10,2)', '1.50', '1.50'],
      ['double precision', 'NaN', 'NaN'],
      ['boolean', 't', true],
      ['timestamp with time zone', '2024-03-04 10:30:00+00', '2024-03-04T10:30:00.000Z'],
      ['timestamp(3) without time zone', '2024-03-04 10:30:00.5', '2024-03-04T10:30:00.500'],
      ['pg_catalog.jsonb', '{"a": 1}', { a: 1 }],
      ['integer[]', '{1,NULL}', [1, null]],
      ['_int4', '{{1},{2}}', [[1], [2]]],
      ['character varying(255)[]', '{a,"b c"}', ['a', 'b c']],
      ['public.mood', 'happy', 'happy'],
      ['public.mood[]', '{happy,sad}', ['happy', 'sad']],
    ])('%s', (name, raw, expected) => {
      expect(decodeValue(raw, { oid: 0, name }, BUILTIN_TYPE_CATALOG)).toStrictEqual(expected);
    });
  });

  describe('custom types from pg_type rows', () => {
    const rows: PgTypeRow[] = [
      { oid: 16385, typname: 'mood', typelem: 0, typcategory: 'E', typtype: 'e', typbasetype: 0 },
      { oid: 16384, typname: '_mood', typelem: 16385, typcategory: 'A', typtype: 'b', typbasetype: 0 },
      { oid: 16390, typname: 'money_amount', typelem: 0, typcategory: 'N', typtype: 'd', typbasetype: 1700 },
      { oid: 16391, typname: '_money_amount', typelem: 16390, typcategory: 'A', typtype: 'b', typbasetype: 0 },
      { oid: 16392, typname: 'positive_ints', typelem: 0, typcategory: 'A', typtype: 'd', typbasetype: 1007 },
      { oid: 16393, typname: 'flag', typelem: 0, typcategory: 'B', typtype: 'd', typbasetype: 16 },
      { oid: 16394, typname: 'orphan', typelem: 0, typcategory: 'N', typtype: 'd', typbasetype: 99999 },
      { oid: 16395, typname: 'address', typelem: 0, typcategory: 'C', typtype: 'c', typbasetype: 0 },
    ];
    const catalog = typeCatalogFromRows(rows);
    const decodeCustom = (raw: string, oid: number): JsonValue => decodeValue(raw, { oid, name: null }, catalog);

    it('decodes an enum array element by element', () => {
      expect(decodeCustom('{happy,NULL,"very sad"}', 16384)).toStrictEqual(['happy', null, 'very sad']);
      expect(decodeCustom('happy', 16385)).toBe('happy');
    });

    it('decodes a domain with its base type', () => {
      expect(decodeCustom('12.30', 16390)).toBe('12.30');
      expect(decodeCustom('t', 16393)).toBe(true);
      expect(decodeCustom('{1,2}', 16392)).toStrictEqual([1, 2]);
    });

    it('decodes an array of a domain with the base type of its elements', () => {
      expect(decodeCustom('{1.0,NULL}', 16391)).toStrictEqual(['1.0', null]);
    });

    it('keeps the text of a domain over an unknown base and of a composite', () => {
      expect(decodeCustom('t', 16394)).toBe('t');
      expect(decodeCustom('("1 Main St",Paris)', 16395)).toBe('("1 Main St",Paris)');
    });

    it('without the rows, the same OIDs fall back to text', () => {
      expect(decodeValue('{happy}', { oid: 16384, name: null }, BUILTIN_TYPE_CATALOG)).toBe('{happy}');
    });

    it('rows from the server win over the built-in ones', () => {
      const overridden = typeCatalogFromRows([
        { oid: 23, typname: 'text', typelem: 0, typcategory: 'S', typtype: 'b', typbasetype: 0 },
      ]);
      expect(decodeValue('42', { oid: 23, name: null }, overridden)).toBe('42');
    });
  });
});
