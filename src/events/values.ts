/**
 * PostgreSQL text output → JSON that keeps the value's meaning.
 *
 * The replication connection runs with DateStyle=ISO, TimeZone=UTC,
 * IntervalStyle=iso_8601 and extra_float_digits=3, so most types already print
 * in a JSON-friendly way; only the types below need converting. Anything this
 * module does not know (enums, ranges, geometric, network and custom types) is
 * passed on as PostgreSQL printed it, which is never wrong, only less typed.
 */
import { parse as parseArrayText } from 'postgres-array';
import type { ColumnType } from '../source/types.js';
import type { JsonValue } from './types.js';

/** One row of `SELECT oid, typname, typelem, typcategory, typtype, typbasetype FROM pg_type` (pg parses oid columns to numbers). */
export interface PgTypeRow {
  oid: number;
  typname: string;
  /** Element type of an array type, else 0. */
  typelem: number;
  /** 'A' for arrays, see the pg_type docs for the rest. */
  typcategory: string;
  /** 'b' base, 'd' domain, 'e' enum, 'c' composite, 'r' range, 'm' multirange, 'p' pseudo. */
  typtype: string;
  /** Type a domain is defined over, else 0. */
  typbasetype: number;
}

export interface TypeCatalog {
  readonly types: ReadonlyMap<number, PgTypeRow>;
}

/** A raw column value as the source hands it over (`undefined`, unchanged TOAST, is the mapping's business). */
export type RawValue = string | boolean | null;

export type TextDecoder = (text: string) => JsonValue;

/**
 * Built-in types as [typname, oid, array oid, typcategory]. Their OIDs are
 * fixed in every PostgreSQL release, so decoding works before (or without)
 * reading pg_type; rows read from the server only add custom types.
 */
const BUILTIN_TYPES: ReadonlyArray<readonly [string, number, number, string]> = [
  ['bool', 16, 1000, 'B'],
  ['bytea', 17, 1001, 'U'],
  ['char', 18, 1002, 'Z'],
  ['name', 19, 1003, 'S'],
  ['int8', 20, 1016, 'N'],
  ['int2', 21, 1005, 'N'],
  ['int4', 23, 1007, 'N'],
  ['text', 25, 1009, 'S'],
  ['oid', 26, 1028, 'N'],
  ['json', 114, 199, 'U'],
  ['xml', 142, 143, 'U'],
  ['point', 600, 1017, 'G'],
  ['lseg', 601, 1018, 'G'],
  ['path', 602, 1019, 'G'],
  ['box', 603, 1020, 'G'],
  ['polygon', 604, 1027, 'G'],
  ['line', 628, 629, 'G'],
  ['cidr', 650, 651, 'I'],
  ['float4', 700, 1021, 'N'],
  ['float8', 701, 1022, 'N'],
  ['circle', 718, 719, 'G'],
  ['macaddr8', 774, 775, 'U'],
  ['money', 790, 791, 'N'],
  ['macaddr', 829, 1040, 'U'],
  ['inet', 869, 1041, 'I'],
  ['bpchar', 1042, 1014, 'S'],
  ['varchar', 1043, 1015, 'S'],
  ['date', 1082, 1182, 'D'],
  ['time', 1083, 1183, 'D'],
  ['timestamp', 1114, 1115, 'D'],
  ['timestamptz', 1184, 1185, 'D'],
  ['interval', 1186, 1187, 'T'],
  ['timetz', 1266, 1270, 'D'],
  ['bit', 1560, 1561, 'V'],
  ['varbit', 1562, 1563, 'V'],
  ['numeric', 1700, 1231, 'N'],
  ['uuid', 2950, 2951, 'U'],
  ['tsvector', 3614, 3643, 'U'],
  ['tsquery', 3615, 3645, 'U'],
  ['jsonb', 3802, 3807, 'U'],
  ['int4range', 3904, 3905, 'R'],
  ['numrange', 3906, 3907, 'R'],
  ['tsrange', 3908, 3909, 'R'],
  ['tstzrange', 3910, 3911, 'R'],
  ['daterange', 3912, 3913, 'R'],
  ['int8range', 3926, 3927, 'R'],
  ['jsonpath', 4072, 4073, 'U'],
  ['xid8', 5069, 271, 'U'],
];

function builtinRows(): PgTypeRow[] {
  return BUILTIN_TYPES.flatMap(([typname, oid, arrayOid, typcategory]) => {
    const typtype = typcategory === 'R' ? 'r' : 'b';
    return [
      { oid, typname, typelem: 0, typcategory, typtype, typbasetype: 0 },
      { oid: arrayOid, typname: `_${typname}`, typelem: oid, typcategory: 'A', typtype: 'b', typbasetype: 0 },
    ];
  });
}

