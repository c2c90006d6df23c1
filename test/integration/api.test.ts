/**
 * The management API over real HTTP on 127.0.0.1, backed by a real state
 * schema: the four documents of Twenty's webhook docs exactly as written,
 * authentication, every validation error, secrets (returned once, never in
 * clear at rest), stored deliveries and their redelivery, and the CLI
 * commands against the same database.
 */
import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { managementFor, startApi, type ApiServer } from '../../src/api/index.js';
import type { DeliveryPage, DeliveryView, WebhookView } from '../../src/api/views.js';
import { resolveConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/common/log.js';
import { openStateDb, type StateDb } from '../../src/state/db.js';
import { insertDeliveries, type NewDelivery } from '../../src/state/deliveries.js';
import { migrate } from '../../src/state/migrations.js';
import { createSecretBox } from '../../src/state/secret-box.js';
import { setWebhookDisabled, upsertConfigWebhooks } from '../../src/state/webhooks.js';
import { createTestDatabase, type TestDatabase } from '../harness/database.js';
import { CLI, writeConfig } from '../harness/daemon.js';
import { graphqlClient, type GraphqlClient } from '../harness/graphql.js';

const run = promisify(execFile);

const TOKEN = randomBytes(24).toString('hex');
const KEY_HEX = randomBytes(32).toString('hex');
const SCHEMA = 'walhook_api';

// The documents of seeds/002 (Twenty's webhook docs), verbatim.
const CREATE_WEBHOOK = `mutation CreateWebhook {
createWebhook(input: {
targetUrl: "https://your-app.com/webhook"
operations: ["person.created", "person.updated", "company.*"]
description: "Sync contacts to external CRM"
}) {
id
targetUrl
operations
secret
createdAt
}
}`;

const GET_WEBHOOKS = `query GetWebhooks {
webhooks {
id
targetUrl
operations
description
createdAt
updatedAt
}
}`;

const UPDATE_WEBHOOK = `mutation UpdateWebhook {
updateWebhook(input: {
id: "webhook-id"
operations: ["person.*", "company.*"]
description: "Updated description"
}) {
id
operations
updatedAt
}
}`;

const DELETE_WEBHOOK = `mutation DeleteWebhook {
deleteWebhook(id: "webhook-id") {
id
}
}`;

/** The seed's placeholder id replaced by a real one. */
function withId(document: string, id: string): string {
  return document.replace('"webhook-id"', JSON.stringify(id));
}

const CREATE = `mutation ($input: CreateWebhookInput!) {
  createWebhook(input: $input) { id targetUrl operations description format signatures secret status source readOnly createdAt updatedAt }
}`;
const UPDATE = `mutation ($input: UpdateWebhookInput!) {
  updateWebhook(input: $input) { id targetUrl operations description format signatures status disabledReason updatedAt }
}`;
const ROTATE = 'mutation ($id: ID!) { rotateWebhookSecret(id: $id) { id secret previousSecretExpiresAt } }';
const WEBHOOK = 'query ($id: ID!) { webhook(id: $id) { id secret source readOnly } }';

let db: TestDatabase;
let state: StateDb;
const servers: ApiServer[] = [];
let api: GraphqlClient;

interface ServerOverrides {
  token?: string;
  encryptionKey?: string;
  /** delivery.maxPayloadBytes; the default (1MB) when left out. */
  maxPayloadBytes?: string;
}

function configFor(overrides: ServerOverrides) {
  return resolveConfig(
    {
      database: { url: db.url },
      state: { schema: SCHEMA },
      ...(overrides.encryptionKey ? { encryptionKey: overrides.encryptionKey } : {}),
      api: { listen: '127.0.0.1:0', ...(overrides.token ? { token: overrides.token } : {}) },
      delivery: { secretRotationOverlap: '1h', ...(overrides.maxPayloadBytes ? { maxPayloadBytes: overrides.maxPayloadBytes } : {}) },
    },
    {},
  );
}

/** A management API server on a free port; `baseUrl` without the path. */
async function startServer(overrides: ServerOverrides): Promise<string> {
  const config = configFor(overrides);
  const secretBox = config.encryptionKey ? createSecretBox(config.encryptionKey) : null;
  const { server, address } = await startApi({ config, management: managementFor(config, state, secretBox), logger: createLogger('silent') });
  servers.push(server);
  return `http://127.0.0.1:${address.port}`;
}

async function createWebhook(input: Record<string, unknown> = {}): Promise<WebhookView> {
  const data = await api.data<{ createWebhook: WebhookView }>(CREATE, {
    input: { targetUrl: 'https://example.com/hook', operations: ['person.created'], ...input },
  });
  return data.createWebhook;
}

async function webhookCount(): Promise<number> {
  const [row] = await db.sql<{ count: number }>(`SELECT count(*)::int AS count FROM ${SCHEMA}.webhooks`);
  return row!.count;
}

beforeAll(async () => {
  db = await createTestDatabase('api');
  state = openStateDb(db.url, SCHEMA);
  await migrate(state);
  api = graphqlClient(await startServer({ token: TOKEN, encryptionKey: KEY_HEX }), TOKEN);
});

afterAll(async () => {
  await Promise.all(servers.map((server) => server.close()));
  await state?.pool.end();
  await db?.drop();
});

describe("the documents of Twenty's webhook docs, as written", () => {
  it('CreateWebhook creates a webhook and returns its generated secret', async () => {
    const response = await api.request<{ createWebhook: Record<string, unknown> }>(CREATE_WEBHOOK);
    expect(response.errors).toBeUndefined();
    const created = response.data!.createWebhook;
    expect(created).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      targetUrl: 'https://your-app.com/webhook',
      operations: ['person.created', 'person.updated', 'company.*'],
      secret: expect.stringMatching(/^[0-9a-f]{64}$/),
      createdAt: expect.any(String),
    });
    expect(Math.abs(Date.parse(created.createdAt as string) - Date.now())).toBeLessThan(60_000);
  });

  it('GetWebhooks lists the webhooks', async () => {
    const created = await createWebhook({ description: 'listed' });
    const { webhooks } = await api.data<{ webhooks: Record<string, unknown>[] }>(GET_WEBHOOKS);
    expect(webhooks).toContainEqual({
      id: created.id,
      targetUrl: created.targetUrl,
      operations: created.operations,
      description: 'listed',
      createdAt: created.createdAt,
      updatedAt: created.updatedAt,
    });
  });

  it('UpdateWebhook changes operations and description', async () => {
    const created = await createWebhook();
    const asWritten = await api.request(UPDATE_WEBHOOK);
    expect(asWritten.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');

    const { updateWebhook } = await api.data<{ updateWebhook: Record<string, unknown> }>(withId(UPDATE_WEBHOOK, created.id));
    expect(updateWebhook).toEqual({ id: created.id, operations: ['person.*', 'company.*'], updatedAt: expect.any(String) });
    expect(Date.parse(updateWebhook.updatedAt as string)).toBeGreaterThan(Date.parse(created.updatedAt));
    const [row] = await db.sql(`SELECT operations, description FROM ${SCHEMA}.webhooks WHERE id = $1`, [created.id]);
    expect(row).toEqual({ operations: ['person.*', 'company.*'], description: 'Updated description' });
  });

  it('DeleteWebhook deletes it', async () => {
    const created = await createWebhook();
    const asWritten = await api.request(DELETE_WEBHOOK);
    expect(asWritten.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');

    expect(await api.data(withId(DELETE_WEBHOOK, created.id))).toEqual({ deleteWebhook: { id: created.id } });
    const gone = await api.request(WEBHOOK, { id: created.id });
    expect(gone.errors?.[0]).toMatchObject({ message: `no webhook with id "${created.id}"`, extensions: { code: 'NOT_FOUND' } });
  });
});

describe('secrets', () => {
  it('returns the secret once, at creation, and never from a query', async () => {
    const created = await createWebhook();
    expect(created.secret).toMatch(/^[0-9a-f]{64}$/);
    const { webhook } = await api.data<{ webhook: { secret: string | null } }>(WEBHOOK, { id: created.id });
    expect(webhook.secret).toBeNull();
    const { webhooks } = await api.data<{ webhooks: { secret: string | null }[] }>('{ webhooks { secret } }');
    expect(webhooks.length).toBeGreaterThan(0);
    expect(webhooks.every((w) => w.secret === null)).toBe(true);
    const updated = await api.data<{ updateWebhook: { secret: string | null } }>(
      'mutation ($id: ID!) { updateWebhook(input: {id: $id, description: "x"}) { secret } }',
      { id: created.id },
    );
    expect(updated.updateWebhook.secret).toBeNull();
  });

  it('keeps a given secret and generates a different one for each webhook', async () => {
    const given = 'a-secret-of-my-own-choosing';
    expect((await createWebhook({ secret: given })).secret).toBe(given);
    const [first, second] = [await createWebhook(), await createWebhook()];
    expect(first.secret).not.toBe(second.secret);
  });

  it('rotation returns a new secret once and keeps the old one for the overlap', async () => {
    const created = await createWebhook();
    const before = Date.now();
    const { rotateWebhookSecret } = await api.data<{ rotateWebhookSecret: WebhookView }>(ROTATE, { id: created.id });
    expect(rotateWebhookSecret.secret).toMatch(/^[0-9a-f]{64}$/);
    expect(rotateWebhookSecret.secret).not.toBe(created.secret);
    const overlapEnds = Date.parse(rotateWebhookSecret.previousSecretExpiresAt!);
    expect(overlapEnds).toBeGreaterThanOrEqual(before + 3_600_000 - 1000);
    expect(overlapEnds).toBeLessThanOrEqual(Date.now() + 3_600_000 + 1000);
    const { webhook } = await api.data<{ webhook: { secret: string | null } }>(WEBHOOK, { id: created.id });
    expect(webhook.secret).toBeNull();
  });

  it('a dump of the state tables holds no secret in clear', async () => {
    const created = await createWebhook({ secret: 'given-secret-0123456789' });
    const { rotateWebhookSecret } = await api.data<{ rotateWebhookSecret: WebhookView }>(ROTATE, { id: created.id });
    const secrets = [created.secret!, rotateWebhookSecret.secret!];

    const dump = await dumpStateSchema();
    expect(dump).toContain(created.id);
    expect(dump).toMatch(/v1:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+/);
    for (const secret of secrets) {
      expect(dump).not.toContain(secret);
      expect(dump).not.toContain(Buffer.from(secret).toString('base64'));
      expect(dump).not.toContain(Buffer.from(secret).toString('hex'));
    }
  });

  it('without encryptionKey, creating a webhook is refused with the reason', async () => {
    const keyless = graphqlClient(await startServer({ token: TOKEN }), TOKEN);
    const before = await webhookCount();
    const response = await keyless.request(CREATE_WEBHOOK);
    expect(response.errors?.[0]?.extensions?.code).toBe('FAILED_PRECONDITION');
    expect(response.errors?.[0]?.message).toMatch(/encryptionKey/);
    expect(response.errors?.[0]?.message).toMatch(/WALHOOK_ENCRYPTION_KEY/);
    expect(await webhookCount()).toBe(before);
  });
});

/** The state schema as pg_dump writes it, or (with embedded PostgreSQL, which has no pg_dump) every table's rows. */
async function dumpStateSchema(): Promise<string> {
  const binDir = inject('pgBinDir');
  if (binDir) {
    const { stdout } = await run(join(binDir, 'pg_dump'), ['--schema', SCHEMA, '--dbname', db.url], { maxBuffer: 64 * 1024 * 1024 });
    return stdout;
  }
  const tables = await db.sql<{ name: string }>(`SELECT tablename AS name FROM pg_tables WHERE schemaname = $1`, [SCHEMA]);
  const dumps = await Promise.all(tables.map(({ name }) => db.sql(`SELECT * FROM ${SCHEMA}.${name}`)));
  return JSON.stringify(dumps);
}

describe('authentication', () => {
  const query = '{ webhooks { id } }';

  it.each([
    ['no Authorization header', null],
    ['a wrong token', `${TOKEN}x`],
    ['an empty token', ''],
  ])('refuses a request with %s: HTTP 401, UNAUTHENTICATED', async (_case, token) => {
    const response = await api.request(query, undefined, token);
    expect(response.status).toBe(401);
    expect(response.data).toBeUndefined();
    expect(response.errors).toEqual([{ message: expect.any(String), extensions: { code: 'UNAUTHENTICATED' } }]);
  });

  const withAuthorization = (authorization: string) =>
    fetch(api.url, { method: 'POST', headers: { 'content-type': 'application/json', authorization }, body: JSON.stringify({ query }) });

  it('refuses another scheme than Bearer', async () => {
    expect((await withAuthorization(`Basic ${TOKEN}`)).status).toBe(401);
  });

  it('refuses mutations without a token and writes nothing', async () => {
    const before = await webhookCount();
    const response = await api.request(CREATE_WEBHOOK, undefined, null);
    expect(response.status).toBe(401);
    expect(await webhookCount()).toBe(before);
  });

  it('accepts the token with any letter case of "Bearer"', async () => {
    expect((await withAuthorization(`bearer ${TOKEN}`)).status).toBe(200);
  });

  it('without api.token configured, refuses everything and says what to set', async () => {
    const tokenless = graphqlClient(await startServer({ encryptionKey: KEY_HEX }), TOKEN);
    const response = await tokenless.request(query);
    expect(response.status).toBe(401);
    expect(response.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect(response.errors?.[0]?.message).toMatch(/api\.token.*WALHOOK_API_TOKEN/);
  });

  it('serves /healthz without a token', async () => {
    const response = await fetch(api.url.replace('/graphql', '/healthz'));
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok' });
  });
});

describe('validation', () => {
  const validInput = { targetUrl: 'https://example.com/hook', operations: ['person.created'] };

  it.each([
    ['targetUrl', { targetUrl: 'ftp://example.com/hook' }, /targetUrl: .*scheme ftp is not http or https/],
    ['targetUrl', { targetUrl: 'not a url' }, /targetUrl: .*not a valid absolute URL/],
    ['targetUrl', { targetUrl: `https://example.com/${'a'.repeat(2029)}` }, /targetUrl: .*longer than 2048 characters \(2049\)/],
    ['operations', { operations: [] }, /operations: at least one operation is required/],
    ['operations', { operations: ['person'] }, /operations: invalid operation "person": it must have exactly one "\."/],
    ['operations', { operations: ['person.archived'] }, /operations: invalid operation "person.archived": action "archived" is unknown/],
    ['operations', { operations: ['Person.created'] }, /operations: .*object "Person" is not a lowercase identifier/],
    ['operations', { operations: ['person.created', 'a.b.c'] }, /operations: invalid operation "a.b.c"/],
    ['signatures', { signatures: ['hmac'] }, /signatures: "hmac" is not one of/],
    ['signatures', { signatures: [] }, /signatures: at least one of/],
    ['secret', { secret: 'short' }, /secret: at least 16 characters/],
    ['filter', { filter: 'record.stage ==' }, /filter: the filter is not valid CEL: .*\(at column \d+\)/],
    ['filter', { filter: 'recrod.stage == "A"' }, /filter: the filter is not valid CEL: .*recrod/],
    ['filter', { filter: 'operation' }, /filter: the filter must be a bool condition, but its type is string/],
    ['changedFields', { changedFields: ['name.'] }, /changedFields: .*"name\."/],
  ])('createWebhook refuses a bad %s with BAD_USER_INPUT and writes nothing', async (field, input, message) => {
    const before = await webhookCount();
    const response = await api.request(CREATE, { input: { ...validInput, ...input } });
    expect(response.status).toBe(200);
    expect(response.data).toBeNull();
    expect(response.errors).toHaveLength(1);
    expect(response.errors?.[0]).toMatchObject({ message: expect.stringMatching(message), extensions: { code: 'BAD_USER_INPUT', field } });
    expect(await webhookCount()).toBe(before);
  });

  it('stores changedFields and a filter, returns them, and clears them with null', async () => {
    const fields = 'id changedFields filter';
    const { createWebhook: created } = await api.data<{ createWebhook: WebhookView }>(
      `mutation ($input: CreateWebhookInput!) { createWebhook(input: $input) { ${fields} } }`,
      { input: { ...validInput, changedFields: ['stage', 'name.firstName'], filter: 'record.stage == "CUSTOMER"' } },
    );
    expect(created).toMatchObject({ changedFields: ['stage', 'name.firstName'], filter: 'record.stage == "CUSTOMER"' });
    const update = `mutation ($input: UpdateWebhookInput!) { updateWebhook(input: $input) { ${fields} } }`;
    const refused = await api.request(update, { input: { id: created.id, filter: '1 +' } });
    expect(refused.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', field: 'filter' } });
    const kept = await api.data<{ updateWebhook: WebhookView }>(update, { input: { id: created.id, description: 'only this' } });
    expect(kept.updateWebhook).toMatchObject({ changedFields: ['stage', 'name.firstName'], filter: 'record.stage == "CUSTOMER"' });
    const cleared = await api.data<{ updateWebhook: WebhookView }>(update, { input: { id: created.id, changedFields: null, filter: null } });
    expect(cleared.updateWebhook).toMatchObject({ changedFields: [], filter: null });
  });

  it('createWebhook names every wrong field of the input in one error, and writes nothing', async () => {
    const before = await webhookCount();
    const response = await api.request(CREATE, { input: { targetUrl: 'ftp://example.com/hook', operations: [], signatures: ['hmac'], secret: 'short' } });
    expect(response.errors).toHaveLength(1);
    const [error] = response.errors!;
    expect(error?.extensions).toEqual({
      code: 'BAD_USER_INPUT',
      field: 'targetUrl',
      fields: [
        { field: 'targetUrl', reason: expect.stringMatching(/scheme ftp is not http or https/) },
        { field: 'operations', reason: expect.stringMatching(/at least one operation is required/) },
        { field: 'signatures', reason: expect.stringMatching(/"hmac" is not one of/) },
        { field: 'secret', reason: expect.stringMatching(/at least 16 characters/) },
      ],
    });
    expect(error?.message).toMatch(/^targetUrl: .*; operations: .*; signatures: .*; secret: /);
    expect(await webhookCount()).toBe(before);
  });

  it('says at once when the SSRF guard will refuse every delivery to the target, and how to allow it', async () => {
    const { createWebhook: refused } = await api.data<{ createWebhook: WebhookView }>(
      'mutation ($input: CreateWebhookInput!) { createWebhook(input: $input) { id targetRefusal } }',
      { input: { targetUrl: 'http://10.1.2.3:8080/hook', operations: ['person.created'] } },
    );
    expect(refused.targetRefusal).toBe('SSRF guard: 10.1.2.3 is a private address (to send there, add it to delivery.allowList)');
    const read = await api.data<{ webhook: WebhookView }>('query ($id: ID!) { webhook(id: $id) { targetRefusal } }', { id: refused.id });
    expect(read.webhook.targetRefusal).toBe(refused.targetRefusal);
    const { updateWebhook } = await api.data<{ updateWebhook: WebhookView }>(
      'mutation ($input: UpdateWebhookInput!) { updateWebhook(input: $input) { targetRefusal } }',
      { input: { id: refused.id, targetUrl: 'https://example.com/public' } },
    );
    expect(updateWebhook.targetRefusal).toBeNull();
  });

  it('accepts a URL of exactly 2048 characters and every action and wildcard', async () => {
    const targetUrl = `https://example.com/${'a'.repeat(2028)}`;
    const operations = ['person.created', 'person.updated', 'person.deleted', 'person.restored', 'person.destroyed', 'company.*', '*.created', '*.*'];
    const created = await createWebhook({ targetUrl, operations });
    expect(created.targetUrl).toHaveLength(2048);
    expect(created.operations).toEqual(operations);
  });

  it('refuses a batch.maxBytes above delivery.maxPayloadBytes on create and update, naming the field, and writes nothing', async () => {
    const batchOf = async (id: string) => (await db.sql(`SELECT batch FROM ${SCHEMA}.webhooks WHERE id = $1`, [id]))[0]?.batch;
    const reason = 'at most delivery.maxPayloadBytes, 1048576 bytes: the payload limit applies to a batch; got 2097152';
    const before = await webhookCount();
    const refused = await api.request(CREATE, { input: { ...validInput, batch: { maxEvents: 10, maxBytes: 2 * 1024 ** 2 } } });
    expect(refused.data).toBeNull();
    expect(refused.errors).toHaveLength(1);
    expect(refused.errors?.[0]).toMatchObject({
      message: `batch.maxBytes: ${reason}`,
      extensions: { code: 'BAD_USER_INPUT', field: 'batch.maxBytes', fields: [{ field: 'batch.maxBytes', reason }] },
    });
    expect(await webhookCount()).toBe(before);

    // At the limit it is taken as it is, not lowered.
    const created = await createWebhook({ batch: { maxEvents: 10, maxBytes: 1024 ** 2 } });
    expect(await batchOf(created.id)).toEqual({ maxEvents: 10, maxBytes: 1024 ** 2, linger: 200 });
    const tooLarge = await api.request(UPDATE, { input: { id: created.id, batch: { maxBytes: 2 * 1024 ** 2 } } });
    expect(tooLarge.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', field: 'batch.maxBytes', fields: [{ field: 'batch.maxBytes', reason }] } });
    expect(await batchOf(created.id)).toEqual({ maxEvents: 10, maxBytes: 1024 ** 2, linger: 200 });

    // Behind an instance whose payload limit is lower, the stored value no longer fits: an update says so until it does.
    const lowered = graphqlClient(await startServer({ token: TOKEN, encryptionKey: KEY_HEX, maxPayloadBytes: '64kB' }), TOKEN);
    const stale = await lowered.request(UPDATE, { input: { id: created.id, description: 'only this' } });
    expect(stale.errors?.[0]).toMatchObject({
      message: 'batch.maxBytes: at most delivery.maxPayloadBytes, 65536 bytes: the payload limit applies to a batch (1048576 is also its value when left out); got 1048576',
      extensions: { code: 'BAD_USER_INPUT', field: 'batch.maxBytes' },
    });
    await lowered.data(UPDATE, { input: { id: created.id, description: 'only this', batch: { maxBytes: 65_536 } } });
    expect(await batchOf(created.id)).toEqual({ maxEvents: 10, maxBytes: 65_536, linger: 200 });
  });

  it('updateWebhook validates the same way and leaves the webhook as it was', async () => {
    const created = await createWebhook();
    for (const input of [{ targetUrl: 'javascript:alert(1)' }, { operations: [] }, { operations: ['*.exploded'] }, { signatures: ['x'] }]) {
      const response = await api.request(UPDATE, { input: { id: created.id, ...input } });
      expect(response.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    }
    const [row] = await db.sql(`SELECT target_url, operations, signatures, updated_at FROM ${SCHEMA}.webhooks WHERE id = $1`, [created.id]);
    expect(row).toMatchObject({ target_url: created.targetUrl, operations: created.operations, signatures: created.signatures });
    expect((row!.updated_at as Date).toISOString()).toBe(created.updatedAt);
  });

  it('an unknown format is refused by GraphQL itself, as a literal or a variable', async () => {
    const literal = await api.request('mutation { createWebhook(input: {targetUrl: "https://e.com", operations: ["*.*"], format: xml}) { id } }');
    expect(literal.status).toBe(400);
    expect(literal.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    const variable = await api.request(CREATE, { input: { ...validInput, format: 'xml' } });
    expect(variable.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(variable.errors?.[0]?.message).toMatch(/format/);
  });

  it.each([
    ['webhook', WEBHOOK, { id: randomUUID() }],
    ['webhook (not a UUID)', WEBHOOK, { id: 'webhook-id' }],
    ['updateWebhook', UPDATE, { input: { id: randomUUID(), description: 'x' } }],
    ['deleteWebhook', 'mutation ($id: ID!) { deleteWebhook(id: $id) { id } }', { id: randomUUID() }],
    ['rotateWebhookSecret', ROTATE, { id: randomUUID() }],
    ['redeliver', 'mutation ($id: ID!) { redeliver(deliveryId: $id) { id } }', { id: randomUUID() }],
    ['redeliverDeadLetters', 'mutation ($id: ID) { redeliverDeadLetters(webhookId: $id) }', { id: randomUUID() }],
  ])('%s of an unknown id is NOT_FOUND', async (_name, document, variables) => {
    const response = await api.request(document, variables);
    expect(response.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
  });

  it('config-file webhooks are read-only through the API, except for enabling them', async () => {
    const id = randomUUID();
    await upsertConfigWebhooks(state, state.pool, [
      { id, targetUrl: 'https://example.com/config', operations: ['*.*'], description: '', format: 'record', signatures: ['standard'], source: 'config', secretSealed: null },
    ]);
    const { webhook } = await api.data<{ webhook: { source: string; readOnly: boolean } }>(WEBHOOK, { id });
    expect(webhook).toMatchObject({ source: 'config', readOnly: true });
    const readOnly = `webhook ${id} is defined in the config file: edit it there (only \`enabled\` can be changed here)`;
    for (const [document, variables] of [
      [UPDATE, { input: { id, description: 'x' } }],
      [UPDATE, { input: { id, description: 'x', enabled: true } }],
      ['mutation ($id: ID!) { deleteWebhook(id: $id) { id } }', { id }],
      [ROTATE, { id }],
    ] as const) {
      const response = await api.request(document, variables);
      expect(response.errors?.[0]).toMatchObject({ message: `id: ${readOnly}`, extensions: { code: 'BAD_USER_INPUT' } });
    }
    expect(await db.sql(`SELECT description FROM ${SCHEMA}.webhooks WHERE id = $1`, [id])).toEqual([{ description: '' }]);

    // Whether it is enabled is state, not definition: a 410 Gone's disabling can be undone here.
    await setWebhookDisabled(state, state.pool, id, 'receiver answered 410 Gone');
    const ENABLED = 'mutation ($input: UpdateWebhookInput!) { updateWebhook(input: $input) { id source disabledReason } }';
    const { updateWebhook } = await api.data<{ updateWebhook: { disabledReason: string | null } }>(ENABLED, { input: { id, enabled: true } });
    expect(updateWebhook).toMatchObject({ source: 'config', disabledReason: null });
    expect(await db.sql(`SELECT 1 FROM ${SCHEMA}.webhook_status WHERE webhook_id = $1 AND disabled_at IS NOT NULL`, [id])).toEqual([]);
  });

  it('malformed requests get HTTP 400 with a reason', async () => {
    const notJson = await fetch(api.url, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` }, body: '{' });
    expect(notJson.status).toBe(400);
    const syntax = await api.request('{ webhooks { id }');
    expect(syntax.status).toBe(400);
    expect(syntax.errors?.[0]?.extensions?.code).toBe('GRAPHQL_PARSE_FAILED');
    const unknownField = await api.request('{ webhooks { password } }');
    expect(unknownField.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
  });

  it('updateWebhook can disable a webhook and enable it again', async () => {
    const created = await createWebhook();
    const disabled = await api.data<{ updateWebhook: WebhookView }>(UPDATE, { input: { id: created.id, enabled: false } });
    expect(disabled.updateWebhook).toMatchObject({ status: 'disabled', disabledReason: 'disabled by an operator' });
    const enabled = await api.data<{ updateWebhook: WebhookView }>(UPDATE, { input: { id: created.id, enabled: true } });
    expect(enabled.updateWebhook).toMatchObject({ status: 'active', disabledReason: null });
  });
});

describe('stored deliveries', () => {
  const DELIVERIES = `query ($webhookId: ID, $status: DeliveryState, $first: Int, $after: String) {
    deliveries(webhookId: $webhookId, status: $status, first: $first, after: $after) {
      edges { cursor node { id } }
      nodes { id eventId webhookId operation state attempts lastStatus lastError lastDurationMs deadReason nextAttemptAt
              createdAt updatedAt attemptHistory { attempt attemptedAt status error durationMs } }
      pageInfo { hasNextPage endCursor }
    }
  }`;
  let webhookId: string;
  let stored: NewDelivery[];

  function delivery(index: number, state: NewDelivery['state']): NewDelivery {
    return {
      id: randomUUID(),
      webhookId,
      eventId: randomUUID(),
      operation: 'person.created',
      body: `{"n":${index}}`,
      state,
      attempts: state === 'pending' ? 0 : 2,
      nextAttemptAt: state === 'pending' ? new Date(Date.now() + 3_600_000) : null,
      lastAttempt: state === 'pending' ? null : { attemptedAt: new Date(), status: 503, error: 'HTTP 503', durationMs: 12 },
      deadReason: state === 'dead' ? 'retries_exhausted' : null,
      commitLsn: '0/16B3748',
      commitTime: new Date().toISOString(),
    };
  }

  beforeAll(async () => {
    webhookId = (await createWebhook()).id;
    stored = [];
    // One at a time, so that created_at orders them.
    for (const [index, kind] of (['dead', 'dead', 'dead', 'pending', 'delivered'] as const).entries()) {
      const row = delivery(index, kind);
      await insertDeliveries(state, [row]);
      stored.push(row);
    }
  });

  it('lists them newest first with their attempts, filtered and paginated', async () => {
    const all = await api.data<{ deliveries: DeliveryPage }>(DELIVERIES, { webhookId });
    expect(all.deliveries.nodes.map((d) => d.id)).toEqual(stored.map((d) => d.id).reverse());
    const dead = all.deliveries.nodes.find((d) => d.id === stored[0]!.id)!;
    expect(dead).toMatchObject({
      eventId: stored[0]!.eventId,
      webhookId,
      operation: 'person.created',
      state: 'dead',
      attempts: 2,
      lastStatus: 503,
      lastError: 'HTTP 503',
      lastDurationMs: 12,
      deadReason: 'retries_exhausted',
      attemptHistory: [{ attempt: 2, attemptedAt: expect.any(String), status: 503, error: 'HTTP 503', durationMs: 12 }],
    });

    const deadOnly = await api.data<{ deliveries: DeliveryPage }>(DELIVERIES, { webhookId, status: 'dead' });
    expect(deadOnly.deliveries.nodes.map((d) => d.id)).toEqual(stored.slice(0, 3).map((d) => d.id).reverse());

    const seen: string[] = [];
    let after: string | null = null;
    for (;;) {
      const page: { deliveries: DeliveryPage } = await api.data(DELIVERIES, { webhookId, first: 2, after });
      seen.push(...page.deliveries.nodes.map((d) => d.id));
      expect(page.deliveries.edges.map((edge) => edge.node.id)).toEqual(page.deliveries.nodes.map((d) => d.id));
      if (!page.deliveries.pageInfo.hasNextPage) break;
      after = page.deliveries.pageInfo.endCursor;
    }
    expect(seen).toEqual(stored.map((d) => d.id).reverse());
  });

  it('refuses bad page arguments', async () => {
    for (const variables of [{ first: 0 }, { first: 501 }, { after: 'bm90IGEgY3Vyc29y' }]) {
      const response = await api.request(DELIVERIES, variables);
      expect(response.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    }
  });

  it('redeliver makes a dead letter due now and keeps its attempts; a waiting one is refused', async () => {
    const target = stored[0]!;
    const { redeliver } = await api.data<{ redeliver: DeliveryView }>(
      'mutation ($id: ID!) { redeliver(deliveryId: $id) { id state attempts deadReason nextAttemptAt } }',
      { id: target.id },
    );
    expect(redeliver).toMatchObject({ id: target.id, state: 'pending', attempts: 2, deadReason: null });
    expect(Math.abs(Date.parse(redeliver.nextAttemptAt!) - Date.now())).toBeLessThan(60_000);

    const again = await api.request('mutation ($id: ID!) { redeliver(deliveryId: $id) { id } }', { id: target.id });
    expect(again.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT' }, message: expect.stringMatching(/is pending/) });
  });

  it('redeliverDeadLetters requeues every dead letter of the webhook and returns the count', async () => {
    const { redeliverDeadLetters } = await api.data<{ redeliverDeadLetters: number }>(
      'mutation ($id: ID) { redeliverDeadLetters(webhookId: $id) }',
      { id: webhookId },
    );
    expect(redeliverDeadLetters).toBe(2);
    const rows = await db.sql(`SELECT state FROM ${SCHEMA}.deliveries WHERE webhook_id = $1 AND state = 'dead'`, [webhookId]);
    expect(rows).toEqual([]);
  });

  it('deleting the webhook removes its stored deliveries', async () => {
    await api.data('mutation ($id: ID!) { deleteWebhook(id: $id) { id } }', { id: webhookId });
    expect(await db.sql(`SELECT id FROM ${SCHEMA}.deliveries WHERE webhook_id = $1`, [webhookId])).toEqual([]);
  });
});

describe('CLI', () => {
  let configFile: string;
  const env = () => ({ PATH: process.env.PATH ?? '', WALHOOK_ENCRYPTION_KEY: KEY_HEX });

  async function walhook(...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
    try {
      const { stdout, stderr } = await run(process.execPath, [CLI, ...args, '--config', configFile], { env: env() });
      return { stdout, stderr, code: 0 };
    } catch (error) {
      const failed = error as { stdout: string; stderr: string; code: number };
      return { stdout: failed.stdout, stderr: failed.stderr, code: failed.code };
    }
  }

  beforeAll(() => {
    configFile = writeConfig({ database: { url: db.url }, state: { schema: SCHEMA } });
  });

  it('webhooks create, list, update, rotate-secret and delete', async () => {
    const created = await walhook('webhooks', 'create', '--target-url', 'https://example.com/cli', '--operations', 'person.created,company.*', '--json');
    expect(created.code).toBe(0);
    const webhook = JSON.parse(created.stdout) as WebhookView;
    expect(webhook).toMatchObject({ targetUrl: 'https://example.com/cli', operations: ['person.created', 'company.*'], source: 'api', workspaceId: null });
    expect(webhook.secret).toMatch(/^[0-9a-f]{64}$/);

    const listed = await walhook('webhooks', 'list');
    expect(listed.stdout).toMatch(/^ID\s+SOURCE\s+STATUS\s+FORMAT\s+OPERATIONS\s+WORKSPACE\s+TARGET URL\s+DESCRIPTION$/m);
    expect(listed.stdout).toMatch(new RegExp(`^${webhook.id}\\s+api\\s+active\\s+record\\s+person\\.created,company\\.\\*\\s+\\*\\s+https://example\\.com/cli`, 'm'));
    expect(listed.stdout).not.toContain(webhook.secret);

    const updated = await walhook('webhooks', 'update', '--id', webhook.id, '--operations', 'opportunity.*', '--description', 'from the CLI');
    expect(updated.code).toBe(0);
    expect(updated.stdout).toContain(`updated webhook ${webhook.id}`);

    const rotated = await walhook('webhooks', 'rotate-secret', '--id', webhook.id);
    expect(rotated.code).toBe(0);
    const newSecret = /^secret: ([0-9a-f]{64})$/m.exec(rotated.stdout)?.[1];
    expect(newSecret).toBeDefined();
    expect(newSecret).not.toBe(webhook.secret);

    const read = await api.data<{ webhook: WebhookView }>('query ($id: ID!) { webhook(id: $id) { operations description previousSecretExpiresAt } }', { id: webhook.id });
    expect(read.webhook).toMatchObject({ operations: ['opportunity.*'], description: 'from the CLI', previousSecretExpiresAt: expect.any(String) });

    const workspaceId = '20202020-1c25-4d02-bf25-6aeccf7ea419';
    const scoped = await walhook('webhooks', 'update', '--id', webhook.id, '--workspace-id', workspaceId);
    expect(scoped.code).toBe(0);
    expect(scoped.stdout).toMatch(new RegExp(`^${webhook.id}\\s+api\\s+active\\s+record\\s+opportunity\\.\\*\\s+${workspaceId}\\s+https://example\\.com/cli`, 'm'));
    const unscoped = await walhook('webhooks', 'update', '--id', webhook.id, '--workspace-id', '', '--json');
    expect(JSON.parse(unscoped.stdout)).toMatchObject({ workspaceId: null, operations: ['opportunity.*'] });

    const deleted = await walhook('webhooks', 'delete', '--id', webhook.id, '--json');
    expect(JSON.parse(deleted.stdout)).toEqual({ id: webhook.id });
    expect(await db.sql(`SELECT id FROM ${SCHEMA}.webhooks WHERE id = $1`, [webhook.id])).toEqual([]);
  });

  it('webhooks create --workspace-id scopes the webhook to that workspace', async () => {
    const workspaceId = '3b8e6458-5fc1-4e63-8563-008ccddaa6db';
    const created = await walhook('webhooks', 'create', '--target-url', 'https://example.com/one-workspace', '--operations', 'person.*', '--workspace-id', workspaceId, '--json');
    expect(created.code).toBe(0);
    const webhook = JSON.parse(created.stdout) as WebhookView;
    expect(webhook.workspaceId).toBe(workspaceId);
    const read = await api.data<{ webhook: WebhookView }>('query ($id: ID!) { webhook(id: $id) { workspaceId } }', { id: webhook.id });
    expect(read.webhook.workspaceId).toBe(workspaceId);
    const bad = await walhook('webhooks', 'create', '--target-url', 'ftp://x', '--operations', 'person.nope', '--workspace-id', 'two words');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/targetUrl: .*; operations: .*; workspaceId: a workspace id such as/);
  });

  it('webhooks create/update --changed-fields and --filter set, show and clear the filters; a bad filter is named', async () => {
    const filter = 'record.stage == "CUSTOMER"';
    const created = await walhook('webhooks', 'create', '--target-url', 'https://example.com/filtered', '--operations', 'person.*', '--changed-fields', 'stage,name', '--filter', filter);
    expect(created.code).toBe(0);
    expect(created.stdout).toContain(`changed fields: stage, name`);
    expect(created.stdout).toContain(`filter: ${filter}`);
    const id = /created webhook (\S+)/.exec(created.stdout)?.[1] ?? '';
    const bad = await walhook('webhooks', 'update', '--id', id, '--filter', 'record.stage ==');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/filter: the filter is not valid CEL: .*column/);
    expect(bad.stderr).not.toMatch(/\n\s+at /);
    const cleared = await walhook('webhooks', 'update', '--id', id, '--changed-fields', '', '--filter', '', '--json');
    expect(JSON.parse(cleared.stdout)).toMatchObject({ changedFields: [], filter: null });
  });

  it('webhooks create/update --ordering sets the ordering, stored and read back through GraphQL; a wrong one is named', async () => {
    const created = await walhook('webhooks', 'create', '--target-url', 'https://example.com/ordered', '--operations', 'person.*', '--ordering', 'record', '--json');
    expect(created.code).toBe(0);
    const webhook = JSON.parse(created.stdout) as WebhookView;
    expect(webhook.ordering).toBe('record');
    const read = await api.data<{ webhook: WebhookView }>('query ($id: ID!) { webhook(id: $id) { ordering } }', { id: webhook.id });
    expect(read.webhook.ordering).toBe('record');
    const updated = await walhook('webhooks', 'update', '--id', webhook.id, '--ordering', 'none', '--json');
    expect(JSON.parse(updated.stdout)).toMatchObject({ ordering: 'none' });
    expect(await db.sql(`SELECT ordering FROM ${SCHEMA}.webhooks WHERE id = $1`, [webhook.id])).toEqual([{ ordering: 'none' }]);
    const viaApi = await api.data<{ updateWebhook: WebhookView }>('mutation ($id: ID!) { updateWebhook(input: { id: $id, ordering: record }) { ordering } }', { id: webhook.id });
    expect(viaApi.updateWebhook.ordering).toBe('record');
    const bad = await walhook('webhooks', 'update', '--id', webhook.id, '--ordering', 'strict');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/ordering: "strict" is not one of none, record/);
  });

  it('webhooks create/update --max-per-second sets, shows and lifts the rate limit, through GraphQL too; a wrong one is named', async () => {
    const created = await walhook('webhooks', 'create', '--target-url', 'https://example.com/paced', '--operations', 'person.*', '--max-per-second', '2.5', '--json');
    expect(created.code).toBe(0);
    const webhook = JSON.parse(created.stdout) as WebhookView;
    expect(webhook.maxPerSecond).toBe(2.5);
    const read = await api.data<{ webhook: WebhookView }>('query ($id: ID!) { webhook(id: $id) { maxPerSecond } }', { id: webhook.id });
    expect(read.webhook.maxPerSecond).toBe(2.5);
    const viaApi = await api.data<{ updateWebhook: WebhookView }>('mutation ($id: ID!) { updateWebhook(input: { id: $id, maxPerSecond: 40 }) { maxPerSecond } }', { id: webhook.id });
    expect(viaApi.updateWebhook.maxPerSecond).toBe(40);
    expect(await db.sql(`SELECT max_per_second FROM ${SCHEMA}.webhooks WHERE id = $1`, [webhook.id])).toEqual([{ max_per_second: 40 }]);
    const bad = await walhook('webhooks', 'update', '--id', webhook.id, '--max-per-second', '0');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/maxPerSecond: a positive number of requests per second such as 10 or 0.5, or null for no limit; got 0/);
    const notANumber = await walhook('webhooks', 'update', '--id', webhook.id, '--max-per-second', 'fast');
    expect(notANumber.stderr).toMatch(/maxPerSecond: a positive number .*; got NaN/);
    const lifted = await walhook('webhooks', 'update', '--id', webhook.id, '--max-per-second', '', '--json');
    expect(JSON.parse(lifted.stdout)).toMatchObject({ maxPerSecond: null });
    const createdViaApi = await api.data<{ createWebhook: WebhookView }>(
      'mutation { createWebhook(input: { targetUrl: "https://example.com/paced-api", operations: ["person.*"], maxPerSecond: 0.5 }) { maxPerSecond } }',
    );
    expect(createdViaApi.createWebhook.maxPerSecond).toBe(0.5);
  });

  it('webhooks create/update --batch-* set, merge, show and turn off batching, through GraphQL too; a wrong field is named', async () => {
    const created = await walhook('webhooks', 'create', '--target-url', 'https://example.com/batched', '--operations', 'person.*', '--batch-max-events', '20', '--json');
    expect(created.code).toBe(0);
    const webhook = JSON.parse(created.stdout) as WebhookView;
    expect(webhook.batch).toEqual({ maxEvents: 20, maxBytes: 1048576, linger: '200ms' });
    const lingered = await walhook('webhooks', 'update', '--id', webhook.id, '--batch-linger', '1s', '--json');
    expect(JSON.parse(lingered.stdout)).toMatchObject({ batch: { maxEvents: 20, maxBytes: 1048576, linger: '1000ms' } });
    const viaApi = await api.data<{ updateWebhook: WebhookView }>(
      'mutation ($id: ID!) { updateWebhook(input: { id: $id, batch: { maxBytes: 65536 } }) { batch { maxEvents maxBytes linger } } }',
      { id: webhook.id },
    );
    expect(viaApi.updateWebhook.batch).toEqual({ maxEvents: 20, maxBytes: 65536, linger: '1000ms' });
    expect(await db.sql(`SELECT batch FROM ${SCHEMA}.webhooks WHERE id = $1`, [webhook.id])).toEqual([{ batch: { maxEvents: 20, maxBytes: 65536, linger: 1000 } }]);
    const bad = await walhook('webhooks', 'update', '--id', webhook.id, '--batch-max-events', '0');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/batch\.maxEvents: a whole number of events from 1 to 10000; got 0/);
    const ordered = await walhook('webhooks', 'update', '--id', webhook.id, '--ordering', 'record');
    expect(ordered.stderr).toMatch(/batch: null while ordering is record/);
    const off = await walhook('webhooks', 'update', '--id', webhook.id, '--no-batch', '--json');
    expect(JSON.parse(off.stdout)).toMatchObject({ batch: null });
    const wrong = await api.request('mutation { createWebhook(input: { targetUrl: "https://example.com/b", operations: ["person.*"], batch: { maxBytes: 10, linger: "soon" } }) { id } }');
    expect(wrong.errors?.[0]?.extensions?.fields?.map(({ field }) => field)).toEqual(['batch.maxBytes', 'batch.linger']);
  });

  it('says where a read-only webhook is edited, in words that fit the CLI', async () => {
    const id = randomUUID();
    const row = { id, targetUrl: 'https://example.com/twenty', operations: ['*.*'], description: '', format: 'twenty' as const, signatures: ['twenty' as const] };
    await upsertConfigWebhooks(state, state.pool, [{ ...row, source: 'twenty', secretSealed: null }], 'twenty');
    const twenty = await walhook('webhooks', 'update', '--id', id, '--description', 'x');
    expect(twenty.code).toBe(1);
    expect(twenty.stderr).toContain(`webhook ${id} is made in Twenty: edit or delete it in Twenty's Settings → APIs & Webhooks`);
    const configId = randomUUID();
    await upsertConfigWebhooks(state, state.pool, [{ ...row, id: configId, source: 'config', secretSealed: null }]);
    const config = await walhook('webhooks', 'delete', '--id', configId);
    expect(config.stderr).toContain(`webhook ${configId} is defined in the config file: edit it there`);
    for (const { stderr } of [twenty, config]) expect(stderr).not.toMatch(/through the API/);
  });

  it('webhooks create warns when the SSRF guard will refuse the target, naming delivery.allowList', async () => {
    const created = await walhook('webhooks', 'create', '--target-url', 'http://127.0.0.1:3000/hook', '--operations', 'person.*');
    expect(created.code).toBe(0);
    expect(created.stdout).toContain('warning: deliveries will not be sent: SSRF guard: 127.0.0.1 is a loopback address (to send there, add it to delivery.allowList)');
    expect(created.stdout).toMatch(/^secret: [0-9a-f]{64}$/m);
  });

  it('deliveries list and redeliver', async () => {
    const webhook = await createWebhook();
    const dead = { id: randomUUID(), webhookId: webhook.id, eventId: randomUUID(), operation: 'company.updated', body: '{}', state: 'dead' as const, attempts: 6, nextAttemptAt: null, lastAttempt: { attemptedAt: new Date(), status: 500, error: 'HTTP 500', durationMs: 5 }, deadReason: 'retries_exhausted', commitLsn: '0/1', commitTime: new Date().toISOString() };
    const otherDead = { ...dead, id: randomUUID(), eventId: randomUUID() };
    await insertDeliveries(state, [dead, otherDead]);

    const listed = await walhook('deliveries', 'list', '--status', 'dead', '--webhook', webhook.id);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/^ID\s+WEBHOOK\s+OPERATION\s+STATE\s+ATTEMPTS/m);
    expect(listed.stdout).toMatch(new RegExp(`^${dead.id}\\s+${webhook.id}\\s+company\\.updated\\s+dead\\s+6\\s+500\\s+HTTP 500`, 'm'));
    const asJson = JSON.parse((await walhook('deliveries', 'list', '--webhook', webhook.id, '--json')).stdout) as DeliveryPage;
    expect(asJson.nodes.map((d) => d.id).sort()).toEqual([dead.id, otherDead.id].sort());

    const one = await walhook('deliveries', 'redeliver', '--id', dead.id);
    expect(one.stdout).toContain(`delivery ${dead.id} queued for redelivery`);
    const rest = await walhook('deliveries', 'redeliver', '--dead', '--webhook', webhook.id, '--json');
    expect(JSON.parse(rest.stdout)).toEqual({ count: 1 });
    const states = await db.sql(`SELECT state, attempts FROM ${SCHEMA}.deliveries WHERE webhook_id = $1`, [webhook.id]);
    expect(states).toEqual([
      { state: 'pending', attempts: 6 },
      { state: 'pending', attempts: 6 },
    ]);
  });

  it('webhooks enable ID --redeliver-missed enables it and redelivers only the dead letters since it began failing', async () => {
    const webhook = await createWebhook();
    const dead = { id: randomUUID(), webhookId: webhook.id, eventId: randomUUID(), operation: 'company.updated', body: '{}', state: 'dead' as const, attempts: 6, nextAttemptAt: null, lastAttempt: { attemptedAt: new Date(), status: 500, error: 'HTTP 500', durationMs: 5 }, deadReason: 'retries_exhausted', commitLsn: '0/1', commitTime: new Date().toISOString() };
    const older = { ...dead, id: randomUUID(), eventId: randomUUID() };
    await insertDeliveries(state, [dead, older]);
    await db.sql(`UPDATE ${SCHEMA}.deliveries SET updated_at = now() - interval '1 hour' WHERE id = $1`, [older.id]);
    await db.sql(`UPDATE ${SCHEMA}.webhooks SET failing_since = now() - interval '10 minutes' WHERE id = $1`, [webhook.id]);
    expect((await walhook('webhooks', 'update', '--id', webhook.id, '--disable')).code).toBe(0);

    const enabled = await walhook('webhooks', 'enable', webhook.id, '--redeliver-missed', '--json');
    expect(enabled.code).toBe(0);
    expect(JSON.parse(enabled.stdout)).toMatchObject({ id: webhook.id, status: 'active', disabledReason: null });
    const rows = await db.sql<{ id: string; state: string }>(`SELECT id, state FROM ${SCHEMA}.deliveries WHERE webhook_id = $1 ORDER BY updated_at`, [webhook.id]);
    // The one dead-lettered before the failing began was not missed because of it: it stays a dead letter.
    expect(rows).toEqual([
      { id: older.id, state: 'dead' },
      { id: dead.id, state: 'pending' },
    ]);
    expect(await db.sql(`SELECT failing_since FROM ${SCHEMA}.webhooks WHERE id = $1`, [webhook.id])).toEqual([{ failing_since: null }]);
    // Whether a webhook made in Twenty is enabled is walhook's state: it can be enabled here too.
    const twentyId = randomUUID();
    const twentyRow = { id: twentyId, targetUrl: 'https://example.com/twenty-enable', operations: ['*.*'], description: '', format: 'twenty' as const, signatures: ['twenty' as const] };
    await upsertConfigWebhooks(state, state.pool, [{ ...twentyRow, source: 'twenty', secretSealed: null }], 'twenty');
    await setWebhookDisabled(state, state.pool, twentyId, 'receiver answered 410 Gone');
    const twenty = await walhook('webhooks', 'enable', '--id', twentyId, '--json');
    expect(twenty.code).toBe(0);
    expect(JSON.parse(twenty.stdout)).toMatchObject({ id: twentyId, source: 'twenty', disabledReason: null });
    const unknown = await walhook('webhooks', 'enable', '--id', randomUUID());
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/no webhook with id/);
  });

  it('reports bad input and unknown ids plainly, with a non-zero exit', async () => {
    const bad = await walhook('webhooks', 'create', '--target-url', 'ftp://x', '--operations', 'person.created');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/targetUrl: invalid target URL: scheme ftp is not http or https/);
    const missing = await walhook('webhooks', 'delete', '--id', randomUUID());
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/no webhook with id/);
    const usage = await walhook('deliveries', 'redeliver');
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/give either --id DELIVERY_ID or --dead/);
  });
});
