/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The create and edit form: target URL, description, operations picked from
 * the objects walhook streams × the actions (`*` for either), format,
 * signature schemes and workspace. Fields left empty are reported before
 * anything is sent; the API checks everything else. Every problem is shown
 * next to its field and listed in a summary above the form, all at once.
 */
import {
  createWebhook,
  getWebhook,
  operationChoices,
  tryFilter,
  updateWebhook,
  type FieldProblem,
  type FilterTrial,
  type Webhook,
  type WebhookInput,
} from './api.js';
import { byId, clearErrors, clearFieldErrorsOnInput, element, fieldInput, showError, showFieldProblems, showView, whileBusy, type PlacedProblem } from './dom.js';
import { formProblems } from './form-check.js';

const ANY = '*';

export interface FormOutcome {
  webhook: Webhook;
  /** Only after a create: the secret, shown this once. */
  secret: string | null;
}

/** The webhook being edited; null while creating. */
let editing: Webhook | null = null;

function form(): HTMLFormElement {
  return byId<HTMLFormElement>('webhook-form');
}

function header(text: string, scope: 'col' | 'row'): HTMLTableCellElement {
  const cell = element('th', {}, text);
  cell.scope = scope;
  return cell;
}

/** One checkbox per object.action, labelled with the operation it sends. */
function renderOperationsGrid(objects: string[], actions: string[], selected: ReadonlySet<string>): void {
  const columns = [...actions, ANY];
  const corner = element('th', {}, element('span', { className: 'visually-hidden' }, 'Object'));
  const head = element('thead', {}, element('tr', {}, corner, ...columns.map((action) => header(action === ANY ? '* any' : action, 'col'))));
  const rows = [...objects, ANY].map((object) => {
    const cells = columns.map((action) => {
      const box = element('input');
      box.type = 'checkbox';
      box.name = 'operation';
      box.value = `${object}.${action}`;
      box.checked = selected.has(box.value);
      box.setAttribute('aria-label', box.value);
      return element('td', {}, box);
    });
    return element('tr', {}, header(object === ANY ? '* any object' : object, 'row'), ...cells);
  });
  byId('operations-grid').replaceChildren(head, element('tbody', {}, ...rows));
}

function fill(webhook: Webhook | null, objects: string[], actions: string[]): void {
  const fields = form().elements;
  const text = (name: string) => fields.namedItem(name) as HTMLInputElement;
  const operations = webhook?.operations ?? [];
  const inGrid = new Set([...objects, ANY].flatMap((object) => [...actions, ANY].map((action) => `${object}.${action}`)));
  renderOperationsGrid(objects, actions, new Set(operations));
  text('targetUrl').value = webhook?.targetUrl ?? '';
  text('description').value = webhook?.description ?? '';
  text('extraOperations').value = operations.filter((operation) => !inGrid.has(operation)).join(', ');
  text('workspaceId').value = webhook?.workspaceId ?? '';
  text('changedFields').value = (webhook?.changedFields ?? []).join(', ');
  text('filter').value = webhook?.filter ?? '';
  text('maxPerSecond').value = webhook?.maxPerSecond == null ? '' : String(webhook.maxPerSecond);
  text('batch.maxEvents').value = webhook?.batch == null ? '' : String(webhook.batch.maxEvents);
  text('batch.maxBytes').value = webhook?.batch == null ? '' : String(webhook.batch.maxBytes);
  text('batch.linger').value = webhook?.batch?.linger ?? '';
  byId('filter-results').replaceChildren();
  byId<HTMLButtonElement>('filter-try').hidden = webhook === null;
  for (const radio of form().querySelectorAll<HTMLInputElement>('input[name="format"]')) radio.checked = radio.value === (webhook?.format ?? 'record');
  for (const radio of form().querySelectorAll<HTMLInputElement>('input[name="ordering"]')) radio.checked = radio.value === (webhook?.ordering ?? 'none');
  for (const box of form().querySelectorAll<HTMLInputElement>('input[name="signatures"]')) box.checked = webhook ? webhook.signatures.includes(box.value) : true;
}

