/**
 * Routes events to webhooks and runs their deliveries: one concurrency-
 * limited queue per endpoint, the fast path straight to HTTP, and the state
 * table for everything that cannot be delivered now (failure, overflow, a
 * failing endpoint, an oversized payload). Each delivery reports back exactly
 * once through its `settle` callback: on a 2xx, or once its row is committed.
 *
 * The stages around it are modules of their own: fan-out.ts builds an
 * event's deliveries, batch-gathering.ts makes batches of them, endpoint.ts
 * keeps each endpoint's queue and mode, attempt.ts sends one. What stays here
 * is where each delivery goes and what an attempt's answer means for its
 * endpoint (breaker, Retry-After, failing streak, disabling).
 */
import type { Logger } from 'pino';
import type { Action } from '../common/operations.js';
import type { ChangeEvent } from '../events/types.js';
import type { PendingEvent } from '../events/pending-event.js';
import { inTransaction, type StateDb } from '../state/db.js';
import { insertSetAside, type SetAsideChange } from '../state/set-aside.js';
import { clearWebhookFailing, markWebhookFailing, notifyWebhookChanged, setWebhookDisabled } from '../state/webhooks.js';
import type { HttpSender, SendResult } from './http.js';
import { inWorkspace, type Webhook, type WebhookRegistry } from './registry.js';
import { nextStep, throttleWaitMs, type FailedSend, type NextStep } from './retry-policy.js';
import { readAheadOf, type FlowLoad } from './flow-control.js';
import type { StateWriter } from './state-writer.js';
import { pathFor, RecordGate } from './record-order.js';
import { listWaitingRecords, recordIsWaiting } from '../state/deliveries.js';
import { loggableUrl } from '../common/log.js';
import { changedFieldsAdmit, combinedReads, READS_EVERYTHING } from '../common/webhook-filter.js';
import { Endpoint, type Waiting } from './endpoint.js';
import { admission, autoDisableReason, nextHealth, shouldAutoDisable, type EndpointMode, type HealthEvent } from './endpoint-health.js';
import { renderDeliveries, setAsideKeyOf, type DeliveryJob, type Route, type Unrenderable } from './fan-out.js';
import { BatchGathering } from './batch-gathering.js';
import { Attempts, type AttemptJob } from './attempt.js';

export interface DeliverySettings {
  retryScheduleMs: number[];
  concurrency: number;
  maxQueuedPerEndpoint: number;
  /** A delivery waiting longer than this in memory moves to the state table with the rest of its endpoint's queue. */
  spillAfterMs: number;
  maxPayloadBytes: number;
  userAgent: string;
  /** How long a 429 without a readable `Retry-After` holds its endpoint back. */
  retryAfterDefaultMs: number;
  /** Consecutive failures that open an endpoint's circuit breaker (endpoint-health.ts). */
  breakerFailures: number;
  /** How often an open endpoint is probed with one request (never less often than the first retry wait). */
  breakerProbeIntervalMs: number;
  /** How long a webhook may fail without a success before it is disabled. */
  disableAfterMs: number;
}

/** Hooks for metrics and the recent-attempts log; every call is synchronous and cheap. */
export interface DeliveryObserver {
  attempted(webhook: Webhook, result: SendResult, committedAtMs: number, deliveryId: string): void;
  deadLettered(webhook: Webhook, reason: string): void;
  /** The webhook failed for delivery.disableAfter without a success and was disabled. */
  autoDisabled?(webhook: Webhook): void;
  /** A change was set aside because no body could be built for it (once per change). */
  setAside?(reason: string): void;
  /** `changedFields` or `filter` kept an event from a webhook; `failed`: the filter failed on it. */
  filtered?(webhook: Webhook, failed: boolean): void;
  /** The webhooks `event` is about to be filtered for (their operations and workspace matched). */
  considered?(event: PendingEvent, webhooks: readonly Webhook[]): void;
  /** A batch of `events` deliveries was made into one request (webhooks with `batch`). */
  batched?(webhook: Webhook, events: number): void;
}

const NO_OBSERVER: DeliveryObserver = { attempted: () => undefined, deadLettered: () => undefined };

