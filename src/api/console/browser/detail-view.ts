/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * One webhook: its settings, what can be done to it (edit, disable, rotate
 * the secret, delete; once disabled, why, and enable it, optionally sending
 * again what it missed), the secret right after it was made,
 * and its delivery log — this instance's recent attempts, the deliveries
 * waiting for a retry, and the dead letters, which can be sent again.
 */
import {
  deleteWebhook,
  enableWebhook,
  redeliver,
  redeliverDeadLetters,
  rotateSecret,
  updateWebhook,
  webhookActivity,
  type Delivery,
  type RecentAttempt,
  type Webhook,
  type WebhookActivity,
} from './api.js';
import {
  byId,
  confirmAction,
  deliveryIdCell,
  element,
  formatTime,
  operationList,
  readOnlyNote,
  replaceRows,
  row,
  showError,
  statusBadge,
  whileBusy,
  workspaceText,
} from './dom.js';
import { refreshLive, type LiveView } from './live.js';

/** The endpoint's circuit breaker in words (delivery/endpoint-health.ts); this instance's view. */
const ENDPOINT_MODE_TEXT: Record<WebhookActivity['webhook']['stats']['endpointMode'], string> = {
  closed: 'answering (circuit closed)',
  open: 'failing: circuit open, only a probe now and then (this instance)',
  probing: 'failing: circuit open, a probe in flight (this instance)',
};

/** The webhook last rendered; the action buttons act on it. */
let shown: WebhookActivity['webhook'] | null = null;

export function detailView(id: string): LiveView<WebhookActivity> {
  // The outcome of enabling speaks of the webhook it was shown on.
  byId('enable-result').textContent = '';
  return { load: () => webhookActivity(id), render };
}

function render({ webhook, recentAttempts, waiting, dead }: WebhookActivity): void {
  shown = webhook;
  byId('detail-title').textContent = webhook.targetUrl;
  byId('detail-status').replaceWith(Object.assign(statusBadge(webhook), { id: 'detail-status' }));
  renderFields(webhook);
  byId<HTMLAnchorElement>('edit-webhook').href = `#/webhooks/${encodeURIComponent(webhook.id)}/edit`;
  renderDisabled(webhook);
  byId('detail-actions').hidden = webhook.readOnly;
  byId('read-only-note').hidden = !webhook.readOnly;
  byId('read-only-note').textContent = readOnlyNote(webhook);
  byId<HTMLButtonElement>('redeliver-all').disabled = dead.length === 0;
  replaceRows(tbodyOf('attempts-table'), recentAttempts.map(attemptRow), byId('attempts-empty'));
  replaceRows(tbodyOf('waiting-table'), waiting.map(waitingRow), byId('waiting-empty'));
  replaceRows(tbodyOf('dead-table'), dead.map(deadRow), byId('dead-empty'));
}

function renderFields(webhook: WebhookActivity['webhook']): void {
  const fields: [string, Node | string][] = [
    ['Description', webhook.description || '—'],
    ['Operations', operationList(webhook.operations)],
    ['Format', webhook.format],
    ['Ordering', webhook.ordering],
    ['Max per second', webhook.maxPerSecond === null ? 'no limit' : String(webhook.maxPerSecond)],
    ['Batching', webhook.batch === null ? 'one event per request' : `up to ${webhook.batch.maxEvents} events, ${webhook.batch.maxBytes} bytes, ${webhook.batch.linger} linger`],
    ['Signatures', webhook.signatures.join(', ')],
    ['Workspace', workspaceText(webhook)],
    ['Changed fields', webhook.changedFields.length === 0 ? 'every update' : webhook.changedFields.join(', ')],
    ['Filter', webhook.filter === null ? 'every event' : element('code', {}, webhook.filter)],
    ['Last hour', `${webhook.stats.deliveredLastHour} delivered, ${webhook.stats.failedLastHour} failed (this instance)`],
    ['Endpoint', ENDPOINT_MODE_TEXT[webhook.stats.endpointMode]],
    ['Id', element('span', { className: 'mono' }, webhook.id)],
    ['Created', formatTime(webhook.createdAt)],
  ];
  if (webhook.targetRefusal) fields.push(['Not sent', element('span', { className: 'warning' }, webhook.targetRefusal)]);
  if (webhook.previousSecretExpiresAt) fields.push(['Previous secret signs until', formatTime(webhook.previousSecretExpiresAt)]);
  byId('detail-fields').replaceChildren(...fields.flatMap(([name, value]) => [element('dt', {}, name), element('dd', {}, value)]));
}

/**
 * A disabled webhook shows why, and how to enable it, also when it is
 * read-only here: enabling is walhook's state, not the definition.
 */
function renderDisabled(webhook: Webhook): void {
  const disabled = webhook.status === 'disabled';
  const panel = byId('enable-panel');
  // The button just clicked goes away with the panel: focus moves to the title rather than to nowhere.
  if (!disabled && panel.contains(document.activeElement)) byId('detail-title').focus();
  panel.hidden = !disabled;
  byId('disabled-reason').textContent = webhook.disabledReason ?? 'no reason recorded';
  byId('disable-webhook').hidden = disabled;
  // Disabled again since: "Enabled" is no longer true.
  if (disabled) byId('enable-result').textContent = '';
}

/** What enabling did, from the webhook the API answered with: it does not count the dead letters it sent again. */
function enabledText(webhook: Webhook, redeliverMissed: boolean): string {
  if (!redeliverMissed) return 'Enabled: it receives events again.';
  const { waiting, deadLetters } = webhook.stats;
  return (
    'Enabled: it receives events again, and its dead letters since it began failing are sent again ' +
    `(right after enabling: ${waiting} waiting to be sent, ${deadLetters} dead letters left).`
  );
}

