import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, resolveConfig, unknownEnvVariables } from '../../../src/config/index.js';
import { interpolateText } from '../../../src/config/interpolate.js';
import { InvalidOperationError, parseOperationPattern } from '../../../src/common/operations.js';

const DATABASE_URL = 'postgres://walhook@127.0.0.1:5432/crm';
const ONLY_DATABASE_URL = { WALHOOK_DATABASE_URL: DATABASE_URL };

function problemLines(run: () => unknown): string[] {
  try {
    run();
  } catch (error) {
    if (error instanceof ConfigError) return error.message.split('\n').slice(1);
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('interpolateText', () => {
  it('replaces set variables, anywhere in the string', () => {
    expect(interpolateText('postgres://${USER}@${HOST}:5432/crm', { USER: 'crm', HOST: 'db' })).toEqual({
      text: 'postgres://crm@db:5432/crm',
    });
  });

  it('takes the default when the variable is unset or empty, like the shell', () => {
    expect(interpolateText('${MISSING:-fallback}', {})).toEqual({ text: 'fallback' });
    expect(interpolateText('${EMPTY:-fallback}', { EMPTY: '' })).toEqual({ text: 'fallback' });
    expect(interpolateText('${EMPTY}', { EMPTY: '' })).toEqual({ text: '' });
    expect(interpolateText('${SET:-fallback}', { SET: 'value' })).toEqual({ text: 'value' });
  });

  it('names the first variable that is unset without a default', () => {
    expect(interpolateText('${A}-${B}', {})).toEqual({ unsetVariable: 'A' });
  });

  it('writes $${ as a literal ${ and refuses a malformed reference', () => {
    expect(interpolateText('$${HOME}', { HOME: '/root' })).toEqual({ text: '${HOME}' });
    expect(interpolateText('${1ABC}', {})).toEqual({ malformed: true });
    expect(interpolateText('${OPEN', {})).toEqual({ malformed: true });
  });
});

describe('interpolation in the config', () => {
  it('fills string values of the file from the environment', () => {
    const config = resolveConfig(
      { database: { url: '${CRM_URL}' }, source: { slot: '${SLOT:-crm_slot}' }, delivery: { userAgent: 'walhook/${VERSION}' } },
      { CRM_URL: DATABASE_URL, VERSION: '1.2.3' },
    );
    expect(config.database.url).toBe(DATABASE_URL);
    expect(config.source.slot).toBe('crm_slot');
    expect(config.delivery.userAgent).toBe('walhook/1.2.3');
  });

  it('lets interpolated text fill numbers, booleans and durations', () => {
    const config = resolveConfig(
      { delivery: { concurrency: '${CONCURRENCY:-4}', ssrfGuard: '${GUARD}', timeout: '${TIMEOUT}' } },
      { ...ONLY_DATABASE_URL, GUARD: 'false', TIMEOUT: '5s' },
    );
    expect(config.delivery.concurrency).toBe(4);
    expect(config.delivery.ssrfGuard).toBe(false);
    expect(config.delivery.timeout).toBe(5000);
  });

  it('fails on a variable that is unset and has no default, naming the key and the variable', () => {
    const lines = problemLines(() => resolveConfig({ source: { slot: '${SLOT_NAME}' } }, ONLY_DATABASE_URL));
    expect(lines).toEqual([
      'source.slot: got "${SLOT_NAME}" — expected environment variable SLOT_NAME to be set, or a default: ${SLOT_NAME:-value}',
    ]);
  });

  it('reports a malformed reference with the key', () => {
    const lines = problemLines(() => resolveConfig({ delivery: { userAgent: 'x ${not valid}' } }, ONLY_DATABASE_URL));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^delivery\.userAgent: got "x \$\{not valid\}" — expected \$\{NAME\} or \$\{NAME:-default\}/);
  });

  it('cannot inject YAML structure: a variable holding a list stays a string', () => {
    const lines = problemLines(() =>
      resolveConfig({ source: { schemas: '${SCHEMAS}' } }, { ...ONLY_DATABASE_URL, SCHEMAS: '[public, crm]' }),
    );
    expect(lines).toEqual(['source.schemas: got "[public, crm]" — expected a list']);
  });

  it('leaves keys set by their environment variable alone: neither their file value nor the env value is interpolated', () => {
    const config = resolveConfig(
      { database: { url: '${PG_DATABASE_URL}' }, delivery: { userAgent: 'from file' } },
      { ...ONLY_DATABASE_URL, WALHOOK_DELIVERY_USER_AGENT: 'agent ${NOT_A_REFERENCE}' },
    );
    expect(config.database.url).toBe(DATABASE_URL);
    expect(config.delivery.userAgent).toBe('agent ${NOT_A_REFERENCE}');
  });

  it('masks secrets in interpolation errors too', () => {
    const lines = problemLines(() =>
      resolveConfig({ database: { url: 'postgres://crm:hunter2-secret@db/crm?application_name=${APP}' } }, {}),
    );
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('database.url: got "postgres://crm:[redacted]@db/crm?application_name=${APP}"');
    expect(lines[0]).not.toContain('hunter2-secret');
  });
});

describe('environment variables', () => {
  it('set scalars of every kind, read from text', () => {
    const config = resolveConfig(
      {},
      {
        ...ONLY_DATABASE_URL,
        WALHOOK_SOURCE_SLOT: 'crm_slot',
        WALHOOK_SOURCE_PLUGIN: 'wal2json',
        WALHOOK_SOURCE_CREATE_SLOT: 'false',
        WALHOOK_DELIVERY_CONCURRENCY: '16',
        WALHOOK_DELIVERY_TIMEOUT: '45s',
        WALHOOK_DELIVERY_MAX_PAYLOAD_BYTES: '2MB',
        WALHOOK_API_LISTEN: '[::1]:9090',
      },
    );
    expect(config.source.slot).toBe('crm_slot');
    expect(config.source.plugin).toBe('wal2json');
    expect(config.source.createSlot).toBe(false);
    expect(config.delivery.concurrency).toBe(16);
    expect(config.delivery.timeout).toBe(45_000);
    expect(config.delivery.maxPayloadBytes).toBe(2 * 1024 * 1024);
    expect(config.api.listen).toEqual({ host: '::1', port: 9090 });
  });

  it('set nested keys', () => {
    const config = resolveConfig({}, { ...ONLY_DATABASE_URL, WALHOOK_SOURCE_RECONNECT_MAX_DELAY: '2m' });
    expect(config.source.reconnect.maxDelay).toBe(120_000);
  });

  it('set lists and maps as YAML flow or JSON', () => {
    const webhook = { targetUrl: 'https://hooks.example.com/crm', operations: ['person.*'], secret: 'a-secret-of-24-characters' };
    const config = resolveConfig(
      {},
      {
        ...ONLY_DATABASE_URL,
        WALHOOK_DELIVERY_RETRY_SCHEDULE: '[1s, 2s]',
        WALHOOK_SOURCE_SCHEMAS: '[workspace_*, public]',
        WALHOOK_EVENTS_OBJECT_NAMES: '{"workspace_abc.person": "contact"}',
        WALHOOK_WEBHOOKS: JSON.stringify([webhook]),
      },
    );
    expect(config.delivery.retrySchedule).toEqual([1000, 2000]);
    expect(config.source.schemas).toEqual(['workspace_*', 'public']);
    expect(config.events.objectNames).toEqual({ 'workspace_abc.person': 'contact' });
    expect(config.webhooks).toHaveLength(1);
    expect(config.webhooks[0]).toMatchObject({ ...webhook, format: 'record', description: '' });
  });

  it('beat the file, key by key', () => {
    const config = resolveConfig(
      { source: { slot: 'from_file', publication: 'file_publication' } },
      { ...ONLY_DATABASE_URL, WALHOOK_SOURCE_SLOT: 'from_env' },
    );
    expect(config.source.slot).toBe('from_env');
    expect(config.source.publication).toBe('file_publication');
  });

  it('take text keys verbatim, even where YAML would read a number or a tag', () => {
    const config = resolveConfig({}, { ...ONLY_DATABASE_URL, WALHOOK_API_TOKEN: '0x1234567890abcdef', WALHOOK_DELIVERY_USER_AGENT: '!walhook' });
    expect(config.api.token).toBe('0x1234567890abcdef');
    expect(config.delivery.userAgent).toBe('!walhook');
  });

  it('set the API token and the encryption key (hex or base64)', () => {
    const key = randomBytes(32);
    const fromHex = resolveConfig({}, { ...ONLY_DATABASE_URL, WALHOOK_ENCRYPTION_KEY: key.toString('hex') });
    const fromBase64 = resolveConfig({}, { ...ONLY_DATABASE_URL, WALHOOK_ENCRYPTION_KEY: key.toString('base64') });
    expect(fromHex.encryptionKey?.equals(key)).toBe(true);
    expect(fromBase64.encryptionKey?.equals(key)).toBe(true);
  });

  it('read an empty variable as an empty value: the default, or null where the key allows it', () => {
    const config = resolveConfig(
      { api: { token: 'a-token-from-the-file' } },
      { ...ONLY_DATABASE_URL, WALHOOK_API_TOKEN: '', WALHOOK_SOURCE_SLOT: '', WALHOOK_EVENTS_SOFT_DELETE_COLUMN: '', WALHOOK_WEBHOOKS: '' },
    );
    expect(config.api.token).toBeUndefined();
    expect(config.source.slot).toBe('walhook');
    expect(config.events.softDeleteColumn).toBeNull();
    expect(config.webhooks).toEqual([]);
  });

  it('name the variable when its value is wrong', () => {
    const lines = problemLines(() => resolveConfig({}, { ...ONLY_DATABASE_URL, WALHOOK_DELIVERY_CONCURRENCY: 'lots' }));
    expect(lines).toEqual([
      'delivery.concurrency: got "lots" — expected a whole number of at least 1 (from WALHOOK_DELIVERY_CONCURRENCY)',
    ]);
  });

  it('name the variable when a list is not YAML', () => {
    const lines = problemLines(() => resolveConfig({}, { ...ONLY_DATABASE_URL, WALHOOK_SOURCE_TABLES: '[public.a, ' }));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^source\.tables: got "\[public\.a, " — expected YAML such as \[1m, 5m\] .* \(from WALHOOK_SOURCE_TABLES\)$/);
  });

  it('name the variable for a problem deep inside the list it set', () => {
    const webhooks = JSON.stringify([{ targetUrl: 'ftp://files.example.com', operations: ['*.*'], secret: 'a-secret-of-24-characters' }]);
    const lines = problemLines(() => resolveConfig({}, { ...ONLY_DATABASE_URL, WALHOOK_WEBHOOKS: webhooks }));
    expect(lines).toEqual(['webhooks[0].targetUrl: got "ftp://files.example.com" — expected an http:// or https:// URL (from WALHOOK_WEBHOOKS)']);
  });
});