/** One observer that tells each of `observers`, in order. */
export function observeAll(...observers: DeliveryObserver[]): DeliveryObserver {
  return {
    attempted: (...args) => observers.forEach((observer) => observer.attempted(...args)),
    deadLettered: (...args) => observers.forEach((observer) => observer.deadLettered(...args)),
    autoDisabled: (...args) => observers.forEach((observer) => observer.autoDisabled?.(...args)),
    setAside: (...args) => observers.forEach((observer) => observer.setAside?.(...args)),
    filtered: (...args) => observers.forEach((observer) => observer.filtered?.(...args)),
    considered: (...args) => observers.forEach((observer) => observer.considered?.(...args)),
    batched: (...args) => observers.forEach((observer) => observer.batched?.(...args)),
  };
}

const SET_ASIDE_MAX_BACKOFF_MS = 5_000;

export type AttemptOutcome =
  | { delivered: true; result: Extract<SendResult, { outcome: 'success' }> }
  | { delivered: false; deferred: false; result: FailedSend; step: NextStep; attemptedAt: Date }
  /**
   * Not an attempt: the endpoint asked to be left alone until `until` (429 or
   * 503 with Retry-After; `result` is that answer), or it was held back
   * (`result` null, nothing sent; `reason` says why). The delivery waits until
   * then with its attempts unchanged.
   */
  | { delivered: false; deferred: true; until: Date; result: FailedSend | null; reason: string; attemptedAt: Date };

export class Dispatcher {
  private readonly endpoints = new Map<string, Endpoint>();
  /** Deliveries of streamed changes routed and not yet settled (queued, in flight, or being written), and their body bytes. */
  private readonly held = { deliveries: 0, bytes: 0 };
  /** Told whenever what the stream holds may have changed: flow control decides on it. */
  private loadChanged: () => void = () => undefined;
  /** Keeps the fast path from overtaking earlier changes of a record (webhooks with ordering `record`). */
  private readonly records = new RecordGate();
  /** What the breaker's transitions need, decided once. */
  private readonly breaker: { failures: number; probeIntervalMs: number };
  /** What an endpoint that cannot overflow holds before reading waits for it (`readAheadOf`). */
  private readonly readAhead: number;
  private readonly batches: BatchGathering;
  private readonly attempts: Attempts;

  constructor(
    private readonly registry: WebhookRegistry,
    sender: HttpSender,
    private readonly writer: StateWriter,
    private readonly db: StateDb,
    private readonly settings: DeliverySettings,
    private readonly logger: Logger,
    private readonly observer: DeliveryObserver = NO_OBSERVER,
  ) {
    // Probed at least as often as the first retry comes due: a retry the breaker keeps back counts as an attempt,
    // and with a short schedule (or deliveries redelivered by hand) they would all reach their dead letter unsent.
    const probeIntervalMs = Math.min(settings.breakerProbeIntervalMs, settings.retryScheduleMs[0] ?? Infinity);
    this.readAhead = readAheadOf(settings);
    this.breaker = { failures: settings.breakerFailures, probeIntervalMs };
    this.batches = new BatchGathering(
      settings.maxPayloadBytes,
      (webhook, job, settle) => this.routeJob(webhook, job, settle),
      (webhook, events) => observer.batched?.(webhook, events),
    );
    this.attempts = new Attempts(sender, settings, observer, logger);
  }

  private endpoint(webhookId: string): Endpoint {
    let endpoint = this.endpoints.get(webhookId);
    if (!endpoint) {
      endpoint = new Endpoint(this.settings.concurrency, this.settings.maxQueuedPerEndpoint, this.readAhead, () => this.loadChanged());
      this.endpoints.set(webhookId, endpoint);
    }
    return endpoint;
  }

  /** How many due retries the endpoint of `webhookId` takes now (Endpoint.retryRoom), paced by its webhook's maxPerSecond. */
  retryRoom(webhookId: string, leaseMs: number): number {
    return this.endpoint(webhookId).retryRoom(this.registry.get(webhookId)?.maxPerSecond ?? null, leaseMs);
  }

  /** Runs one due retry (`task`) in turn in its endpoint's queue, with the fast path's deliveries. */
  runRetry(webhookId: string, task: () => Promise<void>): Promise<void> {
    return this.endpoint(webhookId).run(task);
  }

  /** Drops the queue of a deleted webhook once it has nothing left in memory; what it gathered leaves as its queued deliveries do. */
  forgetEndpoint(webhookId: string): void {
    this.batches.flush(webhookId);
    if (this.endpoints.get(webhookId)?.backlog === 0) this.endpoints.delete(webhookId);
    this.loadChanged();
  }

  /** Registers the one listener told whenever `load()` may have changed. */
  onLoadChanged(listener: () => void): void {
    this.loadChanged = listener;
  }

