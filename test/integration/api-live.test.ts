/**
 * Management changes reach a running pipeline without a restart: two daemons
 * (in this process) share one state schema; the first streams a Twenty-like
 * workspace, the second streams nothing and only follows the webhooks table.
 * Receivers are real HTTP servers on 127.0.0.1; signatures are checked with
 * walhook/verify.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeliveryPage, DeliveryView, WebhookView } from '../../src/api/views.js';
import { resolveConfig } from '../../src/config/index.js';
import { Daemon } from '../../src/daemon.js';
import { createLogger } from '../../src/common/log.js';
import { verifyWebhook, type SignatureScheme } from '../../src/common/verify.js';
import { createCrmSchema, insertPersons, waitForSlotStreamed, WORKSPACE_SCHEMA } from '../harness/crm.js';
import { createTestDatabase, type TestDatabase } from '../harness/database.js';
import { CLI, startDaemon, writeConfig } from '../harness/daemon.js';
import { graphqlClient, type GraphqlClient } from '../harness/graphql.js';
import { startReceiver, waitFor, type ReceivedRequest, type Receiver } from '../harness/receiver.js';

const TOKEN = randomBytes(24).toString('hex');
const KEY = randomBytes(32).toString('base64');
const STATE_SCHEMA = 'walhook_live';
const OVERLAP_MS = 3000;
/** The promise: a change is live everywhere within one second. */
const LIVE_WITHIN_MS = 1000;

let db: TestDatabase;
let streaming: Daemon;
let follower: Daemon;
let api: GraphqlClient;
/** Receives every event, so a test knows when an event has been through the pipeline. */
let control: Receiver;
const receivers: Receiver[] = [];
let personNumber = 1000;

function daemonConfig(suffix: string, source: Record<string, unknown> = {}) {
  return resolveConfig(
    {
      database: { url: db.url },
      source: { slot: `live_${suffix}`, publication: `live_${suffix}`, statusInterval: '200ms', ...source },
      delivery: {
        retrySchedule: ['100ms'],
        retryPollInterval: '100ms',
        allowList: ['127.0.0.1/32'],
        secretRotationOverlap: `${OVERLAP_MS}ms`,
        shutdownTimeout: '2s',
      },
      state: { schema: STATE_SCHEMA },
      encryptionKey: KEY,
      api: { listen: '127.0.0.1:0', token: TOKEN },
    },
    {},
  );
}

async function startInProcess(suffix: string, source?: Record<string, unknown>): Promise<Daemon> {
  const config = daemonConfig(suffix, source);
  const daemon = new Daemon(config, createLogger(process.env.WALHOOK_TEST_LOG ?? 'silent'));
  await daemon.start();
  return daemon;
}

async function receiver(): Promise<Receiver> {
  const started = await startReceiver();
  receivers.push(started);
  return started;
}

async function createWebhook(input: Record<string, unknown>): Promise<WebhookView> {
  const { createWebhook } = await api.data<{ createWebhook: WebhookView }>(
    'mutation ($input: CreateWebhookInput!) { createWebhook(input: $input) { id secret operations } }',
    { input },
  );
  return createWebhook;
}

/** Inserts a person and waits until the control receiver has it: the pipeline has routed it. */
async function insertPerson(): Promise<string> {
  const [person] = await insertPersons(db, 1, ++personNumber);
  await waitFor(() => recordIds(control).includes(person!.id), `person ${person!.id} at the control receiver`);
  return person!.id;
}

async function insertCompany(): Promise<string> {
  const [company] = await db.sql<{ id: string }>(`INSERT INTO ${WORKSPACE_SCHEMA}.company (name) VALUES ('Acme') RETURNING id`);
  await waitFor(() => recordIds(control).includes(company!.id), `company ${company!.id} at the control receiver`);
  return company!.id;
}

/** Inserts a person and returns the request that brought it to `target`. */
async function personDeliveredTo(target: Receiver): Promise<ReceivedRequest> {
  const personId = await insertPerson();
  await waitFor(() => recordIds(target).includes(personId), `person ${personId} at the webhook's receiver`);
  return target.requests.find((request) => (request.json.record as { id: string }).id === personId)!;
}

function recordIds(at: Receiver): string[] {
  return at.requests.map((request) => (request.json.record as { id?: string } | undefined)?.id ?? '');
}

/** Waits at most LIVE_WITHIN_MS for `check` and returns how long it took. */
async function liveWithin(check: () => boolean, what: string): Promise<number> {
  const started = Date.now();
  await waitFor(check, what, LIVE_WITHIN_MS, 10);
  return Date.now() - started;
}

function verifies(request: ReceivedRequest, secret: string, schemes: SignatureScheme[]): boolean {
  try {
    verifyWebhook({ body: request.body, headers: request.headers, secret, schemes });
    return true;
  } catch {
    return false;
  }
}