describe('validation', () => {
  it('requires the database URL and says how to set it', () => {
    const lines = problemLines(() => resolveConfig({}, {}));
    expect(lines).toEqual([
      'database.url: got nothing — expected a PostgreSQL connection URL such as postgres://user:password@host:5432/database (set it in the file or with WALHOOK_DATABASE_URL)',
    ]);
  });

  it('names an empty variable behind a missing required key', () => {
    expect(problemLines(() => resolveConfig({}, { WALHOOK_DATABASE_URL: '' }))).toEqual([
      'database.url: got nothing — expected a PostgreSQL connection URL such as postgres://user:password@host:5432/database (from WALHOOK_DATABASE_URL)',
    ]);
  });

  it('gives path, value and expectation for each kind of problem, all at once', () => {
    const document = {
      source: { plugin: 'decoderbufs', slot: 'Bad-Slot', reconnect: { minDelay: '1m', maxDelay: '1s' } },
      events: { workspacePattern: 'workspace_', objectNames: { person: 'has space' } },
      delivery: { timeout: true, concurrency: 0, maxPayloadBytes: '1XB', allowList: ['10.0.0.0/33'] },
      webhooks: [{ targetUrl: 'https://hooks.example.com', operations: [], secret: 'a-secret-of-24-characters', description: 42, ordering: 'strict' }],
      api: { listen: 8080 },
      log: { level: 'loud' },
    };
    const lines = problemLines(() => resolveConfig(document, ONLY_DATABASE_URL));
    expect(lines).toEqual([
      'source.plugin: got "decoderbufs" — expected one of pgoutput, wal2json',
      'source.slot: got "Bad-Slot" — expected a lower-case PostgreSQL name: a-z, 0-9 and _, not starting with a digit, at most 63 characters',
      'source.reconnect.maxDelay: got "1s" — expected a duration not shorter than source.reconnect.minDelay',
      'events.workspacePattern: got "workspace_" — expected a regular expression with a capture group, such as ^workspace_(.+)$',
      'events.objectNames.person: got "has space" — expected an object name of letters, digits and _, such as person or opportunity',
      'delivery.timeout: got true — expected a positive duration such as 500ms, 30s, 5m, 1h or 1d (a bare number is milliseconds)',
      'delivery.concurrency: got 0 — expected a whole number of at least 1',
      'delivery.maxPayloadBytes: got "1XB" — expected a positive size such as 512kB, 1MB or 1GiB (1kB = 1024 bytes; a bare number is bytes)',
      'delivery.allowList[0]: got "10.0.0.0/33" — expected a CIDR block (10.0.0.0/8, fd00::/8), an IP address or a host name',
      'webhooks[0].operations: got [] — expected at least 1 item',
      'webhooks[0].description: got 42 — expected a string (put it in quotes)',
      'webhooks[0].ordering: got "strict" — expected one of none, record',
      'api.listen: got 8080 — expected host:port such as 127.0.0.1:8080, 0.0.0.0:8080 or [::1]:8080',
      'log.level: got "loud" — expected one of fatal, error, warn, info, debug, trace, silent',
    ]);
  });

  it('takes a positive webhooks[].maxPerSecond and names the key for anything else', () => {
    const webhook = { targetUrl: 'https://hooks.example.com', operations: ['*.*'], secret: 'a-secret-of-24-characters' };
    expect(resolveConfig({ webhooks: [{ ...webhook, maxPerSecond: 0.5 }] }, ONLY_DATABASE_URL).webhooks[0]?.maxPerSecond).toBe(0.5);
    const lines = problemLines(() => resolveConfig({ webhooks: [{ ...webhook, maxPerSecond: 0 }, { ...webhook, maxPerSecond: 'fast' }] }, ONLY_DATABASE_URL));
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^webhooks\[0\]\.maxPerSecond: got 0 — expected a positive number of requests per second/);
    expect(lines[1]).toMatch(/^webhooks\[1\]\.maxPerSecond: got "fast" — expected a positive number of requests per second/);
  });

  it('takes webhooks[].batch with its defaults, and names each wrong key', () => {
    const webhook = { targetUrl: 'https://hooks.example.com', operations: ['*.*'], secret: 'a-secret-of-24-characters' };
    expect(resolveConfig({ webhooks: [{ ...webhook, batch: { maxEvents: 10, linger: '1s' } }] }, ONLY_DATABASE_URL).webhooks[0]?.batch).toEqual({
      maxEvents: 10,
      maxBytes: 1024 ** 2,
      linger: 1_000,
    });
    const lines = problemLines(() =>
      resolveConfig(
        {
          webhooks: [
            { ...webhook, batch: { maxEvents: 0, maxBytes: '10', linger: '2m' } },
            { ...webhook, ordering: 'record', batch: {} },
            { ...webhook, batch: { size: 3 } },
          ],
        },
        ONLY_DATABASE_URL,
      ),
    );
    expect(lines).toHaveLength(5);
    expect(lines[0]).toMatch(/^webhooks\[0\]\.batch\.maxEvents: got 0 — expected a whole number of at least 1/);
    expect(lines[1]).toMatch(/^webhooks\[0\]\.batch\.maxBytes: got "10" — expected a size from 1kB to 1GB/);
    expect(lines[2]).toMatch(/^webhooks\[0\]\.batch\.linger: got "2m" — expected a duration from 1ms to 1m/);
    expect(lines[3]).toMatch(/^webhooks\[1\]\.batch: .*ordering is record/);
    expect(lines[4]).toMatch(/^webhooks\[2\]\.batch/);
  });

  it('refuses a whsec_ webhook secret with fewer than 16 key bytes, without printing it', () => {
    const weak = 'whsec_!!!!!!!!!!!!!!!!!!!!!!!!';
    const webhooks = [{ targetUrl: 'https://hooks.example.com', operations: ['*.*'], secret: weak }];
    const lines = problemLines(() => resolveConfig({ webhooks }, ONLY_DATABASE_URL));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^webhooks\[0\]\.secret: .*base64 of at least 16 bytes/);
    expect(lines[0]).not.toContain('!!!!');
  });

  it('checks webhooks against the delivery limits and each other', () => {
    const webhook = { operations: ['person.created'], secret: 'a-secret-of-24-characters', id: '3f1c8a52-6a7e-4b0e-9d55-2a1f1f0e7c11' };
    const document = {
      delivery: { maxUrlLength: 30 },
      webhooks: [
        { ...webhook, targetUrl: 'https://hooks.example.com/a' },
        { ...webhook, targetUrl: 'https://hooks.example.com/a-much-longer-path' },
      ],
    };
    expect(problemLines(() => resolveConfig(document, ONLY_DATABASE_URL))).toEqual([
      'webhooks[1].targetUrl: got "https://hooks.example.com/a-much-longer-path" — expected a URL of at most 30 characters (delivery.maxUrlLength)',
      'webhooks[1].id: got "3f1c8a52-6a7e-4b0e-9d55-2a1f1f0e7c11" — expected an id no other webhook has',
    ]);
  });

  it('refuses a webhook batch.maxBytes above delivery.maxPayloadBytes rather than lowering it', () => {
    const webhook = { targetUrl: 'https://hooks.example.com/a', operations: ['person.created'], secret: 'a-secret-of-24-characters' };
    const atTheLimit = resolveConfig({ webhooks: [{ ...webhook, batch: { maxBytes: '1MB' } }] }, ONLY_DATABASE_URL);
    expect(atTheLimit.webhooks[0]?.batch?.maxBytes).toBe(1024 ** 2);
    const document = {
      delivery: { maxPayloadBytes: '512kB' },
      webhooks: [
        { ...webhook, batch: { maxBytes: '256kB' } },
        { ...webhook, batch: { maxBytes: '2MB' } },
        { ...webhook, batch: { maxEvents: 10 } },
      ],
    };
    expect(problemLines(() => resolveConfig(document, ONLY_DATABASE_URL))).toEqual([
      'webhooks[1].batch.maxBytes: got "2MB" — expected at most delivery.maxPayloadBytes, 524288 bytes: the payload limit applies to a batch',
      'webhooks[2].batch.maxBytes: got nothing — expected at most delivery.maxPayloadBytes, 524288 bytes: the payload limit applies to a batch (1048576 is also its value when left out)',
    ]);
    // The payload limit from the environment is checked the same way.
    expect(problemLines(() => resolveConfig({ webhooks: [{ ...webhook, batch: { maxBytes: '1MB' } }] }, { ...ONLY_DATABASE_URL, WALHOOK_DELIVERY_MAX_PAYLOAD_BYTES: '64kB' }))).toEqual([
      'webhooks[0].batch.maxBytes: got "1MB" — expected at most delivery.maxPayloadBytes, 65536 bytes: the payload limit applies to a batch (1048576 is also its value when left out)',
    ]);
  });

  it('rejects unknown keys, suggesting the key that was meant', () => {
    const document = { sorce: {}, source: { slto: 'x' }, delivery: { retry_schedule: [] }, api: { colour: 'blue' } };
    expect(problemLines(() => resolveConfig(document, ONLY_DATABASE_URL))).toEqual([
      'source.slto: got "x" — expected a known key: did you mean source.slot?',
      'delivery.retry_schedule: got [] — expected a known key: did you mean delivery.retrySchedule?',
      'api.colour: got "blue" — expected a known key: one of listen, token, opsListen, allowedHosts',
      'sorce: got {} — expected a known key: did you mean source?',
    ]);
  });

  it('reads an empty section as defaults, and null as "off" where the key allows it', () => {
    const config = resolveConfig({ api: null, delivery: { timeout: null }, events: { softDeleteColumn: null } }, ONLY_DATABASE_URL);
    expect(config.api.listen).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(config.delivery.timeout).toBe(30_000);
    expect(config.events.softDeleteColumn).toBeNull();
    expect(resolveConfig({ events: { softDeleteColumn: '' } }, ONLY_DATABASE_URL).events.softDeleteColumn).toBeNull();
  });
});