  /**
   * What the stream's deliveries hold, for flow control. An endpoint's queue
   * counts when it took deliveries past its bound and still cannot overflow
   * to the state table (it is healthy and every other endpoint is busy, or it
   * is the only one): reading must wait for it.
   */
  load(): FlowLoad {
    let heldByEndpoint = 0;
    for (const [webhookId, endpoint] of this.endpoints) {
      const holding = endpoint.holdingStream;
      if (holding > heldByEndpoint && this.othersAreBusy(webhookId)) heldByEndpoint = holding;
    }
    return { deliveries: this.held.deliveries, bytes: this.held.bytes, heldByEndpoint };
  }

  /**
   * Whether every other enabled endpoint holds its read-ahead, or is failing,
   * spilled or throttled: pausing the stream would leave none of them without
   * work. At its read-ahead, not its bound: an endpoint that holds fewer than
   * its bound but all it can send soon is not held up by a pause, and
   * counting it as free let its peers queue everything the stream read (up to
   * the in-memory budget) until their waits passed spillAfter and healthy
   * endpoints went to the state table.
   */
  private othersAreBusy(webhookId: string): boolean {
    return this.registry.enabledIds().every((id) => {
      if (id === webhookId) return true;
      const other = this.endpoints.get(id);
      return other !== undefined && (other.readAheadHeld() || other.failing || other.spilled || other.throttledUntil > Date.now());
    });
  }

  /** When the endpoint of `webhookId` may be sent to again, or null when it may be now. */
  private heldBackUntil(webhookId: string, now = Date.now()): Date | null {
    const until = this.endpoints.get(webhookId)?.throttledUntil ?? 0;
    return until > now ? new Date(until) : null;
  }

  /** Each known endpoint's circuit breaker mode, per webhook. */
  endpointModes(): Map<string, EndpointMode> {
    return new Map([...this.endpoints].map(([webhookId, endpoint]) => [webhookId, endpoint.health.mode]));
  }

  /** Deliveries waiting or running in memory, per webhook. */
  queueDepths(): Map<string, number> {
    return new Map([...this.endpoints].map(([webhookId, endpoint]) => [webhookId, endpoint.backlog]));
  }

  /** The webhooks whose operations match such events, in every workspace; null when none does. */
  match(object: string, action: Action): Route | null {
    const webhooks = this.registry.match(object, action);
    return webhooks.length === 0 ? null : { object, action, webhooks };
  }

  /**
   * Delivers `pending` to every matching webhook. `hold` is called once per
   * delivery and returns the callback that settles it. A change no body can
   * be built for is set aside instead (one hold), so the stream moves on.
   * `route`, from `match()` before the event was built, is used when the
   * event still has that object and action (Twenty's shape may rename it).
   * With `onlyWebhookId` (a backfill for one webhook) it goes to that webhook
   * whatever its operations, if its workspace scope lets the event in.
   */
  dispatch(pending: PendingEvent, hold: () => () => void, route?: Route, onlyWebhookId: string | null = null): void {
    const webhooks =
      onlyWebhookId !== null
        ? this.only(onlyWebhookId, pending)
        : route !== undefined && route.object === pending.object && route.action === pending.action
          ? inWorkspace(route.webhooks, pending.workspaceId)
          : this.registry.match(pending.object, pending.action, pending.workspaceId);
    if (webhooks.length === 0) return;
    this.observer.considered?.(pending, webhooks);
    const admitted = this.admitted(pending, webhooks);
    if (admitted.length === 0) return;
    const event = pending.event();
    if (event !== null) this.deliver(event, admitted, hold);
  }

  /**
   * Of `webhooks`, those whose `changedFields` and `filter` let the event in,
   * decided before any body is built and on no more of its rows than they
   * read. A filter that fails on the event keeps it from that webhook,
   * logged and counted: the other webhooks and the stream go on. A kept-out
   * event takes no hold, so it settles at once.
   */
  private admitted(pending: PendingEvent, webhooks: readonly Webhook[]): readonly Webhook[] {
    if (webhooks.every((webhook) => webhook.filterReads === null)) return webhooks;
    const input = pending.filterInput(webhooks.map((webhook) => webhook.filterReads ?? READS_EVERYTHING).reduce(combinedReads));
    if (input === null) return [];
    return webhooks.filter((webhook) => {
      if (!changedFieldsAdmit(webhook.changedFields ?? [], input, pending.action)) {
        this.observer.filtered?.(webhook, false);
        return false;
      }
      const filter = webhook.compiledFilter;
      if (filter === null) return true;
      try {
        if ('problem' in filter) throw new Error(`filter ${filter.problem}`);
        if (filter.program(input)) return true;
        this.observer.filtered?.(webhook, false);
      } catch (error) {
        this.logger.warn(
          { webhookId: webhook.id, eventId: pending.id, operation: pending.operation, error: error instanceof Error ? error.message : String(error) },
          'webhook filter failed on this event; not sent to this webhook',
        );
        this.observer.filtered?.(webhook, true);
      }
      return false;
    });
  }

