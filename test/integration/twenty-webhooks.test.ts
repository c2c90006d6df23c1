/**
 * The webhooks people make in Twenty's UI, served by walhook: rows of
 * core.webhook (or the legacy per-workspace webhook tables) followed without
 * a restart, signed with their stored secret, Twenty's format and headers,
 * each scoped to its workspace, listed read-only by the API.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { qualified } from '../../src/demo/schema.js';
import { useCrmTestBed } from '../harness/crm.js';
import type { DaemonProcess } from '../harness/daemon.js';
import { graphqlClient } from '../harness/graphql.js';
import { waitFor, type ReceivedRequest } from '../harness/receiver.js';
import { createLegacyWebhookTable, createTwentyDatabase, insertCoreWebhook, WORKSPACE_A, WORKSPACE_B } from '../harness/twenty.js';

const TOKEN = randomBytes(16).toString('hex');
/** Polls as often as the default, bounds generous for a loaded machine. */
const FOLLOWED_WITHIN_MS = 20_000;

/** Twenty's documented Node recipe (seeds/000: Webhook-Validierung), on the parsed and re-serialised body. */
function verifiesWithTwentysRecipe(request: ReceivedRequest, secret: string): boolean {
  const timestamp = request.headers['x-twenty-webhook-timestamp'];
  const payload = JSON.stringify(JSON.parse(request.body));
  const expected = createHmac('sha256', secret).update(`${timestamp}:${payload}`).digest('hex');
  return expected === request.headers['x-twenty-webhook-signature'];
}

async function insertPerson(db: { sql: (text: string, values?: unknown[]) => Promise<unknown> }, schema: string, firstName: string): Promise<void> {
  await db.sql(`INSERT INTO ${qualified(schema, 'person')} ("nameFirstName", "nameLastName") VALUES ($1, 'Test')`, [firstName]);
}

const loggedTimes = (daemon: DaemonProcess, msg: string) => daemon.logs.filter((line) => line.msg === msg).length;

describe("webhooks made in Twenty's UI (core.webhook)", () => {
  const bed = useCrmTestBed('twenty_hooks', createTwentyDatabase);

  it('are followed (insert, edit, soft delete), signed with their secret, in their workspace only, and listed read-only', async () => {
    const receiver = await bed.receiver();
    const setup = bed.setup({ webhooks: [], twenty: { webhooks: true }, api: { token: TOKEN } });
    const daemon = await bed.walhook(setup);
    const secret = randomBytes(20).toString('hex');
    const webhookId = await insertCoreWebhook(bed.db, WORKSPACE_A, { targetUrl: receiver.url, operations: ['person.created', 'person.upserted', 'metadata.object.created'], secret });
    await waitFor(() => loggedTimes(daemon, 'Twenty webhook loaded') === 1, 'walhook to load the new core.webhook row', FOLLOWED_WITHIN_MS);

    await insertPerson(bed.db, WORKSPACE_B.schema, 'Other');
    await insertPerson(bed.db, WORKSPACE_A.schema, 'Grace');
    await waitFor(() => receiver.requests.length >= 1, 'the person.created of workspace A', 15_000);
    const [request] = receiver.requests;
    expect(request!.json).toMatchObject({ eventName: 'person.created', workspaceId: WORKSPACE_A.id, webhookId, targetUrl: receiver.url });
    expect((request!.json.record as Record<string, unknown>).name).toEqual({ firstName: 'Grace', lastName: 'Test' });
    expect(verifiesWithTwentysRecipe(request!, secret)).toBe(true);
    expect(request!.headers['x-twenty-webhook-nonce']).toMatch(/^[0-9a-f]{32}$/);
    expect(request!.headers['x-twenty-webhook-timestamp']).toMatch(/^\d{13}$/);
    // Twenty's headers only: the other schemes are not Twenty's.
    expect(request!.headers).not.toHaveProperty('x-twenty-signature');
    expect(request!.headers).not.toHaveProperty('webhook-signature');

    const api = graphqlClient(`http://127.0.0.1:${daemon.logs.find((l) => l.msg === 'HTTP API listening')!.port}`, TOKEN);
    const listed = await api.data<{ webhooks: { id: string; source: string; readOnly: boolean; workspaceId: string; secret: string | null }[] }>(
      '{ webhooks { id source readOnly workspaceId secret } }',
    );
    expect(listed.webhooks).toContainEqual({ id: webhookId, source: 'twenty', readOnly: true, workspaceId: WORKSPACE_A.id, secret: null });
    const edit = await api.request(`mutation { updateWebhook(input: { id: "${webhookId}", description: "x" }) { id } }`);
    expect(edit.errors?.[0]?.message).toContain("is made in Twenty: edit or delete it in Twenty's Settings");

    await bed.db.sql(`UPDATE core.webhook SET operations = '{person.updated}', "updatedAt" = now() WHERE id = $1`, [webhookId]);
    await waitFor(() => loggedTimes(daemon, 'Twenty webhook changed') === 1, 'walhook to pick up the edited operations', FOLLOWED_WITHIN_MS);
    await insertPerson(bed.db, WORKSPACE_A.schema, 'NotSent');
    await bed.db.sql(`UPDATE ${qualified(WORKSPACE_A.schema, 'person')} SET "jobTitle" = 'Admiral' WHERE "nameFirstName" = 'Grace'`);
    await waitFor(() => receiver.requests.length >= 2, 'the person.updated after the edit', 15_000);
    expect(receiver.requests.map((r) => r.json.eventName)).toEqual(['person.created', 'person.updated']);

    await bed.db.sql(`UPDATE core.webhook SET "deletedAt" = now() WHERE id = $1`, [webhookId]);
    await waitFor(() => loggedTimes(daemon, 'Twenty webhook deleted or soft-deleted; no longer served') === 1, 'walhook to drop the soft-deleted webhook', FOLLOWED_WITHIN_MS);
    const after = await api.data<{ webhooks: { id: string }[] }>('{ webhooks { id } }');
    expect(after.webhooks.map((w) => w.id)).not.toContain(webhookId);
  });
});

