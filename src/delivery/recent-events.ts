/**
 * The latest events each webhook's operations matched, before its filters:
 * what the console tries a filter on before it is saved. Kept in memory by
 * the instance that streams, not persisted (like recent attempts): a
 * restart, or asking another instance, finds none.
 */
import type { PendingEvent } from '../events/pending-event.js';
import type { ChangeEvent } from '../events/types.js';
import type { DeliveryObserver } from './dispatcher.js';
import type { Webhook } from './registry.js';

/** Few: each holds a whole change (its row before and after). */
export const EVENTS_KEPT_PER_WEBHOOK = 20;

export class RecentEvents implements DeliveryObserver {
  private readonly byWebhook = new Map<string, PendingEvent[]>();

  constructor(private readonly kept = EVENTS_KEPT_PER_WEBHOOK) {}

  attempted(): void {}

  deadLettered(): void {}

  considered(event: PendingEvent, webhooks: readonly Webhook[]): void {
    for (const webhook of webhooks) {
      let events = this.byWebhook.get(webhook.id);
      if (!events) this.byWebhook.set(webhook.id, (events = []));
      events.push(event);
      if (events.length > this.kept) events.shift();
    }
  }

  /** Newest first, decoded now if no filter needed them whole; those Twenty would not send are left out. */
  latest(webhookId: string): ChangeEvent[] {
    return (this.byWebhook.get(webhookId) ?? []).flatMap((pending) => pending.event() ?? []).reverse();
  }

  forget(webhookId: string): void {
    this.byWebhook.delete(webhookId);
  }
}