  private deliver(event: ChangeEvent, webhooks: readonly Webhook[], hold: () => () => void): void {
    const rendered = renderDeliveries(event, webhooks);
    if ('unrenderable' in rendered) {
      void this.setAside(event, webhooks, rendered, this.holdInMemory(0, hold()));
      return;
    }
    webhooks.forEach((webhook, index) => {
      const job = rendered.jobs[index]!;
      this.route(webhook, job, this.holdInMemory(job.bytes, hold()));
    });
  }

  private only(webhookId: string, event: PendingEvent): Webhook[] {
    const webhook = this.registry.get(webhookId);
    if (!webhook || (webhook.workspaceId != null && webhook.workspaceId !== event.workspaceId)) return [];
    return [webhook];
  }

  /** Counts a delivery of a streamed change as held until `settle` runs. */
  private holdInMemory(bytes: number, settle: () => void): () => void {
    this.held.deliveries++;
    this.held.bytes += bytes;
    return () => {
      this.held.deliveries--;
      this.held.bytes -= bytes;
      settle();
      this.loadChanged();
    };
  }

  /** Records a change that cannot be rendered, retrying until the record is durable; only then is it settled. */
  private async setAside(event: ChangeEvent, webhooks: readonly Webhook[], failure: Unrenderable, settle: () => void): Promise<void> {
    const change: SetAsideChange = {
      eventId: event.id,
      schema: event.schema,
      table: event.table,
      recordKey: setAsideKeyOf(event),
      operation: event.operation,
      commitLsn: event.commitLsnText,
      changeLsn: event.changeLsnText,
      commitTime: event.commitTime,
      webhookIds: webhooks.map((webhook) => webhook.id),
      reason: failure.unrenderable,
      error: failure.error,
    };
    const fields = { eventId: event.id, schema: event.schema, table: event.table, recordKey: change.recordKey, commitLsn: change.commitLsn, changeLsn: change.changeLsn };
    this.logger.error({ ...fields, reason: change.reason, error: change.error }, 'no body can be built for this change; set aside in set_aside_changes');
    for (let backoffMs = 100; ; backoffMs = Math.min(backoffMs * 2, SET_ASIDE_MAX_BACKOFF_MS)) {
      try {
        await insertSetAside(this.db, change);
        break;
      } catch (error) {
        this.logger.error({ ...fields, err: error, retryInMs: backoffMs }, 'could not record a change set aside; retrying');
        await new Promise((resolve) => setTimeout(resolve, backoffMs));
      }
    }
    for (const webhook of webhooks) this.observer.deadLettered(webhook, change.reason);
    this.observer.setAside?.(change.reason);
    settle();
  }

  private route(webhook: Webhook, job: DeliveryJob, settle: () => void): void {
    // An oversized delivery goes to its dead letter alone, as without batching: no batch could carry it. A disabled
    // webhook's are gathered too, so its dead letters hold batches as its receiver expects them when redelivered.
    // Per-record ordering is never batched (validation refuses the pair; a row written by hand keeps its ordering).
    if (webhook.batch && job.recordKey === null && job.bytes <= this.settings.maxPayloadBytes) {
      this.batches.add(webhook, webhook.batch, job, settle);
      return;
    }
    // Batching just turned off: what it gathered leaves before this, in commit order.
    this.batches.flush(webhook.id);
    this.routeJob(webhook, job, settle);
  }

