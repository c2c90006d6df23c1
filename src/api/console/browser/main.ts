/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The console's entry: sign-in, and the views by location hash — `#/` the
 * list, `#/new` the create form, `#/webhooks/<id>` a webhook and its
 * delivery log, `#/webhooks/<id>/edit` its form. The hash only ever holds
 * ids; the token stays in sessionStorage.
 */
import { ApiError, listWebhooks, onUnauthenticated, token } from './api.js';
import { handleBackfillPanel, resetBackfillPanel } from './backfill-panel.js';
import { detailView, handleDetailActions, hideSecret, showSecret } from './detail-view.js';
import { byId, clearErrors, clearFieldErrorsOnInput, showError, showView, whileBusy } from './dom.js';
import { handleFormSubmit, showCreateForm, showEditForm } from './form-view.js';
import { listView } from './list-view.js';
import { reportRefreshErrorsTo, showLive, stopLive } from './live.js';

const WEBHOOK_ROUTE = /^#\/webhooks\/([^/]+)(\/edit)?$/;

/** A secret just made by a create, for the webhook view that follows to show once. */
let freshSecret: string | null = null;
/** The webhook the webhook view shows; null on other views. */
let shownWebhook: string | null = null;

function signOut(): void {
  token.clear();
  stopLive();
  hideSecret();
  byId('sign-out').hidden = true;
  showView('view-sign-in');
}

async function route(): Promise<void> {
  stopLive();
  hideSecret();
  clearErrors(byId('main'));
  const hash = location.hash || '#/';
  const webhook = WEBHOOK_ROUTE.exec(hash);
  shownWebhook = webhook && !webhook[2] ? decodeURIComponent(webhook[1]!) : null;
  resetBackfillPanel(shownWebhook);
  if (hash === '#/new') await showCreateForm();
  else if (webhook?.[2]) await showEditForm(decodeURIComponent(webhook[1]!));
  else if (webhook) await showWebhook(decodeURIComponent(webhook[1]!));
  else {
    await showLive(listView);
    showView('view-list');
  }
}

async function showWebhook(id: string): Promise<void> {
  await showLive(detailView(id));
  showView('view-detail');
  if (freshSecret !== null) showSecret(freshSecret, null);
  freshSecret = null;
}

/** Routes, showing a failure to load on the list view (the one view that always exists). */
function navigate(): void {
  if (!token.get()) return signOut();
  byId('sign-out').hidden = false;
  route().catch((error: unknown) => {
    if (error instanceof ApiError && error.unauthenticated) return;
    showView('view-list');
    showError(byId('view-list'), error, byId('list-error'));
  });
}

function handleSignIn(): void {
  const form = byId<HTMLFormElement>('sign-in-form');
  clearFieldErrorsOnInput(form);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    clearErrors(form);
    const input = byId<HTMLInputElement>('token');
    const candidate = input.value.trim();
    if (!candidate) {
      byId('token-error').textContent = 'Enter the API token.';
      return;
    }
    token.set(candidate);
    void whileBusy(form.querySelector('button')!, async () => {
      try {
        await listWebhooks();
      } catch (error) {
        token.clear();
        // The form has one field: whatever went wrong is shown next to it.
        showError(form, error, byId('token-error'));
        return;
      }
      input.value = '';
      navigate();
    });
  });
}

function start(): void {
  onUnauthenticated(signOut);
  reportRefreshErrorsTo((error) => {
    byId('refresh-error').textContent = error === null ? '' : `Could not refresh: ${(error as Error).message}`;
  });
  handleSignIn();
  handleFormSubmit(({ webhook, secret }) => {
    freshSecret = secret;
    location.hash = `#/webhooks/${encodeURIComponent(webhook.id)}`;
  });
  handleDetailActions(() => {
    stopLive();
    location.hash = '#/';
  });
  handleBackfillPanel(() => shownWebhook);
  byId('sign-out').addEventListener('click', signOut);
  window.addEventListener('hashchange', navigate);
  navigate();
}

start();