function commaSeparated(text: string): string[] {
  return text
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

function read(): WebhookInput {
  const data = new FormData(form());
  const extra = commaSeparated(String(data.get('extraOperations') ?? ''));
  return {
    targetUrl: String(data.get('targetUrl') ?? '').trim(),
    description: String(data.get('description') ?? '').trim(),
    operations: [...data.getAll('operation').map(String), ...extra],
    format: String(data.get('format') ?? ''),
    ordering: String(data.get('ordering') ?? 'none'),
    signatures: data.getAll('signatures').map(String),
    // Empty: every workspace (null also clears a workspace when editing).
    workspaceId: String(data.get('workspaceId') ?? '').trim() || null,
    changedFields: commaSeparated(String(data.get('changedFields') ?? '')),
    // Empty: every event (null also clears a filter when editing).
    filter: String(data.get('filter') ?? '').trim() || null,
    // Empty: no limit; the API names anything that is not a positive number.
    maxPerSecond: maxPerSecondOf(String(data.get('maxPerSecond') ?? '').trim()),
    batch: batchOf(data),
  };
}

/** All three empty: one event per request; an empty one takes its default, and the API names a wrong one. */
function batchOf(data: FormData): WebhookInput['batch'] {
  const [maxEvents, maxBytes, linger] = ['batch.maxEvents', 'batch.maxBytes', 'batch.linger'].map((name) => String(data.get(name) ?? '').trim());
  if (maxEvents === '' && maxBytes === '' && linger === '') return null;
  return { maxEvents: maxEvents === '' ? null : Number(maxEvents), maxBytes: maxBytes === '' ? null : Number(maxBytes), linger: linger || null };
}

function maxPerSecondOf(text: string): number | null {
  return text === '' ? null : Number(text);
}

/** Lists the problems shown beside their fields above the form, each a link to its field, and moves focus there. */
function showSummary(placed: readonly PlacedProblem[]): void {
  if (placed.length === 0) return;
  const summary = byId('form-summary');
  const lines = placed.map(({ field, label, reason }) => {
    const link = element('a', { data: { field } }, `${label}: ${reason}`);
    link.href = `#${fieldInput(form(), field)?.id ?? ''}`;
    return element('li', { data: { summaryFor: field } }, link);
  });
  const heading = placed.length === 1 ? 'Fix this to save the webhook:' : `Fix these ${placed.length} fields to save the webhook:`;
  summary.replaceChildren(element('h2', {}, heading), element('ul', {}, ...lines));
  summary.focus();
}

function showProblems(problems: readonly FieldProblem[]): void {
  showSummary(showFieldProblems(form(), problems));
}

/** A summary line's link focuses its field; following it as a link would change the hash, the console's route. */
function handleSummaryLinks(): void {
  byId('form-summary').addEventListener('click', (event) => {
    const link = (event.target as HTMLElement).closest<HTMLAnchorElement>('a[data-field]');
    if (!link) return;
    event.preventDefault();
    fieldInput(form(), link.dataset.field!)?.focus();
  });
}

async function show(webhook: Webhook | null): Promise<void> {
  const { objects, actions } = await operationChoices();
  editing = webhook;
  clearErrors(form());
  fill(webhook, objects, actions);
  byId('form-title').textContent = webhook ? 'Edit webhook' : 'Create webhook';
  byId('form-submit').textContent = webhook ? 'Save' : 'Create webhook';
  const back = webhook ? `#/webhooks/${encodeURIComponent(webhook.id)}` : '#/';
  byId<HTMLAnchorElement>('form-cancel').href = back;
  byId<HTMLAnchorElement>('form-back').href = back;
  showView('view-form');
}

export function showCreateForm(): Promise<void> {
  return show(null);
}

export async function showEditForm(id: string): Promise<void> {
  return show(await getWebhook(id));
}

function trialRow({ operation, recordId, commitTime, matched, error }: FilterTrial): HTMLLIElement {
  const verdict = error !== null ? `filter failed: ${error}` : matched ? 'sent' : 'not sent';
  return element('li', { className: error !== null ? 'warning' : '' }, `${operation} ${recordId ?? ''} (${commitTime}): ${verdict}`);
}

/** Tries the filter and changed fields as typed, unsaved, on the edited webhook's recent events. */
function handleFilterTrial(): void {
  byId('filter-try').addEventListener('click', () => {
    if (!editing) return;
    const { id } = editing;
    const { filter, changedFields } = read();
    clearErrors(form());
    void whileBusy(byId<HTMLButtonElement>('filter-try'), async () => {
      try {
        const trials = await tryFilter(id, filter, changedFields);
        const results = byId('filter-results');
        if (trials.length === 0) results.replaceChildren(element('p', { className: 'hint' }, 'No recent events on this instance to try it on.'));
        else results.replaceChildren(element('ul', {}, ...trials.map(trialRow)));
      } catch (error) {
        showSummary(showError(form(), error, byId('form-error')));
      }
    });
  });
}

/** Sends the form to the API when submitted; `saved` gets the outcome. */
export function handleFormSubmit(saved: (outcome: FormOutcome) => void): void {
  clearFieldErrorsOnInput(form());
  handleSummaryLinks();
  handleFilterTrial();
  form().addEventListener('submit', (event) => {
    event.preventDefault();
    clearErrors(form());
    const input = read();
    const problems = formProblems(input);
    if (problems.length > 0) {
      showProblems(problems);
      return;
    }
    void whileBusy(byId<HTMLButtonElement>('form-submit'), async () => {
      try {
        if (editing) {
          saved({ webhook: await updateWebhook({ id: editing.id, ...input }), secret: null });
        } else {
          const { secret, ...webhook } = await createWebhook(input);
          saved({ webhook, secret });
        }
      } catch (error) {
        showSummary(showError(form(), error, byId('form-error')));
      }
    });
  });
}