  private routeJob(webhook: Webhook, job: DeliveryJob, settle: () => void): void {
    if (webhook.disabledReason) {
      this.observer.deadLettered(webhook, 'webhook_disabled');
      void this.store(webhook, job, { state: 'dead', attempts: 0, deadReason: 'webhook_disabled' }).then(settle);
      return;
    }
    if (job.bytes > this.settings.maxPayloadBytes) {
      this.logger.warn(
        { webhookId: webhook.id, deliveryId: job.id, eventId: job.eventId, bytes: job.bytes, limit: this.settings.maxPayloadBytes },
        'payload too large; dead-lettered without sending',
      );
      this.observer.deadLettered(webhook, 'payload_too_large');
      void this.store(webhook, job, { state: 'dead', attempts: 0, deadReason: 'payload_too_large' }).then(settle);
      return;
    }
    if (job.recordKey === null) this.routeNow(webhook, job, settle);
    else this.routeInOrder(webhook, job, job.recordKey, settle);
  }

  /**
   * Per-record ordering (record-order.ts): the change goes behind an earlier
   * one of its record still in memory or waiting in the state table, else to
   * the fast path; from then on it counts as the record's, in memory, until
   * `settle` runs.
   */
  private routeInOrder(webhook: Webhook, job: DeliveryJob, recordKey: string, settle: () => void): void {
    const path = pathFor(this.records.mode(webhook.id, recordKey));
    if (path === 'afterInMemory') {
      this.records.after(webhook.id, recordKey, () => this.route(webhook, job, settle));
      return;
    }
    const settleTracked = this.records.track(webhook.id, recordKey, settle);
    if (path === 'table') void this.store(webhook, job, { state: 'pending', attempts: 0, nextAttemptAt: new Date() }).then(settleTracked);
    else this.routeNow(webhook, job, settleTracked);
  }

  private routeNow(webhook: Webhook, job: DeliveryJob, settle: () => void): void {
    const endpoint = this.endpoint(webhook.id);
    const heldBack = this.heldBackUntil(webhook.id) ?? this.breakerHolds(endpoint);
    if (heldBack !== null) {
      void this.store(webhook, job, { state: 'pending', attempts: 0, nextAttemptAt: heldBack }).then(settle);
      return;
    }
    // Past its bound an endpoint overflows to the state table, unless no other endpoint could use new events
    // now: then it keeps them, and from its read-ahead on flow control pauses reading for it (`load`): the slot
    // is the queue.
    const pressing = endpoint.readAheadHeld() && this.othersAreBusy(webhook.id);
    if (endpoint.failing || endpoint.spilled || (endpoint.full() && !pressing)) {
      const delayMs = endpoint.failing ? (this.settings.retryScheduleMs[0] ?? 0) : 0;
      void this.store(webhook, job, { state: 'pending', attempts: 0, nextAttemptAt: new Date(Date.now() + delayMs) }).then(settle);
      return;
    }
    endpoint.enter(pressing);
    let queued = true;
    const leaveQueue = () => {
      if (queued) endpoint.leave();
      queued = false;
    };
    endpoint.waiting.push({
      webhook,
      job,
      leaveQueue,
      settle: () => {
        leaveQueue();
        settle();
      },
      enqueuedAt: Date.now(),
    });
    void endpoint.run(async () => {
      const next = endpoint.waiting.shift();
      if (next) await this.deliverNow(next);
    });
  }

  private async deliverNow({ webhook, job, settle }: Waiting): Promise<void> {
    try {
      const outcome = await this.tryDelivery(webhook, job, 1);
      if (outcome.delivered) {
        settle();
        return;
      }
      if (outcome.deferred) {
        const { result, until, attemptedAt } = outcome;
        await this.store(webhook, job, {
          state: 'pending',
          attempts: 0,
          nextAttemptAt: until,
          lastAttempt: result === null ? null : { attemptedAt, status: result.status ?? null, error: result.error, durationMs: result.durationMs },
        });
        settle();
        return;
      }
      const { result, step, attemptedAt } = outcome;
      await this.store(webhook, job, {
        state: step.state,
        attempts: 1,
        nextAttemptAt: step.nextAttemptAt,
        deadReason: step.state === 'dead' ? step.reason : null,
        lastAttempt: { attemptedAt, status: result.status ?? null, error: result.error, durationMs: result.durationMs },
      });
    } catch (error) {
      // Whatever went wrong, the delivery is kept for the retry worker, never dropped or left unsettled.
      this.logger.error({ err: error, webhookId: webhook.id, deliveryId: job.id }, 'delivery failed unexpectedly; kept for retry');
      await this.store(webhook, job, { state: 'pending', attempts: 0, nextAttemptAt: new Date() });
    }
    settle();
  }

