/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * DOM helpers shared by the views. Data from the API only ever becomes text
 * (textContent), never HTML.
 */
import { ApiError, type Webhook } from './api.js';

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

/** A field's error goes away as soon as the field is changed: it spoke of the old value. */
export function clearFieldErrorsOnInput(form: HTMLFormElement): void {
  form.addEventListener('input', (event) => {
    const field = (event.target as HTMLElement).closest('.field');
    const message = field?.querySelector('.field-error');
    if (message) message.textContent = '';
    field?.querySelector('[aria-invalid]')?.removeAttribute('aria-invalid');
  });
}

/**
 * Shows an API error next to the field it names (`extensions.field`) when
 * `scope` has one, else in `fallback`.
 */
export function showError(scope: HTMLElement, error: unknown, fallback: HTMLElement): void {
  const message = error instanceof Error ? error.message : String(error);
  const field = error instanceof ApiError ? error.field : null;
  const next = field === null ? null : scope.querySelector<HTMLElement>(`[data-error-for="${CSS.escape(field)}"]`);
  if (!next) {
    fallback.textContent = message;
    return;
  }
  next.textContent = message;
  const input = scope.querySelector<HTMLElement>(`#${CSS.escape(field!)}`);
  input?.setAttribute('aria-invalid', 'true');
  input?.focus();
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
