/// <reference lib="dom" />
/**
 * The webhook view's Backfill button: choose an object (and optionally a SQL
 * condition), start a backfill to this webhook through `startBackfill`, and
 * follow its progress by polling `backfill(id)` until it ends or the view
 * shows another webhook.
 */
import { backfillProgress, operationChoices, startBackfill, type BackfillProgress } from './api.js';
import { byId, element, showError, whileBusy } from './dom.js';

const POLL_MS = 1_000;
const ENDED = new Set<BackfillProgress['status']>(['done', 'cancelled', 'failed', 'paused']);

/** The webhook whose backfill is followed; a poll for another one stops. */
let following: string | null = null;

export function describeBackfill(backfill: BackfillProgress): string {
  const total = backfill.rowsTotal === null ? '?' : String(backfill.rowsTotal);
  const superseded = backfill.rowsSuperseded > 0 ? `, ${backfill.rowsSuperseded} superseded by live changes` : '';
  const error = backfill.error ? ` (${backfill.error})` : '';
  return `Backfill of ${backfill.object} ${backfill.status}: ${backfill.rowsRead}/${total} rows read, ${backfill.rowsSent} sent${superseded}${error}`;
}

/** The view now shows `webhookId` (null: another view): the panel starts closed, progress of another webhook is dropped. */
export function resetBackfillPanel(webhookId: string | null): void {
  if (following === webhookId) return;
  following = null;
  byId('backfill-form').hidden = true;
  byId('backfill-progress').textContent = '';
}

async function follow(webhookId: string, id: string): Promise<void> {
  following = webhookId;
  const progress = byId('backfill-progress');
  while (following === webhookId) {
    const backfill = await backfillProgress(id);
    if (following !== webhookId) return;
    if (!backfill) {
      progress.textContent = `Backfill ${id} no longer exists`;
      return;
    }
    progress.textContent = describeBackfill(backfill);
    if (ENDED.has(backfill.status)) return;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/** Wires the button and the form once; `webhookId()` is the webhook shown. */
export function handleBackfillPanel(webhookId: () => string | null): void {
  const form = byId<HTMLFormElement>('backfill-form');
  const objects = byId<HTMLSelectElement>('backfill-object');
  const button = byId<HTMLButtonElement>('show-backfill');
  button.addEventListener('click', () => {
    byId('backfill-error').textContent = '';
    void whileBusy(button, async () => {
      const { objects: names } = await operationChoices();
      objects.replaceChildren(...names.map((name) => Object.assign(element('option', {}, name), { value: name })));
      form.hidden = false;
      objects.focus();
    }).catch((error: unknown) => showError(form, error, byId('backfill-error')));
  });
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const id = webhookId();
    if (!id) return;
    byId('backfill-error').textContent = '';
    const where = byId<HTMLInputElement>('backfill-where').value.trim() || null;
    void whileBusy(byId<HTMLButtonElement>('start-backfill'), async () => {
      const started = await startBackfill({ object: objects.value, webhookId: id, where });
      form.hidden = true;
      byId('backfill-progress').textContent = describeBackfill(started);
      void follow(id, started.id).catch((error: unknown) => {
        byId('backfill-progress').textContent = `Could not read the backfill's progress: ${String(error)}`;
      });
    }).catch((error: unknown) => showError(form, error, byId('backfill-error')));
  });
}
