/**
 * The latest delivery attempts of each webhook, kept in memory for the web
 * console's delivery log and its "last hour" counts. Successes on the fast
 * path are never written to the state table, so this is the only place they
 * can be seen one by one.
 *
 * Per instance and not persisted: attempts made by another instance are not
 * here, and a restart forgets everything.
 */
import type { DeliveryObserver } from './dispatcher.js';
import type { SendResult } from './http.js';
import type { Webhook } from './registry.js';

export interface RecentAttempt {
  deliveryId: string;
  /** ISO 8601. */
  attemptedAt: string;
  succeeded: boolean;
  /** HTTP status; null when no response came. */
  status: number | null;
  durationMs: number;
  /** Why it failed (`HTTP 500`, `connection refused`); null on success. */
  error: string | null;
}

export interface AttemptCounts {
  succeeded: number;
  failed: number;
}

export const DEFAULT_ATTEMPTS_KEPT = 200;
const MINUTE_MS = 60_000;
const MINUTES_PER_HOUR = 60;

/** An attempt as kept: its time as epoch ms, written out as ISO 8601 only when read. */
type KeptAttempt = Omit<RecentAttempt, 'attemptedAt'> & { attemptedAtMs: number };

/** One webhook's attempts: the latest few, and counts per minute for the last hour. */
class WebhookAttempts {
  /** A ring of the latest attempts: `next` is where the next one goes, over the oldest once full. */
  private readonly ring: KeptAttempt[] = [];
  private next = 0;
  /** Minute (ms since the epoch / 60 000) → counts; only the last hour's minutes are kept. */
  private readonly perMinute = new Map<number, AttemptCounts>();
  /** The counts of the minute attempts were last added in, so most additions touch neither the map nor the clean-up. */
  private minute = Number.NaN;
  private counts: AttemptCounts = { succeeded: 0, failed: 0 };

  constructor(private readonly kept: number) {}

  add(attempt: KeptAttempt, minute: number): void {
    if (this.ring.length < this.kept) this.ring.push(attempt);
    else this.ring[this.next] = attempt;
    this.next = (this.next + 1) % this.kept;
    if (minute !== this.minute) {
      this.minute = minute;
      this.counts = this.perMinute.get(minute) ?? { succeeded: 0, failed: 0 };
      this.perMinute.set(minute, this.counts);
      this.dropBefore(minute - MINUTES_PER_HOUR + 1);
    }
    if (attempt.succeeded) this.counts.succeeded++;
    else this.counts.failed++;
  }

  /** The latest `limit` attempts, newest first. */
  latest(limit: number): RecentAttempt[] {
    const newestFirst: RecentAttempt[] = [];
    for (let back = 1; back <= Math.min(limit, this.ring.length); back++) {
      const { attemptedAtMs, ...attempt } = this.ring[(this.next - back + this.ring.length) % this.ring.length]!;
      newestFirst.push({ ...attempt, attemptedAt: new Date(attemptedAtMs).toISOString() });
    }
    return newestFirst;
  }

  /** The counts from `firstMinute` on. */
  countsSince(firstMinute: number): AttemptCounts {
    this.dropBefore(firstMinute);
    const total = { succeeded: 0, failed: 0 };
    for (const counts of this.perMinute.values()) {
      total.succeeded += counts.succeeded;
      total.failed += counts.failed;
    }
    return total;
  }

  private dropBefore(firstMinute: number): void {
    for (const minute of this.perMinute.keys()) if (minute < firstMinute) this.perMinute.delete(minute);
    if (this.minute < firstMinute) {
      this.minute = Number.NaN;
      this.counts = { succeeded: 0, failed: 0 };
    }
  }
}

export class RecentAttempts implements DeliveryObserver {
  private readonly byWebhook = new Map<string, WebhookAttempts>();

  constructor(
    /** Attempts kept per webhook for the log; the hourly counts are not limited by it. */
    private readonly kept = DEFAULT_ATTEMPTS_KEPT,
    private readonly now: () => number = Date.now,
  ) {}

  attempted(webhook: Webhook, result: SendResult, _committedAtMs: number, deliveryId: string): void {
    const succeeded = result.outcome === 'success';
    const attemptedAtMs = this.now();
    this.keep(webhook.id, {
      deliveryId,
      succeeded,
      status: result.status ?? null,
      durationMs: result.durationMs,
      error: succeeded ? null : result.error,
      attemptedAtMs,
    });
  }

  deadLettered(): void {}

  record(webhookId: string, attempt: Omit<RecentAttempt, 'attemptedAt'>): void {
    this.keep(webhookId, { ...attempt, attemptedAtMs: this.now() });
  }

  private keep(webhookId: string, attempt: KeptAttempt): void {
    let attempts = this.byWebhook.get(webhookId);
    if (!attempts) {
      attempts = new WebhookAttempts(this.kept);
      this.byWebhook.set(webhookId, attempts);
    }
    attempts.add(attempt, minuteOf(attempt.attemptedAtMs));
  }

  /** The latest `limit` attempts, newest first. */
  latest(webhookId: string, limit: number): RecentAttempt[] {
    return this.byWebhook.get(webhookId)?.latest(limit) ?? [];
  }

  /** Attempts in the last hour (by whole minutes: the current one and the 59 before). */
  lastHour(webhookId: string): AttemptCounts {
    const firstMinute = minuteOf(this.now()) - MINUTES_PER_HOUR + 1;
    return this.byWebhook.get(webhookId)?.countsSince(firstMinute) ?? { succeeded: 0, failed: 0 };
  }

  /** A deleted webhook's attempts go with it. */
  forget(webhookId: string): void {
    this.byWebhook.delete(webhookId);
  }
}

function minuteOf(epochMs: number): number {
  return Math.floor(epochMs / MINUTE_MS);
}
