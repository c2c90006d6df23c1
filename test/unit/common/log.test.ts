import { describe, expect, it } from 'vitest';
import { createLogger, loggableUrl } from '../../../src/common/log.js';

/** A logger writing into memory, and its lines parsed. */
function capture(level = 'info') {
  const lines: string[] = [];
  const logger = createLogger(level, { write: (line: string) => lines.push(line) });
  return { logger, lines, parsed: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>) };
}

const SECRET = 'whsec-0123456789abcdef-not-for-logs';

describe('createLogger', () => {
  it.each([
    ['a secret', { secret: SECRET }],
    ['signing secrets', { secrets: [SECRET, `${SECRET}-old`] }],
    ["a webhook's secret", { webhook: { id: 'w1', secret: SECRET } }],
    ["a webhook's secrets", { webhook: { id: 'w1', secrets: [SECRET] } }],
    ['an API token', { token: SECRET }],
    ['a token inside an object', { api: { token: SECRET } }],
    ['the encryption key', { encryptionKey: SECRET }],
    ['a nested encryption key', { config: { encryptionKey: SECRET } }],
    ['a password', { password: SECRET }],
    ['a connection password', { connection: { user: 'crm', password: SECRET } }],
    ['an Authorization header', { headers: { authorization: `Bearer ${SECRET}` } }],
    ['an Authorization header spelt capitalised', { headers: { Authorization: `Bearer ${SECRET}` } }],
    ["a request's Authorization header", { req: { headers: { authorization: `Bearer ${SECRET}` } } }],
    ["an outgoing request's Authorization header", { request: { headers: { Authorization: `Bearer ${SECRET}` } } }],
  ])('redacts %s', (_case, fields) => {
    const { logger, lines } = capture();
    logger.info(fields, 'something happened');
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toContain(SECRET);
    expect(lines[0]).toContain('[redacted]');
  });

  it('keeps ids as fields and adds the component of a child logger', () => {
    const { logger, parsed } = capture();
    logger.child({ component: 'delivery' }).warn(
      { webhookId: 'w1', deliveryId: 'd1', eventId: 'e1', commitLsn: '0/16B3748', headers: { 'content-type': 'application/json' } },
      'delivery attempt failed',
    );
    const [line] = parsed();
    expect(line).toMatchObject({
      level: 'warn',
      service: 'walhook',
      component: 'delivery',
      webhookId: 'w1',
      deliveryId: 'd1',
      eventId: 'e1',
      commitLsn: '0/16B3748',
      headers: { 'content-type': 'application/json' },
      msg: 'delivery attempt failed',
    });
    expect(new Date(line!.time as string).toISOString()).toBe(line!.time);
  });

  it('logs nothing below its level', () => {
    const { logger, parsed } = capture('warn');
    logger.info('not shown');
    logger.debug('not shown either');
    logger.error({ slot: 'walhook' }, 'shown');
    expect(parsed().map((line) => [line.level, line.msg])).toEqual([['error', 'shown']]);
  });
});

describe('loggableUrl', () => {
  it('keeps only the origin: Slack and Discord webhook URLs carry their token in the path', () => {
    const slack = 'https://hooks.slack.com/services/T0AAAAAAA/B0BBBBBBB/slackTokenInPath0123456789';
    const discord = 'https://discord.com/api/webhooks/123456789012345678/discordTokenInPath-abc_DEF?wait=true#x';
    expect(loggableUrl(slack)).toBe('https://hooks.slack.com/…');
    expect(loggableUrl(discord)).toBe('https://discord.com/…');
    expect(loggableUrl('https://user:pass@crm.example.com:8443/hook?token=t')).toBe('https://crm.example.com:8443/…');
    expect(loggableUrl('https://crm.example.com')).toBe('https://crm.example.com');
    expect(loggableUrl('not a url slackTokenInPath')).toBe('[unparsable URL]');
  });
});