describe("webhooks of older Twenty versions (a webhook table in each workspace)", () => {
  const bed = useCrmTestBed('twenty_legacy', async (db) => {
    await createTwentyDatabase(db);
    await db.sql('DROP TABLE core.webhook');
    await createLegacyWebhookTable(db, WORKSPACE_A);
    await createLegacyWebhookTable(db, WORKSPACE_B);
  });

  it('are served each to its own workspace, and their table is never streamed', async () => {
    const receiverA = await bed.receiver();
    const receiverB = await bed.receiver();
    const secret = randomBytes(20).toString('hex');
    await bed.db.sql(`INSERT INTO ${qualified(WORKSPACE_A.schema, 'webhook')} ("targetUrl", operations, secret) VALUES ($1, '{*.*}', $2)`, [receiverA.url, secret]);
    await bed.db.sql(`INSERT INTO ${qualified(WORKSPACE_B.schema, 'webhook')} ("targetUrl", operations, secret) VALUES ($1, '{person.*}', $2)`, [receiverB.url, secret]);
    const setup = bed.setup({ webhooks: [], twenty: { webhooks: true } });
    await bed.walhook(setup);

    await insertPerson(bed.db, WORKSPACE_A.schema, 'Alice');
    await insertPerson(bed.db, WORKSPACE_B.schema, 'Bob');
    await bed.db.sql(`UPDATE ${qualified(WORKSPACE_A.schema, 'webhook')} SET description = 'touched'`);
    await waitFor(() => receiverA.requests.length >= 1 && receiverB.requests.length >= 1, 'one delivery per workspace', 15_000);
    const names = (requests: ReceivedRequest[]) => requests.map((r) => (r.json.record as { name: { firstName: string } }).name.firstName);
    await insertPerson(bed.db, WORKSPACE_A.schema, 'Last');
    await waitFor(() => names(receiverA.requests).includes('Last'), 'the sentinel person of workspace A', 15_000);
    expect(names(receiverA.requests)).toEqual(['Alice', 'Last']);
    expect(names(receiverB.requests)).toEqual(['Bob']);
    expect(receiverA.requests.every((r) => verifiesWithTwentysRecipe(r, secret))).toBe(true);
    expect(receiverA.requests.every((r) => !r.body.includes(secret))).toBe(true);
  });
});