describe('secrets in error messages', () => {
  const secret = 'short-secret';

  it('are masked: webhook secrets, tokens, keys, database passwords', () => {
    const document = {
      database: { url: 'mysql://crm:db-password-1@db/crm' },
      webhooks: [{ targetUrl: 'https://hooks.example.com', operations: ['*.*'], secret }],
      encryptionKey: 'not-a-key-but-secret',
    };
    const lines = problemLines(() => resolveConfig(document, { WALHOOK_API_TOKEN: 'token-too-short' }));
    expect(lines).toEqual([
      'database.url: got "mysql://crm:[redacted]@db/crm" — expected a PostgreSQL connection URL such as postgres://user:password@host:5432/database',
      'webhooks[0].secret: got "[redacted]" — expected a secret of at least 16 characters',
      'encryptionKey: got "[redacted]" — expected 32 random bytes as 64 hex characters or as base64 (openssl rand -base64 32)',
      'api.token: got "[redacted]" — expected a secret of at least 16 characters (from WALHOOK_API_TOKEN)',
    ]);
  });

  it('are masked under a misspelt key and in a list that is not YAML', () => {
    const webhooks = `[{targetUrl: https://hooks.example.com, secret: ${secret}`;
    const lines = problemLines(() =>
      resolveConfig({ api: { tokne: secret } }, { ...ONLY_DATABASE_URL, WALHOOK_WEBHOOKS: webhooks }),
    );
    expect(lines.join('\n')).not.toContain(secret);
    expect(lines[0]).toMatch(/^webhooks: got "\[redacted\]" — expected YAML/);
    expect(lines[1]).toBe('api.tokne: got "[redacted]" — expected a known key: did you mean api.token?');
  });
});