  /**
   * One attempt and its consequences, the same for the fast path and the
   * retry worker: the endpoint's health, and after a failure the next step
   * (retry time or dead letter; 410 disables the webhook).
   */
  async tryDelivery(webhook: Webhook, job: AttemptJob, attemptNumber: number, countNotSent = false): Promise<AttemptOutcome> {
    const endpoint = this.endpoint(webhook.id);
    // maxPerSecond: the request waits for its slot here, holding its place in the endpoint's queue, so what is
    // behind it waits (in memory up to the queue's bound, then in the state table).
    const paceMs = endpoint.paceMs(webhook.maxPerSecond ?? null);
    if (paceMs > 0) await new Promise((resolve) => setTimeout(resolve, paceMs));
    // Queued before the endpoint asked for a pause: it waits too, and is not counted as an attempt.
    const heldBack = this.heldBackUntil(webhook.id);
    if (heldBack !== null) return { delivered: false, deferred: true, until: heldBack, result: null, reason: 'not sent: the endpoint asked to wait (Retry-After)', attemptedAt: new Date() };
    const gate = admission(endpoint.health, Date.now());
    if (gate === 'hold') return this.notSent(webhook, job, endpoint, attemptNumber, countNotSent);
    if (gate === 'probe') this.changeHealth(webhook, endpoint, { type: 'probeSent' });
    let result: SendResult;
    try {
      result = await this.attempts.send(webhook, job);
    } catch (error) {
      // A probe must end in a mode: left probing, the endpoint would never be sent to again.
      if (gate === 'probe') this.changeHealth(webhook, endpoint, { type: 'failed', at: Date.now() });
      throw error;
    }
    if (result.outcome === 'success') {
      endpoint.attempted(true);
      this.changeHealth(webhook, endpoint, { type: 'succeeded' });
      this.succeeded(webhook, endpoint);
      return { delivered: true, result };
    }
    const attemptedAt = new Date();
    const throttleMs = throttleWaitMs(result, this.settings.retryAfterDefaultMs, this.throttleCapMs());
    // A probe that did not succeed (answered 429/503, or refused by the SSRF guard or the payload limit) did not show the
    // endpoint is back: open again, so the next probe gets its turn. Otherwise throttling is not ill health, and a
    // refusal sent nothing; neither counts toward opening.
    if (gate === 'probe' || (throttleMs === null && !result.refused)) {
      this.changeHealth(webhook, endpoint, { type: 'failed', at: attemptedAt.getTime() });
      const streakWritten = this.stillFailing(webhook, endpoint, attemptedAt.getTime(), result.gone);
      // A 410 disables the webhook, and enableWebhook(redeliverMissed) finds its dead letters by the streak's start:
      // written before its dead letter then. Otherwise not awaited: the write must not delay what the breaker decides next.
      if (result.gone) await streakWritten;
    }
    if (throttleMs !== null) {
      endpoint.throttledUntil = Math.max(endpoint.throttledUntil, attemptedAt.getTime() + throttleMs);
      this.logger.info({ webhookId: webhook.id, deliveryId: job.id, status: result.status, waitMs: throttleMs }, 'endpoint asked to slow down; nothing sent to it until then');
      return { delivered: false, deferred: true, until: new Date(attemptedAt.getTime() + throttleMs), result, reason: result.error, attemptedAt };
    }
    endpoint.attempted(false);
    const step = await this.afterFailure(webhook, job, result, attemptNumber, attemptedAt);
    return { delivered: false, deferred: false, result, step, attemptedAt };
  }

  /**
   * When a delivery kept back by an endpoint's breaker is due again, or null
   * when the breaker is closed: at its probe time (so there is a delivery to
   * probe with), or after the first retry wait if that is sooner (so with a
   * long probe interval it still moves toward its dead letter).
   */
  private breakerHolds(endpoint: Endpoint): Date | null {
    const health = endpoint.health;
    if (health.mode === 'closed') return null;
    const now = Date.now();
    const probeAt = health.mode === 'open' ? Math.max(health.probeAt, now) : now + this.breaker.probeIntervalMs;
    return new Date(Math.min(probeAt, now + (this.settings.retryScheduleMs[0] ?? 0)));
  }

