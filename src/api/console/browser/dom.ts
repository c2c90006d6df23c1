/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * DOM helpers shared by the views. Data from the API only ever becomes text
 * (textContent), never HTML.
 */
import { ApiError, type FieldProblem, type Webhook } from './api.js';

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`the page has no #${id}`);
  return found as T;
}

interface ElementProps {
  className?: string;
  title?: string;
  /** data-* attributes, without the prefix. */
  data?: Record<string, string>;
}

/** A new element holding `children` (strings become text). */
export function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: ElementProps = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const created = document.createElement(tag);
  if (props.className) created.className = props.className;
  if (props.title) created.title = props.title;
  for (const [name, value] of Object.entries(props.data ?? {})) created.dataset[name] = value;
  created.append(...children);
  return created;
}

/** Shows one view, hides the others, and moves focus to its heading for keyboard and screen-reader users. */
export function showView(id: string): void {
  byId('loading').hidden = true;
  for (const view of document.querySelectorAll<HTMLElement>('.view')) view.hidden = view.id !== id;
  byId(id).querySelector<HTMLElement>('h1')?.focus();
}

/** Fills `tbody` with `rows`; with none, shows the `empty` note instead of the table. */
export function replaceRows(tbody: HTMLTableSectionElement, rows: HTMLTableRowElement[], empty: HTMLElement): void {
  tbody.replaceChildren(...rows);
  tbody.closest('table')!.hidden = rows.length === 0;
  empty.hidden = rows.length > 0;
}

export function row(...cells: (HTMLTableCellElement | Node | string)[]): HTMLTableRowElement {
  return element('tr', {}, ...cells.map((cell) => (cell instanceof HTMLTableCellElement ? cell : element('td', {}, cell))));
}

export function clearErrors(scope: HTMLElement): void {
  for (const message of scope.querySelectorAll<HTMLElement>('.field-error, .form-error')) message.textContent = '';
  for (const input of scope.querySelectorAll('[aria-invalid]')) input.removeAttribute('aria-invalid');
}

/**
 * A field's error goes away as soon as the field is changed: it spoke of the
 * old value. So does its line in an error summary (see showFieldProblems).
 */
export function clearFieldErrorsOnInput(form: HTMLFormElement): void {
  form.addEventListener('input', (event) => {
    const field = (event.target as HTMLElement).closest('.field');
    const message = field?.querySelector<HTMLElement>('.field-error');
    if (!message) return;
    message.textContent = '';
    field?.querySelector('[aria-invalid]')?.removeAttribute('aria-invalid');
    for (const line of form.querySelectorAll(`[data-summary-for="${CSS.escape(message.dataset.errorFor ?? '')}"]`)) line.remove();
    for (const summary of form.querySelectorAll<HTMLElement>('.error-summary')) if (!summary.querySelector('li')) summary.textContent = '';
  });
}

/** A problem shown beside its field: the field's label, and the input to focus (its own, or the first of its group). */
export interface PlacedProblem extends FieldProblem {
  label: string;
  input: HTMLElement | null;
}

/** The input a field's problems are about: the one with the field's id, else the first of the field's group. */
export function fieldInput(scope: HTMLElement, field: string): HTMLElement | null {
  const group = scope.querySelector(`[data-error-for="${CSS.escape(field)}"]`)?.closest('.field');
  return scope.querySelector<HTMLElement>(`#${CSS.escape(field)}`) ?? group?.querySelector<HTMLElement>('input') ?? null;
}

/** The field's label or legend as the page shows it, without its hint. */
function fieldLabel(scope: HTMLElement, field: string, input: HTMLElement | null): string {
  const group = scope.querySelector(`[data-error-for="${CSS.escape(field)}"]`)?.closest('.field');
  const label = (input?.id ? scope.querySelector(`label[for="${CSS.escape(input.id)}"]`) : null) ?? group?.querySelector('legend');
  const named = label?.cloneNode(true) as HTMLElement | undefined;
  for (const hint of named?.querySelectorAll('.hint') ?? []) hint.remove();
  return named?.textContent?.trim() || field;
}