/** A catalog of the built-in types plus `rows` (read from pg_type; they win on conflict). */
export function typeCatalogFromRows(rows: readonly PgTypeRow[]): TypeCatalog {
  const types = new Map<number, PgTypeRow>();
  for (const row of [...builtinRows(), ...rows]) types.set(row.oid, row);
  return { types };
}

export const BUILTIN_TYPE_CATALOG: TypeCatalog = typeCatalogFromRows([]);

/** Converts one column value to JSON according to its type. */
export function decodeValue(raw: RawValue, type: ColumnType, catalog: TypeCatalog): JsonValue {
  return decodeWith(decoderFor(type, catalog), raw);
}

/** Converts a value with its column's decoder (see `columnDecoders`). */
export function decodeWith(decoder: TextDecoder, raw: RawValue): JsonValue {
  if (raw === null || typeof raw === 'boolean') return raw;
  return decoder(raw);
}

/** Per catalog, per column list (a table's, which the source keeps for as long as the table is unchanged): its decoders. */
const decodersByCatalog = new WeakMap<TypeCatalog, WeakMap<readonly { type: ColumnType }[], readonly TextDecoder[]>>();

/** The decoder of each of `columns`, in order: resolved once per column list and catalog, not once per value. */
export function columnDecoders(columns: readonly { type: ColumnType }[], catalog: TypeCatalog): readonly TextDecoder[] {
  let byColumns = decodersByCatalog.get(catalog);
  if (!byColumns) {
    byColumns = new WeakMap();
    decodersByCatalog.set(catalog, byColumns);
  }
  let decoders = byColumns.get(columns);
  if (!decoders) {
    decoders = columns.map(({ type }) => decoderFor(type, catalog));
    byColumns.set(columns, decoders);
  }
  return decoders;
}

// ---------------------------------------------------------------- scalars

const keepText: TextDecoder = (text) => text;

const FLOAT_SPECIALS = new Set(['NaN', 'Infinity', '-Infinity']);

/** Decoders by internal type name; every other type keeps its text. */
const SCALAR_DECODERS: ReadonlyMap<string, TextDecoder> = new Map<string, TextDecoder>([
  ['bool', decodeBool],
  ['int2', Number],
  ['int4', Number],
  ['oid', Number],
  // int8 and numeric do not fit a double: the text is the exact value (trailing zeros and 'NaN' included).
  ['int8', keepText],
  ['numeric', keepText],
  ['float4', decodeFloat],
  ['float8', decodeFloat],
  // Numbers inside json/jsonb follow JS number semantics: beyond double precision
  // (e.g. 12345678901234567890) they are rounded, and jsonb's `2.50` becomes 2.5.
  // Re-serialising is still required: the body must survive
  // JSON.stringify(JSON.parse(body)) byte for byte, which PostgreSQL's spaced text would not.
  ['json', JSON.parse],
  ['jsonb', JSON.parse],
  ['timestamptz', (text) => formatTimestamp(text, true)],
  ['timestamp', (text) => formatTimestamp(text, false)],
  ['bytea', decodeBytea],
]);

/** SQL-standard spellings (as wal2json and format_type print them) of the types that have a decoder. */
const SQL_TYPE_NAMES: ReadonlyMap<string, string> = new Map([
  ['boolean', 'bool'],
  ['smallint', 'int2'],
  ['integer', 'int4'],
  ['int', 'int4'],
  ['bigint', 'int8'],
  ['decimal', 'numeric'],
  ['real', 'float4'],
  ['double precision', 'float8'],
  ['timestamp with time zone', 'timestamptz'],
  ['timestamp without time zone', 'timestamp'],
]);

function decodeBool(text: string): JsonValue {
  if (text === 't' || text === 'true') return true;
  if (text === 'f' || text === 'false') return false;
  return text;
}

function decodeFloat(text: string): JsonValue {
  return FLOAT_SPECIALS.has(text) ? text : Number(text);
}

function decodeBytea(text: string): string {
  if (text.startsWith('\\x')) return Buffer.from(text.slice(2), 'hex').toString('base64');
  return decodeByteaEscape(text).toString('base64');
}

/** The older `bytea_output = escape` format: `\\` is a backslash, `\ooo` an octal byte, the rest literal bytes. */
function decodeByteaEscape(text: string): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '\\' && text[i + 1] === '\\') {
      bytes.push(0x5c);
      i++;
    } else if (text[i] === '\\') {
      bytes.push(parseInt(text.slice(i + 1, i + 4), 8));
      i += 3;
    } else {
      bytes.push(text.charCodeAt(i));
    }
  }
  return Buffer.from(bytes);
}

// ------------------------------------------------------------- timestamps

