/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * Views whose data changes by itself (deliveries arrive, retries happen):
 * reloaded every few seconds while shown and while the tab is visible, and
 * rendered again only when the data changed, so that keyboard focus and a
 * text selection survive a refresh.
 */

export interface LiveView<T> {
  load(): Promise<T>;
  render(data: T): void;
}

const REFRESH_MS = 2_000;

let shown: { view: LiveView<unknown>; rendered: string } | null = null;
let timer: number | undefined;
let report: (error: unknown) => void = () => undefined;

/** Where the outcome of each background refresh goes: its error, or null once one succeeded. */
export function reportRefreshErrorsTo(handler: (error: unknown) => void): void {
  report = handler;
}

/** Loads and renders `view`, then keeps it fresh until another view is shown; load errors are thrown. */
export async function showLive<T>(view: LiveView<T>): Promise<void> {
  stopLive();
  const data = await view.load();
  view.render(data);
  shown = { view: view as LiveView<unknown>, rendered: JSON.stringify(data) };
  timer = window.setInterval(() => void refreshLive().then(() => report(null), report), REFRESH_MS);
}

export function stopLive(): void {
  window.clearInterval(timer);
  shown = null;
}

/** Reloads the shown view now (after an action changed its data). */
export async function refreshLive(): Promise<void> {
  const current = shown;
  if (!current || document.visibilityState === 'hidden') return;
  const data = await current.view.load();
  const rendered = JSON.stringify(data);
  if (current !== shown || rendered === current.rendered) return;
  current.rendered = rendered;
  current.view.render(data);
}