describe('loadConfig', () => {
  const exampleFile = new URL('../../../config/walhook.yaml', import.meta.url).pathname;

  it('loads the example config with nothing but WALHOOK_DATABASE_URL set', () => {
    const config = loadConfig({ file: exampleFile, env: ONLY_DATABASE_URL });
    expect(config.database.url).toBe(DATABASE_URL);
    expect(config.source.schemas).toEqual(['workspace_*']);
    expect(config.events.softDeleteColumn).toBe('deletedAt');
    expect(config.events.twentyWorkspaceIds).toBe(true);
    expect(new RegExp(config.events.workspacePattern).exec('workspace_1wgvd1injqtife6y4rvfbu3h5')?.[1]).toBe(
      '1wgvd1injqtife6y4rvfbu3h5',
    );
    expect(config.delivery.retrySchedule).toEqual([60_000, 300_000, 900_000, 3_600_000, 21_600_000]);
  });

  it('keeps the example webhook valid: uncommented, it loads', () => {
    const directory = mkdtempSync(join(tmpdir(), 'walhook-config-'));
    const file = join(directory, 'walhook.yaml');
    const uncommented = readFileSync(exampleFile, 'utf8').replace('webhooks: []\n', 'webhooks:\n').replace(/^#( {2}.*)$/gm, '$1');
    writeFileSync(file, uncommented);
    const config = loadConfig({ file, env: { ...ONLY_DATABASE_URL, CRM_SYNC_WEBHOOK_SECRET: 'a-secret-of-24-characters' } });
    expect(config.webhooks).toHaveLength(1);
    expect(config.webhooks[0]?.secret).toBe('a-secret-of-24-characters');
  });

  it('works with no file at all', () => {
    expect(loadConfig({ env: ONLY_DATABASE_URL }).source.slot).toBe('walhook');
  });

  it('names the file when it cannot be read or is not YAML', () => {
    const directory = mkdtempSync(join(tmpdir(), 'walhook-config-'));
    const missing = join(directory, 'missing.yaml');
    expect(() => loadConfig({ file: missing, env: ONLY_DATABASE_URL })).toThrow(`${missing}: got nothing — expected a readable file`);
    const broken = join(directory, 'broken.yaml');
    writeFileSync(broken, 'source:\n  slot: [unclosed\n');
    expect(() => loadConfig({ file: broken, env: ONLY_DATABASE_URL })).toThrow(`${broken}: got text that is not YAML — expected valid YAML`);
    const scalar = join(directory, 'scalar.yaml');
    writeFileSync(scalar, 'just text\n');
    expect(() => loadConfig({ file: scalar, env: ONLY_DATABASE_URL })).toThrow(
      `${scalar}: got "just text" — expected a mapping of keys to values at the top level`,
    );
  });
});

describe('database passwords with URL delimiters in them', () => {
  it.each(['p@ss', 'p/ss', 'p?ss', 'p#ss', 'a@b/c?d#e'])('mask %s whole, whether or not the URL still parses', (password) => {
    const lines = problemLines(() => resolveConfig({ database: { url: `mysql://crm:${password}@db:5432/crm` } }, {}));
    expect(lines.join('\n')).not.toContain(password);
    expect(lines[0]).toContain('got "mysql://crm:[redacted]@db:5432/crm"');
  });

  it('mask only the password of a URL without delimiters in it', () => {
    const lines = problemLines(() => resolveConfig({ database: { url: 'mysql://crm:plain@db/crm?sslpassword=x' } }, {}));
    expect(lines[0]).toContain('"mysql://crm:[redacted]@db/crm?sslpassword=[redacted]"');
  });

  it('leave a URL without a password as it is', () => {
    const lines = problemLines(() => resolveConfig({ database: { url: 'mysql://crm@db/crm' } }, {}));
    expect(lines[0]).toContain('"mysql://crm@db/crm"');
  });

  it('show the value under a misspelt URL key with only its password masked', () => {
    const lines = problemLines(() => resolveConfig({ database: { urll: 'postgres://crm:hunter2@db/crm', url: DATABASE_URL } }, {}));
    expect(lines).toEqual(['database.urll: got "postgres://crm:[redacted]@db/crm" — expected a known key: did you mean database.url?']);
  });
});

describe('webhook operations', () => {
  const webhook = (operations: string[]) => ({
    webhooks: [{ targetUrl: 'https://hooks.example.com', operations, secret: 'a-secret-of-24-characters' }],
  });

  it.each(['Person.archived', 'person.archived', 'Person.created', 'person', 'pe*.created'])(
    'reject %j as matching would, saying why',
    (operation) => {
      let matchingError: unknown;
      try {
        parseOperationPattern(operation);
      } catch (error) {
        matchingError = error;
      }
      expect(matchingError).toBeInstanceOf(InvalidOperationError);
      const [line] = problemLines(() => resolveConfig(webhook(['person.created', operation]), ONLY_DATABASE_URL));
      expect(line).toBe(
        `webhooks[0].operations[1]: got ${JSON.stringify(operation)} — expected ${(matchingError as InvalidOperationError).expected}`,
      );
    },
  );

  it('accept what matching accepts', () => {
    const operations = ['person.created', 'workspaceMember.*', '*.destroyed', '*.*'];
    expect(resolveConfig(webhook(operations), ONLY_DATABASE_URL).webhooks[0]?.operations).toEqual(operations);
  });
});

describe('unknownEnvVariables', () => {
  it('names WALHOOK_ variables that set nothing, with the setting each most likely meant', () => {
    expect(
      unknownEnvVariables({
        WALHOOK_DATABSE_URL: 'postgres://db/crm',
        WALHOOK_API_TOKEN: 'a-token-of-enough-length',
        WALHOOK_NOTHING_LIKE_IT_AT_ALL: 'x',
        WALHOOK_PG_BIN: '/usr/lib/postgresql/15/bin',
        HOME: '/root',
      }),
    ).toStrictEqual([
      { name: 'WALHOOK_DATABSE_URL', didYouMean: 'WALHOOK_DATABASE_URL' },
      { name: 'WALHOOK_NOTHING_LIKE_IT_AT_ALL', didYouMean: undefined },
    ]);
  });
});

describe('webhook filters in the config file', () => {
  const webhook = { targetUrl: 'https://example.com/hook', operations: ['person.updated'], secret: 'a'.repeat(32) };

  it('takes changedFields and a filter', () => {
    const config = resolveConfig({ webhooks: [{ ...webhook, changedFields: ['jobTitle', 'name.firstName'], filter: 'record.jobTitle != ""' }] }, ONLY_DATABASE_URL);
    expect(config.webhooks[0]).toMatchObject({ changedFields: ['jobTitle', 'name.firstName'], filter: 'record.jobTitle != ""' });
  });

  it('names the key and what was expected for a filter that does not compile, or a bad changedFields entry', () => {
    const lines = problemLines(() =>
      resolveConfig({ webhooks: [{ ...webhook, filter: 'record.stage == ' }, { ...webhook, changedFields: ['name.'] }] }, ONLY_DATABASE_URL),
    );
    expect(lines).toEqual([
      expect.stringMatching(/webhooks\[0\]\.filter.*a CEL condition over record.*is not valid CEL: .*column/),
      expect.stringMatching(/webhooks\[1\]\.changedFields.*a list of field names.*"name\."/),
    ]);
  });
});