  /**
   * A request the breaker keeps back. From the stream it waits in the state
   * table for the probe time, not counted. A stored delivery that is due
   * (`countNotSent`) counts it as a failed attempt while the endpoint is open,
   * so it keeps moving toward its dead letter instead of waiting for ever on
   * an endpoint that never comes back; while a probe is in flight it waits
   * for the probe's answer uncounted (a probe always ends, open or closed).
   */
  private async notSent(webhook: Webhook, job: AttemptJob, endpoint: Endpoint, attemptNumber: number, countNotSent: boolean): Promise<AttemptOutcome> {
    const attemptedAt = new Date();
    if (!countNotSent || endpoint.health.mode === 'probing') {
      const reason = `not sent: circuit ${endpoint.health.mode === 'probing' ? 'probing' : 'open'}`;
      return { delivered: false, deferred: true, until: this.breakerHolds(endpoint) ?? attemptedAt, result: null, reason, attemptedAt };
    }
    const result: FailedSend = { outcome: 'failure', error: 'not sent: circuit open', durationMs: 0 };
    const step = await this.afterFailure(webhook, job, result, attemptNumber, attemptedAt);
    return { delivered: false, deferred: false, result, step, attemptedAt };
  }

  /** A success ends the webhook's failing streak; written only when it was (or may have been) failing. */
  private succeeded(webhook: Webhook, endpoint: Endpoint): void {
    if (endpoint.failingSince === null) return;
    endpoint.failingSince = null;
    clearWebhookFailing(this.db, webhook.id).catch((error: unknown) => {
      // Not known to be cleared: the next outcome writes it again.
      endpoint.failingSince = undefined;
      this.logger.warn({ err: error, webhookId: webhook.id }, 'could not record that the webhook is no longer failing');
    });
  }

  /**
   * A failed attempt: the webhook's failing streak starts now unless it
   * already had (the first failure writes it; later ones only compare), and
   * once it has lasted delivery.disableAfter the webhook is disabled, unless
   * this failure disables it anyway (`gone`, a 410, with its own reason).
   */
  private async stillFailing(webhook: Webhook, endpoint: Endpoint, now: number, gone = false): Promise<void> {
    const known = endpoint.failingSince;
    // Written (or read back) on the first failure, and again before disabling: another replica's success may have
    // ended the streak since this one read it.
    if (known != null && !shouldAutoDisable(known, now, this.settings.disableAfterMs)) return;
    try {
      endpoint.failingSince = (await markWebhookFailing(this.db, webhook.id))?.getTime() ?? null;
    } catch (error) {
      this.logger.warn({ err: error, webhookId: webhook.id }, 'could not record that the webhook is failing');
      return;
    }
    const failingSince = endpoint.failingSince;
    if (gone || !shouldAutoDisable(failingSince, now, this.settings.disableAfterMs) || this.registry.get(webhook.id)?.disabledReason) return;
    this.logger.warn({ webhookId: webhook.id, failingSince: new Date(failingSince!).toISOString(), disableAfterMs: this.settings.disableAfterMs }, 'webhook failing without a success for delivery.disableAfter: disabling it');
    this.observer.autoDisabled?.(webhook);
    await this.disable(webhook, autoDisableReason(this.settings.disableAfterMs));
  }

  /** The webhook was (re)defined or enabled: what this instance knew of its failing streak may be stale. */
  webhookChanged(webhookId: string): void {
    const endpoint = this.endpoints.get(webhookId);
    if (endpoint) endpoint.failingSince = undefined;
  }

  /** Applies `event` to the endpoint's breaker, logging a change of mode. */
  private changeHealth(webhook: Webhook, endpoint: Endpoint, event: HealthEvent): void {
    const before = endpoint.health;
    const after = nextHealth(before, event, this.breaker);
    endpoint.health = after;
    if (after.mode === before.mode) return;
    const fields = { webhookId: webhook.id, target: loggableUrl(webhook.targetUrl), from: before.mode, to: after.mode };
    if (after.mode === 'open' && before.mode === 'closed') this.logger.warn({ ...fields, failures: this.settings.breakerFailures }, 'endpoint failing: circuit open, probing it with one request at a time');
    else if (after.mode === 'closed') this.logger.info(fields, 'endpoint answers again: circuit closed');
    else this.logger.debug(fields, 'endpoint circuit breaker changed mode');
  }

  /** The longest pause a `Retry-After` may impose: the longest retry wait, or the default pause when that is longer. */
  private throttleCapMs(): number {
    return Math.max(this.settings.retryAfterDefaultMs, ...this.settings.retryScheduleMs);
  }