/** ISO DateStyle: `2024-03-04 10:30:00.123456+05:30`, offset `+HH[:MM[:SS]]` (timestamptz only), optional ` BC`. */
const TIMESTAMP_TEXT =
  /^(\d{4,})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?(?:([+-])(\d{2})(?::?(\d{2}))?(?::?(\d{2}))?)?( BC)?$/;

/** A four-digit year AD, in UTC (`+00`) or without a zone. */
const UTC_TIMESTAMP_TEXT = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})(?:\.(\d{1,6}))?(\+00)?$/;

/**
 * `2024-03-04 05:00:00.5+00` → `2024-03-04T05:00:00.500Z` (or without `Z` for
 * a timestamp without time zone). Millisecond precision like toISOString,
 * except that non-zero microseconds are kept as six digits. What ISO 8601 in
 * JS cannot express (infinity, BC, years past 9999) stays PostgreSQL's text.
 */
function formatTimestamp(text: string, withZone: boolean): string {
  // What the replication session (TimeZone=UTC) prints for every year 1–9999: rewritten as text, no Date built.
  const utc = UTC_TIMESTAMP_TEXT.exec(text);
  if (utc && (utc[4] !== undefined) === withZone) {
    const digits = (utc[3] ?? '').padEnd(6, '0');
    const microseconds = digits.slice(3);
    return `${utc[1]}T${utc[2]}.${digits.slice(0, 3)}${microseconds === '000' ? '' : microseconds}${withZone ? 'Z' : ''}`;
  }
  const match = TIMESTAMP_TEXT.exec(text);
  if (!match || match[12] !== undefined) return text;
  const [, year, month, day, hour, minute, second, fraction = '', sign, offsetH, offsetM, offsetS] = match;
  if (sign !== undefined && !withZone) return text;
  const digits = fraction.padEnd(6, '0');
  const offsetSeconds =
    sign === undefined ? 0 : (sign === '-' ? -1 : 1) * (Number(offsetH) * 3600 + Number(offsetM ?? 0) * 60 + Number(offsetS ?? 0));

  const date = new Date(0);
  // setUTCFullYear, unlike Date.UTC, does not read years 0–99 as 1900–1999.
  date.setUTCFullYear(Number(year), Number(month) - 1, Number(day));
  date.setUTCHours(Number(hour), Number(minute), Number(second) - offsetSeconds, Number(digits.slice(0, 3)));
  const utcYear = date.getUTCFullYear();
  if (Number.isNaN(utcYear) || utcYear < 1 || utcYear > 9999) return text;

  const iso = date.toISOString();
  const microseconds = digits.slice(3);
  const precise = microseconds === '000' ? iso.slice(0, 23) : `${iso.slice(0, 23)}${microseconds}`;
  return withZone ? `${precise}Z` : precise;
}

// ----------------------------------------------------------------- arrays

function arrayDecoder(element: TextDecoder): TextDecoder {
  return (text) => {
    // int2vector and oidvector are category 'A' too but print space-separated, without braces.
    if (!text.startsWith('{') && !text.startsWith('[')) return text;
    return parseArrayText(text, element) as JsonValue[];
  };
}

// ------------------------------------------------------------ resolution

/** How a type decodes: through the catalog when it knows the OID, else from the type's name. */
function decoderFor(type: ColumnType, catalog: TypeCatalog): TextDecoder {
  const row = catalog.types.get(type.oid);
  if (row) return decoderForRow(row, catalog);
  return type.name === null ? keepText : decoderForName(type.name);
}

function decoderForRow(row: PgTypeRow, catalog: TypeCatalog): TextDecoder {
  if (row.typtype === 'd') {
    const base = catalog.types.get(row.typbasetype);
    return base ? decoderForRow(base, catalog) : keepText;
  }
  if (row.typcategory === 'A' && row.typelem !== 0) {
    const element = catalog.types.get(row.typelem);
    // box is the one type whose array delimiter is ';', which the array parser does not read.
    if (element?.typname === 'box') return keepText;
    return arrayDecoder(element ? decoderForRow(element, catalog) : keepText);
  }
  if (row.typtype !== 'b') return keepText;
  return SCALAR_DECODERS.get(row.typname) ?? keepText;
}

/**
 * For an OID the catalog does not hold: `integer[]` / `_int4` are arrays,
 * `pg_catalog.timestamp(3) with time zone` is timestamptz, and so on.
 */
function decoderForName(name: string): TextDecoder {
  const plain = name
    .replace(/\(\d+(,\s*\d+)?\)/g, '')
    .replace(/^pg_catalog\./, '')
    .trim()
    .toLowerCase();
  if (plain.endsWith('[]')) return arrayDecoder(decoderForName(plain.slice(0, -2)));
  if (plain.startsWith('_')) return arrayDecoder(decoderForName(plain.slice(1)));
  return SCALAR_DECODERS.get(SQL_TYPE_NAMES.get(plain) ?? plain) ?? keepText;
}