function tbodyOf(tableId: string): HTMLTableSectionElement {
  return byId<HTMLTableElement>(tableId).tBodies[0]!;
}

function httpStatus(status: number | null, succeeded: boolean): HTMLTableCellElement {
  return element('td', { className: succeeded ? 'status-ok' : 'status-failed' }, status === null ? 'no response' : String(status));
}

function attemptRow(attempt: RecentAttempt): HTMLTableRowElement {
  return row(
    formatTime(attempt.attemptedAt),
    deliveryIdCell(attempt.deliveryId),
    httpStatus(attempt.status, attempt.succeeded),
    `${attempt.durationMs} ms`,
    element('td', { className: 'error' }, attempt.error ?? ''),
  );
}

function waitingRow(delivery: Delivery): HTMLTableRowElement {
  return row(
    deliveryIdCell(delivery.id),
    delivery.operation,
    String(delivery.attempts),
    element('td', { className: 'error' }, delivery.lastError ?? ''),
    formatTime(delivery.nextAttemptAt),
  );
}

function deadRow(delivery: Delivery): HTMLTableRowElement {
  const button = element('button', { data: { deliveryId: delivery.id } }, 'Redeliver');
  button.type = 'button';
  button.setAttribute('aria-label', `Redeliver ${delivery.id}`);
  return row(
    deliveryIdCell(delivery.id),
    delivery.operation,
    String(delivery.attempts),
    element('td', { className: 'error' }, delivery.lastError ?? ''),
    delivery.deadReason ?? '',
    button,
  );
}

/** Shows a secret that was just made, for this once, with its copy button. */
export function showSecret(secret: string, previousSecretExpiresAt: string | null): void {
  byId<HTMLInputElement>('secret-value').value = secret;
  byId('copy-status').textContent = '';
  byId('secret-overlap').textContent = previousSecretExpiresAt
    ? `The previous secret keeps signing beside it until ${formatTime(previousSecretExpiresAt)}: update your receivers before then.`
    : '';
  byId('secret-panel').hidden = false;
  byId('copy-secret').focus();
}

/** Forgets the secret on the page: leaving the view or "I have saved it". */
export function hideSecret(): void {
  byId<HTMLInputElement>('secret-value').value = '';
  byId('secret-panel').hidden = true;
}

async function copySecret(): Promise<void> {
  const input = byId<HTMLInputElement>('secret-value');
  // The Clipboard API needs a secure context (https or localhost); elsewhere, copying the selection still works.
  if (navigator.clipboard) await navigator.clipboard.writeText(input.value);
  else {
    input.select();
    document.execCommand('copy');
  }
  byId('copy-status').textContent = 'Copied';
}

/** Runs an action on the shown webhook; its error is shown in `errorId`, and the view reloads after it. */
function onClick(buttonId: string, errorId: string, action: (webhook: NonNullable<typeof shown>) => Promise<void>): void {
  const button = byId<HTMLButtonElement>(buttonId);
  button.addEventListener('click', () => {
    if (!shown) return;
    const webhook = shown;
    byId(errorId).textContent = '';
    void whileBusy(button, () => action(webhook))
      .then(refreshLive)
      .catch((error: unknown) => showError(byId('view-detail'), error, byId(errorId)));
  });
}

/** Wires the view's buttons once; `deleted` is called after a webhook was deleted. */
export function handleDetailActions(deleted: () => void): void {
  byId('copy-secret').addEventListener('click', () => {
    void copySecret().catch((error: unknown) => {
      byId('copy-status').textContent = `Copy failed (${String(error)}): select the secret and copy it.`;
    });
  });
  byId('secret-done').addEventListener('click', hideSecret);
  onClick('disable-webhook', 'detail-error', async (webhook) => {
    await updateWebhook({ id: webhook.id, enabled: false });
  });
  for (const [buttonId, redeliverMissed] of [
    ['enable-webhook', false],
    ['enable-redeliver', true],
  ] as const) {
    onClick(buttonId, 'enable-error', async (webhook) => {
      byId('enable-result').textContent = enabledText(await enableWebhook(webhook.id, redeliverMissed), redeliverMissed);
    });
  }
  onClick('rotate-secret', 'detail-error', async (webhook) => {
    const message = `Rotate the signing secret of ${webhook.targetUrl}? A new secret signs from now on; the current one keeps signing beside it for a while.`;
    if (!(await confirmAction(message, 'Rotate secret'))) return;
    const rotated = await rotateSecret(webhook.id);
    showSecret(rotated.secret, rotated.previousSecretExpiresAt);
  });
  onClick('delete-webhook', 'detail-error', async (webhook) => {
    const message = `Delete the webhook to ${webhook.targetUrl}? It stops receiving events, and its stored deliveries and dead letters are deleted with it.`;
    if (!(await confirmAction(message, 'Delete webhook'))) return;
    await deleteWebhook(webhook.id);
    shown = null;
    deleted();
  });
  onClick('redeliver-all', 'dead-error', async (webhook) => {
    await redeliverDeadLetters(webhook.id);
  });
  tbodyOf('dead-table').addEventListener('click', (event) => {
    const button = (event.target as HTMLElement).closest<HTMLButtonElement>('button[data-delivery-id]');
    if (!button) return;
    byId('dead-error').textContent = '';
    void whileBusy(button, () => redeliver(button.dataset.deliveryId!))
      .then(refreshLive)
      .catch((error: unknown) => showError(byId('view-detail'), error, byId('dead-error')));
  });
}