beforeAll(async () => {
  db = await createTestDatabase('apilive');
  await createCrmSchema(db);
  streaming = await startInProcess('a');
  // start() returns before the election: a person inserted before the slot exists would never be streamed.
  await waitForSlotStreamed(db, 'live_a');
  // Streams no table: it only follows the webhooks table.
  follower = await startInProcess('b', { schemas: ['no_such_schema_*'] });
  api = graphqlClient(`http://127.0.0.1:${streaming.apiAddress!.port}`, TOKEN);
  control = await receiver();
  await createWebhook({ targetUrl: control.url, operations: ['*.*'] });
}, 60_000);

afterAll(async () => {
  await streaming?.stop();
  await follower?.stop();
  await Promise.all(receivers.map((r) => r.close()));
  await db?.drop();
});

describe('live changes', () => {
  it('a created webhook receives events at once, signed with the secret it was given', async () => {
    const target = await receiver();
    const webhook = await createWebhook({ targetUrl: target.url, operations: ['person.created'] });
    const request = await personDeliveredTo(target);
    expect(request.json).toMatchObject({ webhookId: webhook.id, operation: 'person.created' });
    for (const scheme of ['standard', 'twenty', 'twenty-legacy'] as const) expect(verifies(request, webhook.secret!, [scheme])).toBe(true);
  });

  it('an update changes which events arrive, within a second, without a restart', async () => {
    const target = await receiver();
    const webhook = await createWebhook({ targetUrl: target.url, operations: ['person.created'] });
    await personDeliveredTo(target);

    await api.data('mutation ($id: ID!) { updateWebhook(input: {id: $id, operations: ["company.created"]}) { id } }', { id: webhook.id });
    await liveWithin(() => streaming.registry.get(webhook.id)?.operations.join() === 'company.created', 'the update in the pipeline');

    const person = await insertPerson();
    const company = await insertCompany();
    await waitFor(() => recordIds(target).includes(company), 'the company after the update');
    expect(recordIds(target)).not.toContain(person);
    expect(target.requests.map((r) => r.json.operation)).toEqual(['person.created', 'company.created']);
  });

  it('a deleted webhook receives nothing more', async () => {
    const target = await receiver();
    const webhook = await createWebhook({ targetUrl: target.url, operations: ['person.*'] });
    await personDeliveredTo(target);

    await api.data('mutation ($id: ID!) { deleteWebhook(id: $id) { id } }', { id: webhook.id });
    await liveWithin(() => streaming.registry.get(webhook.id) === undefined, 'the delete in the pipeline');
    await insertPerson();
    await insertPerson();
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(target.requests).toHaveLength(1);
  });

  it('after a rotation both secrets verify during the overlap, then only the new one', async () => {
    const target = await receiver();
    const webhook = await createWebhook({ targetUrl: target.url, operations: ['person.created'] });
    const oldSecret = webhook.secret!;
    const { rotateWebhookSecret: rotated } = await api.data<{ rotateWebhookSecret: WebhookView }>(
      'mutation ($id: ID!) { rotateWebhookSecret(id: $id) { secret previousSecretExpiresAt } }',
      { id: webhook.id },
    );
    const newSecret = rotated.secret!;
    const overlapEnds = Date.parse(rotated.previousSecretExpiresAt!);
    await liveWithin(() => streaming.registry.get(webhook.id)?.secrets.length === 2, 'both secrets in the pipeline');
    await liveWithin(() => follower.registry.get(webhook.id)?.secrets.length === 2, 'both secrets in the other instance');

    const duringRequest = await personDeliveredTo(target);
    expect(duringRequest.at, 'the delivery must happen inside the overlap for this test to mean anything').toBeLessThan(overlapEnds);
    expect(verifies(duringRequest, newSecret, ['standard'])).toBe(true);
    expect(verifies(duringRequest, oldSecret, ['standard'])).toBe(true);
    // The X-Twenty headers hold one signature: the newest secret's.
    expect(verifies(duringRequest, newSecret, ['twenty'])).toBe(true);

    await waitFor(() => Date.now() > overlapEnds, 'the end of the overlap', OVERLAP_MS + 1000);
    await liveWithin(() => streaming.registry.get(webhook.id)?.secrets.length === 1, 'the old secret dropped by the pipeline');
    await liveWithin(() => follower.registry.get(webhook.id)?.secrets.length === 1, 'the old secret dropped by the other instance');
    const afterRequest = await personDeliveredTo(target);
    expect(verifies(afterRequest, newSecret, ['standard'])).toBe(true);
    expect(verifies(afterRequest, oldSecret, ['standard'])).toBe(false);
    expect(verifies(afterRequest, oldSecret, ['standard', 'twenty', 'twenty-legacy'])).toBe(false);
  });

  it('a redelivered dead letter arrives with its original id', async () => {
    let failing = true;
    const target = await startReceiver({ respond: () => ({ status: failing ? 500 : 200 }) });
    receivers.push(target);
    const webhook = await createWebhook({ targetUrl: target.url, operations: ['person.created'] });
    const personId = await insertPerson();

    const DEAD = 'query ($id: ID!) { deliveries(webhookId: $id, status: dead) { nodes { id state attempts } } }';
    let dead: DeliveryView | undefined;
    await waitFor(async () => {
      dead = (await api.data<{ deliveries: DeliveryPage }>(DEAD, { id: webhook.id })).deliveries.nodes[0];
      return dead !== undefined;
    }, 'the delivery to become a dead letter');
    const failedAttempts = target.requests.length;
    expect(failedAttempts).toBe(2);
    expect(target.requests.every((r) => r.headers['webhook-id'] === dead!.id && r.json.id === dead!.id)).toBe(true);

    failing = false;
    await api.data('mutation ($id: ID!) { redeliver(deliveryId: $id) { id } }', { id: dead!.id });
    await waitFor(() => target.requests.length > failedAttempts, 'the redelivery');
    const redelivered = target.requests[failedAttempts]!;
    expect(redelivered.headers['webhook-id']).toBe(dead!.id);
    expect(redelivered.json).toMatchObject({ id: dead!.id, webhookId: webhook.id, record: { id: personId } });
    expect(redelivered.body).toBe(target.requests[0]!.body);
    expect(verifies(redelivered, webhook.secret!, ['standard'])).toBe(true);

    const STORED = 'query ($id: ID!) { deliveries(webhookId: $id) { nodes { state attempts attemptHistory { attempt status } } } }';
    await waitFor(async () => {
      const [node] = (await api.data<{ deliveries: DeliveryPage }>(STORED, { id: webhook.id })).deliveries.nodes;
      return node?.state === 'delivered';
    }, 'the delivery to be recorded as delivered');
    const [node] = (await api.data<{ deliveries: DeliveryPage }>(STORED, { id: webhook.id })).deliveries.nodes;
    expect(node).toMatchObject({ attempts: 3, attemptHistory: [{ attempt: 1, status: 500 }, { attempt: 2, status: 500 }, { attempt: 3, status: 200 }] });
  });
});

