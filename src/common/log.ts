/**
 * Structured logs: pino JSON, one event per line, a `component` field per
 * stage, ids (webhook, event, LSN) as fields. Secrets and credentials are
 * redacted wherever they appear under the usual names.
 */
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

export const REDACTED_PATHS = [
  'secret',
  'secrets',
  '*.secret',
  '*.secrets',
  'token',
  '*.token',
  'encryptionKey',
  '*.encryptionKey',
  'password',
  '*.password',
  'headers.authorization',
  'headers.Authorization',
  '*.headers.authorization',
  '*.headers.Authorization',
  'req.headers.authorization',
];

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'walhook' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}

/** A target URL as it may be logged: the origin only, never credentials, a path or a query, any of which may carry a token. */
export function loggableUrl(url: string): string {
  try {
    // The path may be the credential (Slack, Discord and many others put the token there): only the origin is logged.
    const parsed = new URL(url);
    return parsed.pathname === '/' ? parsed.origin : `${parsed.origin}/…`;
  } catch {
    return '[unparsable URL]';
  }
}