/**
 * Shows every problem next to the field it names, and marks the field's input
 * invalid; returns those `scope` has a place for.
 */
export function showFieldProblems(scope: HTMLElement, problems: readonly FieldProblem[]): PlacedProblem[] {
  return problems.flatMap((problem) => {
    const message = scope.querySelector<HTMLElement>(`[data-error-for="${CSS.escape(problem.field)}"]`);
    if (!message) return [];
    message.textContent = problem.reason;
    const input = fieldInput(scope, problem.field);
    input?.setAttribute('aria-invalid', 'true');
    return [{ ...problem, label: fieldLabel(scope, problem.field, input), input }];
  });
}

/**
 * Shows an API error next to each field it names (`extensions.fields`) that
 * `scope` has, and focuses the first of them; whatever has no field there
 * goes to `fallback`. Returns the problems shown beside a field.
 */
export function showError(scope: HTMLElement, error: unknown, fallback: HTMLElement): PlacedProblem[] {
  const problems = error instanceof ApiError ? error.problems : [];
  const placed = showFieldProblems(scope, problems);
  const elsewhere = problems.filter((problem) => !placed.some(({ field }) => field === problem.field));
  if (placed.length === 0) fallback.textContent = error instanceof Error ? error.message : String(error);
  else if (elsewhere.length > 0) fallback.textContent = elsewhere.map(({ field, reason }) => `${field}: ${reason}`).join('; ');
  placed[0]?.input?.focus();
  return placed;
}

/** Disables `button` while `work` runs, so a double click sends one request. */
export async function whileBusy<T>(button: HTMLButtonElement, work: () => Promise<T>): Promise<T> {
  button.disabled = true;
  try {
    return await work();
  } finally {
    button.disabled = false;
  }
}

/** Asks in the page's modal dialog; Escape and Cancel say no. */
export function confirmAction(message: string, confirmLabel: string): Promise<boolean> {
  const dialog = byId<HTMLDialogElement>('confirm-dialog');
  byId('confirm-message').textContent = message;
  byId('confirm-ok').textContent = confirmLabel;
  dialog.returnValue = '';
  dialog.showModal();
  return new Promise((resolve) => dialog.addEventListener('close', () => resolve(dialog.returnValue === 'confirm'), { once: true }));
}

export type DisplayStatus = 'active' | 'failing' | 'disabled';

/** Disabled wins over failing: a disabled webhook is not attempted at all. */
export function displayStatus(webhook: Webhook): DisplayStatus {
  if (webhook.status === 'disabled') return 'disabled';
  return webhook.stats.failing ? 'failing' : 'active';
}

export function statusBadge(webhook: Webhook): HTMLElement {
  const status = displayStatus(webhook);
  return element('span', { className: `badge ${status}`, title: webhook.disabledReason ?? '' }, status);
}

const READ_ONLY_NOTES: Record<Webhook['source'], string> = {
  config: 'Defined in the config file: read-only here.',
  twenty: "Made in Twenty's Settings → APIs & Webhooks: edit or delete it there.",
  api: '',
};

/** Where a read-only webhook is edited instead; empty for one made here. */
export function readOnlyNote({ source }: Webhook): string {
  return READ_ONLY_NOTES[source];
}

/** The workspace whose events a webhook receives. */
export function workspaceText({ workspaceId }: Webhook): string {
  return workspaceId ?? 'every workspace';
}

export function operationList(operations: string[]): HTMLElement {
  return element('span', { className: 'ops' }, ...operations.map((operation) => element('code', {}, operation)));
}

export function formatTime(iso: string | null): string {
  return iso === null ? '' : new Date(iso).toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'medium' });
}

/** A delivery id, whole: it is the webhook-id header receivers log. */
export function deliveryIdCell(id: string): HTMLTableCellElement {
  return element('td', { className: 'mono', title: id }, id);
}
