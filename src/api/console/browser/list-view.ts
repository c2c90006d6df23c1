/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The webhooks list: URL, operations, format, workspace, status, the last
 * hour's deliveries, dead letters; below it, which replica streams which
 * partition. Each table is rendered again only when its own rows changed
 * (a slot's lag moves all the time), so focus in the other one survives.
 */
import { overview, type PartitionView, type Webhook } from './api.js';
import { byId, element, operationList, readOnlyNote, replaceRows, row, statusBadge, workspaceText } from './dom.js';
import type { LiveView } from './live.js';

function lastHour({ stats }: Webhook): string {
  const delivered = `${stats.deliveredLastHour} delivered`;
  return stats.failedLastHour > 0 ? `${delivered}, ${stats.failedLastHour} failed` : delivered;
}

function webhookRow(webhook: Webhook): HTMLTableRowElement {
  const link = element('a', {}, webhook.targetUrl);
  link.href = `#/webhooks/${encodeURIComponent(webhook.id)}`;
  const url = element('td', { className: 'url' }, link);
  if (webhook.description) url.append(element('div', { className: 'hint' }, webhook.description));
  if (webhook.readOnly) url.append(element('div', { className: 'hint' }, readOnlyNote(webhook)));
  return row(
    url,
    operationList(webhook.operations),
    webhook.format,
    workspaceText(webhook),
    statusBadge(webhook),
    lastHour(webhook),
    String(webhook.stats.deadLetters),
  );
}

const BYTE_UNITS = ['B', 'kB', 'MB', 'GB', 'TB'];

function formatBytes(bytes: number | null): string {
  if (bytes === null) return '—';
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < BYTE_UNITS.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${BYTE_UNITS[unit]}`;
}

function partitionRow({ index, slot, streamedBy, streamedHere, lagBytes }: PartitionView): HTMLTableRowElement {
  const streamer = streamedBy === null ? element('span', { className: 'badge failing' }, 'nobody') : `${streamedBy}${streamedHere ? ' (this instance)' : ''}`;
  return row(String(index), element('code', {}, slot), streamer, formatBytes(lagBytes));
}

/** Replaces the table's rows unless it already shows exactly these (the DOM keeps what it was rendered from). */
function renderRows<T>(tbodyId: string, emptyId: string, items: T[], toRow: (item: T) => HTMLTableRowElement): void {
  const tbody = byId<HTMLTableSectionElement>(tbodyId);
  const rendered = JSON.stringify(items);
  if (tbody.dataset.rendered === rendered) return;
  replaceRows(tbody, items.map(toRow), byId(emptyId));
  tbody.dataset.rendered = rendered;
}

export const listView: LiveView<{ webhooks: Webhook[]; partitions: PartitionView[] }> = {
  load: overview,
  render({ webhooks, partitions }) {
    renderRows('webhook-rows', 'list-empty', webhooks, webhookRow);
    renderRows('partition-rows', 'partitions-empty', partitions, partitionRow);
  },
};