  /**
   * Moves the waiting deliveries of endpoints whose oldest one waited longer
   * than `spillAfterMs` to the state table: a slow endpoint then holds neither
   * memory nor the slot, and the retry worker feeds it as it frees up.
   */
  spillSlowQueues(now = Date.now()): void {
    for (const [webhookId, endpoint] of this.endpoints) {
      const oldest = endpoint.waiting[0];
      // With a single endpoint nothing else waits for it: its queue stays, and reading waits (the slot is the queue).
      if (!oldest || now - oldest.enqueuedAt < this.settings.spillAfterMs || this.registry.enabledIds().length < 2) continue;
      const spilled = endpoint.spill();
      this.logger.info({ webhookId, deliveries: spilled.length, waitedMs: now - oldest.enqueuedAt }, 'slow endpoint: queued deliveries moved to the state table');
      for (const { webhook, job, settle, leaveQueue } of spilled) {
        leaveQueue();
        void this.store(webhook, job, { state: 'pending', attempts: 0, nextAttemptAt: new Date(now) }).then(settle);
      }
      this.loadChanged();
    }
  }

  /** Decides the next step after a failed attempt, disabling the webhook on 410 Gone. */
  private async afterFailure(webhook: Webhook, job: Pick<DeliveryJob, 'id'>, result: FailedSend, attemptsMade: number, now: Date): Promise<NextStep> {
    const step = nextStep(result, attemptsMade, this.settings.retryScheduleMs, now);
    if (result.gone) await this.disable(webhook, 'receiver answered 410 Gone');
    if (step.state === 'dead') {
      this.observer.deadLettered(webhook, step.reason);
      this.logger.warn({ webhookId: webhook.id, deliveryId: job.id, reason: step.reason, error: result.error }, 'delivery dead-lettered');
    }
    return step;
  }

  private async disable(webhook: Webhook, reason: string): Promise<void> {
    if (this.registry.get(webhook.id)?.disabledReason) return;
    this.registry.disable(webhook.id, reason);
    this.logger.warn({ webhookId: webhook.id, target: loggableUrl(webhook.targetUrl), reason }, 'webhook disabled');
    // Persisted and announced, so the other instances stop sending to it too.
    await inTransaction(this.db, async (client) => {
      await setWebhookDisabled(this.db, client, webhook.id, reason);
      await notifyWebhookChanged(this.db, client, webhook.id);
    }).catch((error: unknown) =>
      this.logger.error({ err: error, webhookId: webhook.id }, 'could not persist the disabled state'),
    );
  }

  private store(
    webhook: Webhook,
    job: DeliveryJob,
    row: {
      state: 'pending' | 'retrying' | 'dead';
      attempts: number;
      nextAttemptAt?: Date | null;
      deadReason?: string | null;
      lastAttempt?: { attemptedAt: Date; status: number | null; error: string; durationMs: number } | null;
    },
  ): Promise<void> {
    if (job.recordKey !== null && row.state !== 'dead') this.records.wrote(webhook.id, job.recordKey);
    return this.writer.write({
      id: job.id,
      webhookId: webhook.id,
      eventId: job.eventId,
      operation: job.operation,
      body: job.body,
      state: row.state,
      attempts: row.attempts,
      nextAttemptAt: row.nextAttemptAt ?? null,
      lastAttempt: row.lastAttempt ?? null,
      deadReason: row.deadReason ?? null,
      commitLsn: job.commitLsn,
      commitTime: job.commitTime,
      recordKey: job.recordKey,
      changeLsn: job.changeLsn,
    });
  }

  /** Learns which records wait in the state table: called before streaming starts, so no change overtakes them. */
  async loadWaitingRecords(): Promise<void> {
    this.records.found(await listWaitingRecords(this.db));
  }

  /**
   * A stored delivery of a record left the waiting set (delivered or dead):
   * the record takes the fast path again once none of its rows waits.
   * Returns whether some still wait.
   */
  recordSettled(webhookId: string, recordKey: string): Promise<boolean> {
    return this.records.settledOne(webhookId, recordKey, () => recordIsWaiting(this.db, webhookId, recordKey));
  }

  /**
   * At shutdown: sends every batch being gathered (and from now on sends
   * batches without lingering), then waits until every endpoint queue is
   * empty, or the deadline passes.
   */
  async idle(deadlineMs: number): Promise<boolean> {
    this.batches.drain();
    const allIdle = Promise.all([...this.endpoints.values()].map((endpoint) => endpoint.idle())).then(() => true);
    const timeout = new Promise<boolean>((resolve) => setTimeout(() => resolve(false), deadlineMs).unref());
    return Promise.race([allIdle, timeout]);
  }
}