describe('instances sharing the state database', () => {
  it('another instance applies a create, update and delete within a second', async () => {
    const webhook = await createWebhook({ targetUrl: 'https://example.com/other', operations: ['person.created'] });
    await liveWithin(() => follower.registry.get(webhook.id) !== undefined, 'the create in the other instance');
    expect(follower.registry.get(webhook.id)?.secrets).toEqual([webhook.secret]);

    await api.data('mutation ($id: ID!) { updateWebhook(input: {id: $id, operations: ["*.deleted"]}) { id } }', { id: webhook.id });
    await liveWithin(() => follower.registry.get(webhook.id)?.operations.join() === '*.deleted', 'the update in the other instance');

    await api.data('mutation ($id: ID!) { deleteWebhook(id: $id) { id } }', { id: webhook.id });
    await liveWithin(() => follower.registry.get(webhook.id) === undefined, 'the delete in the other instance');
  });

  it('a webhook created with the CLI reaches both running instances within a second', async () => {
    const configFile = writeConfig({ database: { url: db.url }, state: { schema: STATE_SCHEMA } });
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [CLI, 'webhooks', 'create', '--target-url', 'https://example.com/cli', '--operations', 'company.*', '--json', '--config', configFile],
      { env: { PATH: process.env.PATH ?? '', WALHOOK_ENCRYPTION_KEY: KEY } },
    );
    const { id } = JSON.parse(stdout) as WebhookView;
    await liveWithin(() => streaming.registry.get(id) !== undefined, 'the CLI-made webhook in the streaming instance');
    await liveWithin(() => follower.registry.get(id) !== undefined, 'the CLI-made webhook in the other instance');
  });

  /** Runs `walhook start` on the shared state schema with this key and returns its exit code and output. */
  async function startWithKey(encryptionKey: string | undefined): Promise<{ code: number | null; output: string }> {
    const suffix = randomUUID().slice(0, 8);
    const configFile = writeConfig({
      database: { url: db.url },
      source: { slot: `live_key_${suffix}`, publication: `live_key_${suffix}` },
      state: { schema: STATE_SCHEMA },
      ...(encryptionKey ? { encryptionKey } : {}),
      api: { listen: '127.0.0.1:0' },
    });
    const daemon = startDaemon(configFile);
    return { code: await daemon.exited, output: daemon.output() };
  }

  it('an instance without encryptionKey refuses to start while encrypted secrets exist, and says why', async () => {
    const { code, output } = await startWithKey(undefined);
    expect(code).toBe(1);
    expect(output).toMatch(/holds \d+ webhook secret\(s\) encrypted at rest, and encryptionKey is not set/);
    expect(output).toMatch(/WALHOOK_ENCRYPTION_KEY/);
  });

  it('an instance with another key refuses to start, and says why', async () => {
    const { code, output } = await startWithKey(randomBytes(32).toString('hex'));
    expect(code).toBe(1);
    expect(output).toMatch(/cannot decrypt the secret of webhook [0-9a-f-]{36}: .*Set encryptionKey/);
  });
});
