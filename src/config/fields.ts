/**
 * Building blocks of the configuration schema: value kinds that zod has no
 * name for (durations, sizes, listen addresses…), each with the sentence an
 * error message puts after "expected", and the marks that tell the rest of
 * the package how to show a value (its type name in the reference, whether it
 * is a secret).
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { InvalidOperationError, parseOperationPattern } from '../common/operations.js';
import { BYTE_SIZE_FORMAT, DURATION_FORMAT, parseByteSize, parseDuration } from './units.js';

export interface FieldInfo {
  /** Type name shown in the reference where the schema's structure does not say it (parsed text). */
  type?: string;
  /** `value`: the whole value is a secret; `password`: a connection URL whose password is. */
  mask?: 'value' | 'password';
}

export const fieldInfo = z.registry<FieldInfo>();

/**
 * A field read from a YAML scalar by `parse`, which throws on what it does not
 * accept. Every scalar that is not plain text is one of these, so it reads the
 * same from YAML, from `${VAR}` interpolation and from an environment variable
 * (which hand over `"8"` and `"true"` where YAML gives `8` and `true`).
 */
function parsedField<T>(info: FieldInfo & { type: string }, expected: string, parse: (value: string | number) => T) {
  return z
    .unknown()
    .transform((value, ctx) => {
      try {
        if (typeof value === 'string' || typeof value === 'number') return parse(value);
        if (typeof value === 'boolean') return parse(String(value));
      } catch {
        // reported below, with the sentence the whole config uses for this kind of value
      }
      ctx.addIssue({ code: 'custom', message: expected });
      return z.NEVER;
    })
    .register(fieldInfo, info);
}

function positive(value: number): number {
  if (value <= 0) throw new RangeError('not positive');
  return value;
}

export const duration = () =>
  parsedField({ type: 'duration' }, `a positive ${DURATION_FORMAT}`, (value) => positive(parseDuration(value)));

export const byteSize = () =>
  parsedField({ type: 'size' }, `a positive ${BYTE_SIZE_FORMAT}`, (value) => positive(parseByteSize(value)));

export const wholeNumber = (minimum: number) =>
  parsedField({ type: 'integer' }, `a whole number of at least ${minimum}`, (value) => {
    const number = typeof value === 'number' ? value : /^\d+$/.test(value.trim()) ? Number(value) : NaN;
    if (!Number.isSafeInteger(number) || number < minimum) throw new RangeError('out of range');
    return number;
  });

export const flag = () =>
  parsedField({ type: 'boolean' }, 'true or false', (value) => {
    if (value === 'true' || value === 'false') return value === 'true';
    throw new RangeError('not a boolean');
  });

export interface ListenAddress {
  host: string;
  port: number;
}

const LISTEN_ADDRESS = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/;

export const listenAddress = () =>
  parsedField({ type: 'host:port' }, 'host:port such as 127.0.0.1:8080, 0.0.0.0:8080 or [::1]:8080', (value): ListenAddress => {
    const match = LISTEN_ADDRESS.exec(String(value));
    const port = Number(match?.[3]);
    if (!match || port > 65_535) throw new RangeError('not host:port');
    return { host: match[1] ?? match[2] ?? '', port };
  });

const HEX_KEY = /^[0-9a-fA-F]{64}$/;
const BASE64_KEY = /^[A-Za-z0-9+/]{43}=?$|^[A-Za-z0-9_-]{43}=?$/;

/** 32 bytes, written as hex or base64 (standard or URL-safe); decoded here so no consumer guesses the encoding again. */
export const encryptionKey = () =>
  parsedField(
    { type: '32-byte key', mask: 'value' },
    '32 random bytes as 64 hex characters or as base64 (openssl rand -base64 32)',
    (value) => {
      const text = String(value);
      if (HEX_KEY.test(text)) return Buffer.from(text, 'hex');
      if (BASE64_KEY.test(text)) return Buffer.from(text, 'base64');
      throw new RangeError('not a 32-byte key');
    },
  );

/** A number or boolean where text belongs is most likely a YAML value that wanted quotes. */
export function withQuoteHint(expected: string, input: unknown): string {
  return typeof input === 'number' || typeof input === 'boolean' ? `${expected} (put it in quotes)` : expected;
}

/** A string field whose every error reads `expected`. */
function textField(expected: string) {
  return z.string({ error: (issue) => (issue.code === 'invalid_type' ? withQuoteHint(expected, issue.input) : expected) });
}

function parseUrl(text: string): URL | undefined {
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
}

function isPostgresUrl(text: string): boolean {
  return ['postgres:', 'postgresql:'].includes(parseUrl(text)?.protocol ?? '');
}

export const connectionUrl = () => {
  const expected = 'a PostgreSQL connection URL such as postgres://user:password@host:5432/database';
  return textField(expected)
    .refine(isPostgresUrl, expected)
    .register(fieldInfo, { type: 'connection URL', mask: 'password' });
};

function isWebUrl(text: string): boolean {
  const url = parseUrl(text);
  return url !== undefined && ['http:', 'https:'].includes(url.protocol) && url.hostname !== '';
}

export const webUrl = () => {
  const expected = 'an http:// or https:// URL';
  return textField(expected).refine(isWebUrl, expected).register(fieldInfo, { type: 'URL' });
};

export const secretText = (minimumLength: number) => {
  const expected = `a secret of at least ${minimumLength} characters`;
  return textField(expected).min(minimumLength, expected).register(fieldInfo, { type: 'secret', mask: 'value' });
};

// Slot names allow only these characters; publications and schemas are held to the same rule so no name needs quoting.
export const postgresName = () =>
  z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'a lower-case PostgreSQL name: a-z, 0-9 and _, not starting with a digit, at most 63 characters');

export const tableReference = () =>
  z.string().regex(/^[^.\s"]+\.[^.\s"]+$/, 'a table as schema.table, such as workspace_abc.person');

export const objectName = () =>
  z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an object name of letters, digits and _, such as person or opportunity');

/** Checked by the parser matching uses, so the file accepts exactly the operations that can match. */
export const operationPattern = () =>
  z.string().superRefine((text, ctx) => {
    try {
      parseOperationPattern(text);
    } catch (error) {
      if (!(error instanceof InvalidOperationError)) throw error;
      ctx.addIssue({ code: 'custom', message: error.expected });
    }
  });

function compilesWithCaptureGroup(pattern: string): boolean {
  try {
    // An alternative that matches the empty string reveals how many groups the pattern has.
    return (new RegExp(`${pattern}|`).exec('')?.length ?? 0) > 1;
  } catch {
    return false;
  }
}

export const capturingRegex = () =>
  z
    .string()
    .refine(compilesWithCaptureGroup, 'a regular expression with a capture group, such as ^workspace_(.+)$')
    .register(fieldInfo, { type: 'regular expression' });

function isCidrOrHost(text: string): boolean {
  const [address = '', prefix, ...rest] = text.split('/');
  const family = isIP(address);
  if (prefix === undefined) return family !== 0 || /^(?=.{1,253}$)[a-z0-9-]+(\.[a-z0-9-]+)*$/i.test(address);
  return rest.length === 0 && family !== 0 && /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}

export const cidrOrHost = () =>
  z.string().refine(isCidrOrHost, 'a CIDR block (10.0.0.0/8, fd00::/8), an IP address or a host name');
