/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/** The webhooks list: URL, operations, format, workspace, status, the last hour's deliveries, dead letters. */
import { listWebhooks, type Webhook } from './api.js';
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

export const listView: LiveView<Webhook[]> = {
  load: listWebhooks,
  render(webhooks) {
    replaceRows(byId<HTMLTableSectionElement>('webhook-rows'), webhooks.map(webhookRow), byId('list-empty'));
  },
};
