/**
 * The web console end to end, clicked through in a real headless Chromium
 * (Debian's package, driven by playwright-core) against a daemon in this
 * process that streams a Twenty-like workspace, with a real receiver on
 * 127.0.0.1. The steps run in order, as an operator would: sign in, create a
 * webhook, copy its secret, watch a delivery, a dead letter and its
 * redelivery, edit, disable, rotate, delete, and a webhook its receiver
 * disabled with 410 Gone, enabled with what it missed, and a batch policy set in the form. Screenshots of the main pages
 * go to test-artifacts/console/.
 *
 * The page's browser modules are read from dist/: run `npm run build` first.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { chromium, type Browser, type Page, type Request } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config/index.js';
import { Daemon } from '../../src/daemon.js';
import { createLogger } from '../../src/common/log.js';
import { verifyWebhook } from '../../src/common/verify.js';
import { missingCapability } from '../harness/capabilities.js';
import { createCrmSchema, insertPersons, waitForSlotStreamed, WORKSPACE_ID } from '../harness/crm.js';
import { createTestDatabase, type TestDatabase } from '../harness/database.js';
import { graphqlClient, type GraphqlClient } from '../harness/graphql.js';
import { startReceiver, waitFor, type ReceivedRequest, type Receiver } from '../harness/receiver.js';

const CHROMIUM = '/usr/bin/chromium';
const chromiumMissing = missingCapability('chromium', existsSync(CHROMIUM), 'apt-get install chromium', 'web console browser tests');

const TOKEN = randomBytes(24).toString('hex');
const SCREENSHOTS = resolve(import.meta.dirname, '../../test-artifacts/console');
/** Longer than the console's refresh interval (2 s), with room for retries. */
const SEEN_WITHIN_MS = 15_000;

let db: TestDatabase;
let daemon: Daemon;
let receiver: Receiver;
let api: GraphqlClient;
let browser: Browser;
let page: Page;
let baseUrl: string;
let slot: string;
/** Set by the steps, for the ones after them. */
let webhookId: string;
let secret: string;
let personNumber = 0;

