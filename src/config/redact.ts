/**
 * Secrets out of anything printed: the schema marks which keys are secrets
 * (webhook secrets, the API token, the encryption key) and which are
 * connection URLs whose password is.
 */
import type { z } from 'zod';
import { fieldInfo } from './fields.js';
import { childSchema, unwrapKey } from './keys.js';
import { configSchema, type WalhookConfig } from './schema.js';
import { isPlainObject } from './tree.js';

export const REDACTED = '[redacted]';

const SCHEME_AND_USER = /^([a-z][a-z0-9+.-]*:\/\/[^:/@?#]*):/i;

/**
 * `postgres://crm:hunter2@db/crm?sslpassword=x` → `postgres://crm:[redacted]@db/crm?sslpassword=[redacted]`.
 * A password may hold `@ / ? #` (written unencoded it no longer parses as a URL, which is just when the
 * text gets printed in an error), so everything from the user's `:` to the last `@` is masked: a few
 * characters too many rather than one of the password.
 */
export function maskUrlPassword(url: string): string {
  const user = SCHEME_AND_USER.exec(url);
  const lastAt = url.lastIndexOf('@');
  const masked = user && lastAt >= user[0].length ? `${user[0]}${REDACTED}${url.slice(lastAt)}` : url;
  return masked.replace(/([?&](?:ssl)?password=)[^&#]*/gi, `$1${REDACTED}`);
}

/** A copy of `value` (which sits where `schema` applies) with every secret in it masked. */
export function redactValue(value: unknown, schema: z.core.$ZodType | undefined): unknown {
  const mask = schema && fieldInfo.get(unwrapKey(schema).inner)?.mask;
  if (mask === 'value') return value === undefined || value === null ? value : REDACTED;
  if (mask === 'password') return typeof value === 'string' ? maskUrlPassword(value) : value;
  if (Array.isArray(value)) return value.map((item, index) => redactValue(item, childSchema(schema, index)));
  if (isPlainObject(value)) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, redactValue(item, childSchema(schema, key))]));
  }
  return value;
}

/** The configuration as it may be logged or printed. */
export function redactConfig(config: WalhookConfig): Record<string, unknown> {
  return redactValue(config, configSchema) as Record<string, unknown>;
}