async function screenshot(name: string): Promise<void> {
  await page.screenshot({ path: resolve(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/** Inserts a person and returns the first request the receiver got for it. */
async function personArrives(): Promise<ReceivedRequest> {
  const [person] = await insertPersons(db, 1, ++personNumber);
  const isPerson = (request: ReceivedRequest) => (request.json.record as { id?: string } | undefined)?.id === person!.id;
  await waitFor(() => receiver.requests.some(isPerson), `person ${person!.id} at the receiver`);
  return receiver.requests.find(isPerson)!;
}

function deliveryIdOf(request: ReceivedRequest): string {
  return String(request.headers['webhook-id']);
}

/** A row of one of the detail view's tables that mentions `text`, once the console's refresh shows it. */
async function rowWith(tableId: string, text: string): Promise<string> {
  const found = page.locator(`#${tableId} tbody tr`, { hasText: text });
  await found.first().waitFor({ timeout: SEEN_WITHIN_MS });
  return found.first().innerText();
}

async function deadLetterIds(count: number): Promise<string[]> {
  const cells = page.locator('#dead-table tbody tr td:first-child');
  await waitFor(async () => (await cells.count()) === count, `${count} dead letters in the console`, SEEN_WITHIN_MS);
  return cells.allInnerTexts();
}

async function confirmInDialog(button: string): Promise<void> {
  await page.getByRole('dialog').getByRole('button', { name: button }).click();
}

interface WebhookState {
  status: string;
  disabledReason: string | null;
}

async function webhookState(id: string): Promise<WebhookState> {
  return (await api.data<{ webhook: WebhookState }>('query ($id: ID!) { webhook(id: $id) { status disabledReason } }', { id })).webhook;
}

async function createWebhookTo(targetUrl: string): Promise<string> {
  const { createWebhook } = await api.data<{ createWebhook: { id: string } }>(
    'mutation ($targetUrl: String!) { createWebhook(input: { targetUrl: $targetUrl, operations: ["person.created"] }) { id } }',
    { targetUrl },
  );
  return createWebhook.id;
}

interface StoredBatch {
  maxEvents: number;
  maxBytes: number;
  linger: string;
}

async function storedBatch(id: string): Promise<StoredBatch | null> {
  return (await api.data<{ webhook: { batch: StoredBatch | null } }>('query ($id: ID!) { webhook(id: $id) { batch { maxEvents maxBytes linger } } }', { id })).webhook.batch;
}

async function storedWebhooks(): Promise<{ id: string; description: string; status: string; workspaceId: string | null }[]> {
  return (await api.data<{ webhooks: { id: string; description: string; status: string; workspaceId: string | null }[] }>('{ webhooks { id description status workspaceId } }'))
    .webhooks;
}

/** The form's error messages shown beside a field, by the field they name. */
async function fieldErrors(): Promise<Record<string, string>> {
  return page.evaluate(() =>
    Object.fromEntries(
      [...document.querySelectorAll<HTMLElement>('#webhook-form [data-error-for]')].filter((m) => m.textContent !== '').map((m) => [m.dataset.errorFor!, m.textContent!]),
    ),
  );
}

describe.skipIf(chromiumMissing !== null)('web console', () => {
  beforeAll(async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    db = await createTestDatabase('console');
    await createCrmSchema(db);
    const suffix = randomBytes(4).toString('hex');
    slot = `console_${suffix}`;
    const config = resolveConfig(
      {
        database: { url: db.url },
        source: { slot, publication: `console_${suffix}`, statusInterval: '200ms' },
        delivery: { retrySchedule: ['100ms', '100ms'], retryPollInterval: '100ms', allowList: ['127.0.0.1/32'], shutdownTimeout: '2s' },
        state: { schema: `walhook_console_${suffix}` },
        encryptionKey: randomBytes(32).toString('base64'),
        api: { listen: '127.0.0.1:0', token: TOKEN },
      },
      {},
    );
    daemon = new Daemon(config, createLogger(process.env.WALHOOK_TEST_LOG ?? 'silent'));
    await daemon.start();
    baseUrl = `http://127.0.0.1:${daemon.apiAddress!.port}`;
    api = graphqlClient(baseUrl, TOKEN);
    // /readyz is 200 for a standby too: the slot streamed is what says the election is over.
    await waitForSlotStreamed(db, slot);
    receiver = await startReceiver();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync'],
    });
    // A laptop screen.
    const context = await browser.newContext({ viewport: { width: 1366, height: 850 } });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: baseUrl });
    page = await context.newPage();
  }, 60_000);

  afterEach(async ({ task }) => {
    if (task.result?.state === 'fail') await screenshot(`failed-${task.name.replace(/\W+/g, '-')}`);
  });

  afterAll(async () => {
    await browser?.close();
    await daemon?.stop();
    await receiver?.close();
    await db?.drop();
  });

  it('signs in with the API token, refusing a wrong one next to the field', async () => {
    const notFound: string[] = [];
    page.on('response', (response) => {
      if (response.status() === 404) notFound.push(response.url());
    });
    await page.goto(`${baseUrl}/`);
    expect(new URL(page.url()).pathname).toBe('/console');
    expect((await fetch(`${baseUrl}/favicon.ico`)).status).toBe(200);
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await screenshot('sign-in');

    await page.getByLabel('API token').fill('not-the-token-of-this-walhook');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#token-error', { hasText: 'invalid bearer token' }).waitFor();
    expect(await page.getByLabel('API token').isVisible()).toBe(true);

    await page.getByLabel('API token').fill(TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Webhooks' }).waitFor();
    expect(await page.locator('#list-empty').isVisible()).toBe(true);
    expect(page.url()).not.toContain(TOKEN);
    expect(await page.evaluate(() => Object.values(sessionStorage))).toEqual([TOKEN]);
    // The page, its styles, modules and icon all exist: nothing the browser asked for was missing.
    expect(notFound).toEqual([]);
  });

  it('shows which replica streams the slot, beside the webhooks', async () => {
    const partition = page.locator('#partition-rows tr', { hasText: slot });
    await partition.waitFor({ timeout: SEEN_WITHIN_MS });
    const cells = await partition.locator('td').allInnerTexts();
    expect(cells[0]).toBe('0');
    expect(cells[2]).toMatch(/\S+ \(this instance\)$/);
    expect(cells[3]).toMatch(/^\d+(\.\d)? (B|kB|MB|GB|TB)$|^—$/);
  });

  it('shows every field left empty at once, beside each field and in a summary, without sending anything', async () => {
    await page.getByRole('link', { name: 'Create webhook' }).click();
    await page.getByRole('heading', { name: 'Create webhook' }).waitFor();
    // The grid offers the workspace's tables, as events name them.
    for (const operation of ['company.created', 'opportunity.deleted', 'person.updated', 'person.*', '*.*']) {
      expect(await page.getByRole('checkbox', { name: operation, exact: true }).count(), operation).toBe(1);
    }
    const sent: string[] = [];
    const onRequest = (request: Request) => {
      if (request.url().endsWith('/graphql') && request.postData()?.includes('createWebhook')) sent.push(request.url());
    };
    page.on('request', onRequest);

    // No URL, no operation, no signature scheme.
    for (const box of await page.locator('input[name="signatures"]').all()) await box.uncheck();
    await page.getByRole('button', { name: 'Create webhook' }).click();
    await page.locator('#form-summary li').first().waitFor();
    expect(await fieldErrors()).toEqual({
      targetUrl: expect.stringMatching(/enter the URL/),
      operations: expect.stringMatching(/at least one operation/),
      signatures: expect.stringMatching(/at least one signature scheme/),
    });
    expect(await page.locator('#form-summary li').allInnerTexts()).toEqual([
      expect.stringMatching(/^Target URL: enter the URL/),
      expect.stringMatching(/^Operations: pick at least one operation/),
      expect.stringMatching(/^Signatures: pick at least one signature scheme/),
    ]);
    expect(await page.getByLabel('Target URL').getAttribute('aria-invalid')).toBe('true');
    await screenshot('create-webhook-missing-fields');

    // A summary line leads to its field, and stays on the form.
    await page.locator('#form-summary').getByRole('link', { name: /^Operations:/ }).click();
    expect(await page.evaluate(() => (document.activeElement as HTMLInputElement | null)?.name)).toBe('operation');
    expect(new URL(page.url()).hash).toBe('#/new');
    // Fixing a field takes its error and its summary line away; the others stay.
    await page.locator('input[name="signatures"][value="standard"]').check();
    expect(await fieldErrors()).toEqual({ targetUrl: expect.any(String), operations: expect.any(String) });
    expect(await page.locator('#form-summary li').count()).toBe(2);
    page.off('request', onRequest);
    expect(sent).toEqual([]);
  });

  it('shows every field the API refuses at once, from its one error', async () => {
    await page.getByLabel('Target URL').fill('ftp://example.com/hook');
    await page.getByLabel('Other operations').fill('person.archived');
    await page.locator('#workspaceId').fill('two words');
    await page.getByRole('button', { name: 'Create webhook' }).click();
    await page.locator('#workspaceId-error:not(:empty)').waitFor({ timeout: SEEN_WITHIN_MS });
    expect(await fieldErrors()).toEqual({
      targetUrl: expect.stringMatching(/scheme ftp is not http or https/),
      operations: expect.stringMatching(/action "archived" is unknown/),
      workspaceId: expect.stringMatching(/^a workspace id such as/),
    });
    expect(await page.locator('#form-summary li').allInnerTexts()).toEqual([
      expect.stringMatching(/^Target URL: invalid target URL/),
      expect.stringMatching(/^Operations: invalid operation "person.archived"/),
      expect.stringMatching(/^Workspace: a workspace id/),
    ]);
    for (const id of ['targetUrl', 'workspaceId']) expect(await page.locator(`#${id}`).getAttribute('aria-invalid'), id).toBe('true');
    expect(await storedWebhooks()).toEqual([]);
    await screenshot('create-webhook-refused-fields');
  });

  it('creates a webhook by clicking, scoped to a workspace, and copies its secret once', async () => {
    await page.getByLabel('Target URL').fill(receiver.url);
    await page.getByLabel('Other operations').fill('');
    await page.locator('#workspaceId').fill(WORKSPACE_ID);
    await page.getByLabel('Description').fill('CRM sync');
    await page.getByRole('checkbox', { name: 'person.created', exact: true }).check();
    await page.getByRole('checkbox', { name: 'person.updated', exact: true }).check();
    expect(await page.locator('#webhook-form .field-error:not(:empty), #form-summary:not(:empty)').count()).toBe(0);
    await screenshot('create-webhook');
    await page.getByRole('button', { name: 'Create webhook' }).click();

    await page.getByText("Copy it now: you won't see this again.").waitFor();
    await page.getByRole('button', { name: 'Copy' }).click();
    await page.locator('#copy-status', { hasText: 'Copied' }).waitFor();
    secret = await page.evaluate(() => navigator.clipboard.readText());
    expect(secret).toMatch(/^[0-9a-f]{64}$/);
    expect(await page.getByLabel('Secret to copy').inputValue()).toBe(secret);
    await screenshot('secret');

    const [stored] = await storedWebhooks();
    webhookId = stored!.id;
    expect(page.url()).toContain(`#/webhooks/${webhookId}`);
    expect(stored).toMatchObject({ description: 'CRM sync', status: 'active', workspaceId: WORKSPACE_ID });
    expect(await page.locator('#detail-fields').innerText()).toContain(WORKSPACE_ID);

    await page.getByRole('button', { name: 'I have saved it' }).click();
    expect(await page.getByLabel('Secret to copy').isVisible()).toBe(false);
  });

  it('shows a delivery in the log, signed with the copied secret', async () => {
    const request = await personArrives();
    expect(() => verifyWebhook({ body: request.body, headers: request.headers, secret })).not.toThrow();
    const logged = await rowWith('attempts-table', deliveryIdOf(request));
    expect(logged).toContain('200');
    expect(logged).toMatch(/\d+ ms/);
  });

  it('shows a failing receiver\'s dead letter and redelivers it with its original id', async () => {
    receiver.respond = () => ({ status: 500 });
    const failed = await personArrives();
    const [deadId] = await deadLetterIds(1);
    expect(deadId).toBe(deliveryIdOf(failed));
    expect(await rowWith('attempts-table', deadId!)).toContain('HTTP 500');
    await page.locator('#detail-status', { hasText: 'failing' }).waitFor({ timeout: SEEN_WITHIN_MS });
    await screenshot('delivery-log');

    receiver.respond = () => ({ status: 200 });
    const before = receiver.requests.length;
    await page.getByRole('button', { name: `Redeliver ${deadId}` }).click();
    await waitFor(() => receiver.requests.slice(before).some((r) => deliveryIdOf(r) === deadId), 'the redelivery at the receiver');
    const redelivered = receiver.requests.slice(before).find((r) => deliveryIdOf(r) === deadId)!;
    expect(redelivered.json.id).toBe(deadId);
    await page.locator('#dead-empty').waitFor({ timeout: SEEN_WITHIN_MS });
    await page.locator('#detail-status', { hasText: 'active' }).waitFor({ timeout: SEEN_WITHIN_MS });
  });

  it('redelivers all dead letters at once', async () => {
    receiver.respond = () => ({ status: 503 });
    const failed = [await personArrives(), await personArrives()].map(deliveryIdOf);
    expect((await deadLetterIds(2)).sort()).toEqual([...failed].sort());

    receiver.respond = () => ({ status: 200 });
    const before = receiver.requests.length;
    await page.getByRole('button', { name: 'Redeliver all' }).click();
    await waitFor(() => failed.every((id) => receiver.requests.slice(before).some((r) => deliveryIdOf(r) === id)), 'both redeliveries');
    await page.locator('#dead-empty').waitFor({ timeout: SEEN_WITHIN_MS });
  });

  it('lists the webhook with its status and the last hour of deliveries', async () => {
    await page.getByRole('link', { name: '← Webhooks' }).click();
    // One first delivery and three redeliveries succeeded; the failures were 3 attempts for each of 3 deliveries.
    // The last success may be recorded after the receiver saw it: the list's refresh catches up.
    const listed = page.locator('#webhook-rows tr', { hasText: '4 delivered, 9 failed' });
    await listed.waitFor({ timeout: SEEN_WITHIN_MS });
    const text = await listed.innerText();
    expect(text).toContain(receiver.url);
    expect(text).toContain('person.created');
    expect(text).toContain('record');
    expect(text).toContain('active');
    expect(text).toContain(WORKSPACE_ID);
    await screenshot('webhooks');
  });

  it('edits, disables and enables the webhook', async () => {
    await page.getByRole('link', { name: receiver.url }).click();
    await page.getByRole('link', { name: 'Edit' }).click();
    await page.getByRole('heading', { name: 'Edit webhook' }).waitFor();
    expect(await page.getByLabel('Target URL').inputValue()).toBe(receiver.url);
    expect(await page.getByRole('checkbox', { name: 'person.created', exact: true }).isChecked()).toBe(true);
    expect(await page.locator('#workspaceId').inputValue()).toBe(WORKSPACE_ID);
    await page.getByLabel('Description').fill('CRM sync (edited)');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.locator('#detail-fields', { hasText: 'CRM sync (edited)' }).waitFor({ timeout: SEEN_WITHIN_MS });

    await page.getByRole('button', { name: 'Disable' }).click();
    await page.locator('#detail-status', { hasText: 'disabled' }).waitFor({ timeout: SEEN_WITHIN_MS });
    expect(await page.locator('#disabled-reason').innerText()).toBe('disabled by an operator');
    await page.getByRole('button', { name: 'Enable', exact: true }).click();
    await page.locator('#detail-status', { hasText: 'active' }).waitFor({ timeout: SEEN_WITHIN_MS });
    expect(await storedWebhooks()).toEqual([{ id: webhookId, description: 'CRM sync (edited)', status: 'active', workspaceId: WORKSPACE_ID }]);
  });

  it('rotates the secret after a confirmation and shows the new one once', async () => {
    await page.getByRole('button', { name: 'Rotate secret' }).click();
    await confirmInDialog('Rotate secret');
    await page.getByText("Copy it now: you won't see this again.").waitFor();
    const rotated = await page.getByLabel('Secret to copy').inputValue();
    expect(rotated).toMatch(/^[0-9a-f]{64}$/);
    expect(rotated).not.toBe(secret);
    expect(await page.locator('#secret-overlap').innerText()).toContain('previous secret keeps signing');
  });

  it('starts a backfill of an object from the webhook page, with a condition, and follows its progress to the end', async () => {
    const before = receiver.requests.length;
    await page.getByRole('button', { name: 'Backfill', exact: true }).click();
    await page.locator('#backfill-object').selectOption('person');
    await page.getByLabel('Only rows where (SQL, optional)').fill('position <= 2');
    await page.getByRole('button', { name: 'Start backfill' }).click();
    const progress = page.locator('#backfill-progress');
    await progress.filter({ hasText: /person done/ }).waitFor({ timeout: 2 * SEEN_WITHIN_MS });
    expect(await progress.innerText()).toContain('2/2 rows read, 2 sent');
    const backfilled = receiver.requests.slice(before).filter((r) => r.json.operation === 'person.backfilled');
    expect(backfilled.map((r) => (r.json.record as { position: number }).position).sort()).toEqual([1, 2]);
    await screenshot('backfill');
  });

  it('deletes the webhook only once confirmed', async () => {
    await page.getByRole('button', { name: 'Delete' }).click();
    await confirmInDialog('Cancel');
    expect(await storedWebhooks()).toHaveLength(1);

    await page.getByRole('button', { name: 'Delete' }).click();
    await confirmInDialog('Delete webhook');
    await page.locator('#list-empty').waitFor({ timeout: SEEN_WITHIN_MS });
    expect(await storedWebhooks()).toEqual([]);
  });

  it('says on the webhook page when the SSRF guard will refuse every delivery to its target', async () => {
    const { createWebhook: refused } = await api.data<{ createWebhook: { id: string } }>(
      'mutation { createWebhook(input: { targetUrl: "http://10.9.9.9/hook", operations: ["person.created"] }) { id } }',
    );
    await page.goto(`${baseUrl}/console#/webhooks/${refused.id}`);
    const warning = 'SSRF guard: 10.9.9.9 is a private address (to send there, add it to delivery.allowList)';
    await page.locator('#detail-fields', { hasText: warning }).waitFor({ timeout: SEEN_WITHIN_MS });
    await api.data('mutation ($id: ID!) { deleteWebhook(id: $id) { id } }', { id: refused.id });
  });

  it('shows why a webhook its receiver disabled with 410 Gone is disabled, and enables it with the dead letter it missed', async () => {
    receiver.respond = () => ({ status: 410 });
    const goneId = await createWebhookTo(receiver.url);
    const missed = deliveryIdOf(await personArrives());
    await waitFor(async () => (await webhookState(goneId)).status === 'disabled', 'the webhook disabled by the 410');

    await page.goto(`${baseUrl}/console#/webhooks/${goneId}`);
    await page.locator('#enable-panel').waitFor({ timeout: SEEN_WITHIN_MS });
    expect(await page.locator('#disabled-reason').innerText()).toBe('receiver answered 410 Gone');
    expect(await page.locator('#detail-status').innerText()).toBe('disabled');
    expect(await deadLetterIds(1)).toEqual([missed]);
    expect(await page.getByRole('button', { name: 'Enable', exact: true }).isVisible()).toBe(true);
    const redeliverButton = page.getByRole('button', { name: 'Enable and redeliver missed' });
    expect(await redeliverButton.getAttribute('aria-describedby').then((id) => page.locator(`#${id}`).innerText())).toContain(
      'the dead letters since it began failing are sent again',
    );
    expect(await page.getByRole('button', { name: 'Disable' }).isVisible()).toBe(false);
    await screenshot('disabled-webhook');

    receiver.respond = () => ({ status: 200 });
    const before = receiver.requests.length;
    await redeliverButton.click();
    await waitFor(() => receiver.requests.slice(before).some((r) => deliveryIdOf(r) === missed), 'the missed delivery at the receiver');
    expect(await webhookState(goneId)).toEqual({ status: 'active', disabledReason: null });
    await page.locator('#detail-status', { hasText: 'active' }).waitFor({ timeout: SEEN_WITHIN_MS });
    expect(await page.locator('#enable-panel').isVisible()).toBe(false);
    expect(await page.locator('#enable-result').innerText()).toMatch(/^Enabled: it receives events again, and its dead letters since it began failing are sent again \(right after enabling: \d+ waiting to be sent, 0 dead letters left\)\.$/);
    await page.locator('#dead-empty').waitFor({ timeout: SEEN_WITHIN_MS });
    expect(await page.getByRole('button', { name: 'Disable' }).isVisible()).toBe(true);

    // Enabled for good: what happens from now on is sent too (personArrives waits a bounded time).
    const fresh = await personArrives();
    expect(deliveryIdOf(fresh)).not.toBe(missed);
    expect(fresh.json.operation).toBe('person.created');
    await api.data('mutation ($id: ID!) { deleteWebhook(id: $id) { id } }', { id: goneId });
  });

  it('sets a webhook\'s batch policy in the form, and shows the API\'s reason beside a maxBytes above the payload limit', async () => {
    const batchedId = await createWebhookTo(receiver.url);
    expect(await storedBatch(batchedId)).toBeNull();
    await page.goto(`${baseUrl}/console#/webhooks/${batchedId}/edit`);
    await page.getByRole('heading', { name: 'Edit webhook' }).waitFor();
    await page.getByLabel(/^Max events/).fill('20');
    await page.getByLabel(/^Max bytes/).fill('65536');
    await page.getByLabel(/^Linger/).fill('1s');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.locator('#detail-fields', { hasText: 'up to 20 events, 65536 bytes, 1000ms linger' }).waitFor({ timeout: SEEN_WITHIN_MS });
    const saved = { maxEvents: 20, maxBytes: 65_536, linger: '1000ms' };
    expect(await storedBatch(batchedId)).toEqual(saved);

    await page.getByRole('link', { name: 'Edit' }).click();
    await page.getByRole('heading', { name: 'Edit webhook' }).waitFor();
    expect(await page.getByLabel(/^Max events/).inputValue()).toBe('20');
    expect(await page.getByLabel(/^Max bytes/).inputValue()).toBe('65536');
    expect(await page.getByLabel(/^Linger/).inputValue()).toBe('1000ms');
    // delivery.maxPayloadBytes is at its default, 1MB: twice that is refused by the API, not lowered.
    await page.getByLabel(/^Max bytes/).fill('2097152');
    await page.getByRole('button', { name: 'Save' }).click();
    const reason = 'at most delivery.maxPayloadBytes, 1048576 bytes: the payload limit applies to a batch; got 2097152';
    await page.locator('[id="batch.maxBytes-error"]:not(:empty)').waitFor({ timeout: SEEN_WITHIN_MS });
    expect(await fieldErrors()).toEqual({ 'batch.maxBytes': reason });
    expect(await page.locator('#form-summary li').allInnerTexts()).toEqual([expect.stringContaining(reason)]);
    expect(await page.getByLabel(/^Max bytes/).getAttribute('aria-invalid')).toBe('true');
    await screenshot('edit-webhook-batch-refused');
    expect(await storedBatch(batchedId)).toEqual(saved);
    // Not a number: named by the form itself (JSON would send it as null, that is as the default).
    await page.getByLabel(/^Max bytes/).fill('lots');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.locator('[id="batch.maxBytes-error"]', { hasText: 'a number of bytes' }).waitFor({ timeout: SEEN_WITHIN_MS });
    expect(await storedBatch(batchedId)).toEqual(saved);
    await api.data('mutation ($id: ID!) { deleteWebhook(id: $id) { id } }', { id: batchedId });
  });

  it('shows the API\'s reason when enabling fails', async () => {
    const vanishingId = await createWebhookTo(receiver.url);
    await api.data('mutation ($input: UpdateWebhookInput!) { updateWebhook(input: $input) { id } }', { input: { id: vanishingId, enabled: false } });
    await page.goto(`${baseUrl}/console#/webhooks/${vanishingId}`);
    await page.locator('#enable-panel').waitFor({ timeout: SEEN_WITHIN_MS });
    // Deleted elsewhere while the page still shows it.
    await api.data('mutation ($id: ID!) { deleteWebhook(id: $id) { id } }', { id: vanishingId });
    await page.getByRole('button', { name: 'Enable', exact: true }).click();
    await page.locator('#enable-error', { hasText: `no webhook with id "${vanishingId}"` }).waitFor({ timeout: SEEN_WITHIN_MS });
  });
});
