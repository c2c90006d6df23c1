/**
 * The management operations behind both the GraphQL API and the CLI: check
 * the input, write in one transaction (with the NOTIFY that tells every
 * instance), and answer with views. Nothing is written when a check fails.
 */
import type { EndpointMode } from '../delivery/endpoint-health.js';
import { randomBytes, randomUUID } from 'node:crypto';
import { ACTIONS } from '../common/operations.js';
import { SIGNATURE_SCHEMES } from '../common/verify.js';
import type { RecentAttempt, RecentAttempts } from '../delivery/recent-attempts.js';
import type { RecentEvents } from '../delivery/recent-events.js';
import { changedFieldsAdmit, compileFilter, FilterEvaluationError } from '../common/webhook-filter.js';
import { targetUrlRefusal, type AddressPolicy } from '../delivery/ssrf.js';
import { countBacklog } from '../state/deliveries.js';
import { inTransaction, type StateDb } from '../state/db.js';
import {
  deleteDeliveriesOf,
  listAttempts,
  listDeliveries,
  lockDelivery,
  requeueDeadLetters,
  requeueDelivery,
  type AttemptRow,
  type DeliveryRow,
} from '../state/delivery-admin.js';
import type { SecretBox } from '../state/secret-box.js';
import {
  deleteWebhook,
  findWebhook,
  insertWebhook,
  listWebhooks,
  lockWebhook,
  notifyWebhookChanged,
  rotateWebhookSecret,
  setWebhookDisabled,
  updateWebhookFields,
  type Sql,
  type WebhookRow,
} from '../state/webhooks.js';
import { BackfillManagement } from './backfills.js';
import { allValid, badUserInput, ManagementError, notFound } from './errors.js';
import {
  batchOver,
  validateDeliveryState,
  validateId,
  validatePageSize,
  validateSecret,
  validateWebhookFields,
  type BatchInput,
  type WebhookLimits,
} from './validation.js';
import type { PartitionMetrics } from './metrics.js';
import {
  decodeCursor,
  deliveryView,
  encodeCursor,
  partitionView,
  webhookView,
  type DeliveryPage,
  type DeliveryView,
  type PartitionView,
  type WebhookView,
} from './views.js';

const SECRET_BYTES = 32;
/**
 * How long one read of the object list is reused. It reads the CRM's catalog,
 * which a token holder could otherwise have run once per alias or request;
 * scope changes show up this much later in the operation picker.
 */
export const OBJECTS_CACHE_MS = 10_000;
const DEFAULT_PAGE_SIZE = 50;
const DISABLED_BY_OPERATOR = 'disabled by an operator';

export interface ManagementSettings extends WebhookLimits {
  /** null when encryptionKey is not set: then no secret can be stored. */
  secretBox: SecretBox | null;
  /** How long the secret before a rotation keeps signing. */
  secretRotationOverlapMs: number;
  /** The SSRF guard deliveries go through, to tell in advance of a target it refuses; without one nothing is told. */
  addressPolicy?: Pick<AddressPolicy, 'literalRefusal'>;
}

/**
 * What the running daemon adds: what it does right after a change commits,
 * without waiting for its own NOTIFY, and what only it knows.
 */
export interface ManagementHooks {
  /** Awaited, so that an answer means the local pipeline already routes with the change. */
  webhookChanged?(id: string): Promise<void>;
  deliveriesDue?(): void;
  /** The objects of the tables in source scope, as events name them (duplicates allowed). */
  objectsInScope?(): Promise<string[]>;
  /** This instance's attempts kept in memory. */
  recentAttempts?: RecentAttempts;
  /** The circuit breaker mode of the webhook's endpoint, as this instance sees it. */
  endpointMode?(webhookId: string): EndpointMode;
  /** This instance's latest events per webhook, before filters. */
  recentEvents?: RecentEvents;
  /** This instance's view of each streaming partition (one with a single slot). */
  partitions?(): PartitionMetrics[];
  /** A backfill was requested or resumed here. */
  backfillRequested?(): void;
  /** Why backfills cannot run in this installation (source.partitions above 1); absent when they can. */
  backfillsUnavailable?: string;
}

/** What a filter makes of one recent event; see the FilterTrial type of the schema. */
export interface FilterTrial {
  eventId: string;
  operation: string;
  commitTime: string;
  /** The record's `id`, when it has a scalar one. */
  recordId: string | null;
  /** It would be sent. */
  matched: boolean;
  /** Why the filter failed on it (then it would not be sent), or null. */
  error: string | null;
}

/** How a webhook's deliveries are going; see the WebhookStats type of the schema. */
export interface WebhookStats {
  deliveredLastHour: number;
  failedLastHour: number;
  waiting: number;
  deadLetters: number;
  failing: boolean;
  endpointMode: EndpointMode;
}

/** null and undefined both mean "not given": GraphQL hands over either. */
type Optional<T> = T | null | undefined;

export interface CreateWebhookInput {
  targetUrl: string;
  operations: readonly string[];
  description?: Optional<string>;
  format?: Optional<string>;
  signatures?: Optional<readonly string[]>;
  /** Only events of this workspace; absent or null: every workspace. */
  workspaceId?: Optional<string>;
  changedFields?: Optional<readonly string[]>;
  filter?: Optional<string>;
  /** Absent: none. */
  ordering?: Optional<string>;
  /** Absent or null: no limit. */
  maxPerSecond?: Optional<number>;
  /** Absent or null: one event per request; a field left out takes its default. */
  batch?: Optional<BatchInput>;
  /** Generated (32 random bytes, hex) when not given. */
  secret?: Optional<string>;
}

export interface UpdateWebhookInput {
  id: string;
  targetUrl?: Optional<string>;
  operations?: Optional<readonly string[]>;
  description?: Optional<string>;
  format?: Optional<string>;
  signatures?: Optional<readonly string[]>;
  /** Absent: unchanged; null: every workspace. */
  workspaceId?: Optional<string>;
  /** Absent: unchanged; null or empty: every update. */
  changedFields?: Optional<readonly string[]>;
  /** Absent: unchanged; null: every event. */
  filter?: Optional<string>;
  ordering?: Optional<string>;
  /** Absent: unchanged; null: no limit. */
  maxPerSecond?: Optional<number>;
  /** Absent: unchanged; null: one event per request; a field left out keeps its current value (or default). */
  batch?: Optional<BatchInput>;
  /** true re-enables a webhook disabled by a 410 Gone; false disables it. */
  enabled?: Optional<boolean>;
}

export interface DeliveriesQuery {
  webhookId?: Optional<string>;
  status?: Optional<string>;
  first?: Optional<number>;
  after?: Optional<string>;
}

export function encryptionKeyRequired(action: string): ManagementError {
  return new ManagementError(
    'FAILED_PRECONDITION',
    `cannot ${action}: webhook secrets are stored encrypted and no key is configured; set encryptionKey ` +
      '(environment WALHOOK_ENCRYPTION_KEY) to 32 random bytes, e.g. `openssl rand -base64 32`, on every instance',
  );
}

function readOnly(id: string, source: WebhookRow['source']): ManagementError {
  if (source === 'twenty') {
    return badUserInput('id', `webhook ${id} is made in Twenty: edit or delete it in Twenty's Settings → APIs & Webhooks (walhook only lists it)`);
  }
  return badUserInput('id', `webhook ${id} is defined in the config file: edit it there (only \`enabled\` can be changed here)`);
}

function newSecret(): string {
  return randomBytes(SECRET_BYTES).toString('hex');
}

export class Management {
  /** The object list being read or read last, shared by every caller until it is OBJECTS_CACHE_MS old. */
  private objects: { readAt: number; names: Promise<string[]> } | null = null;

  readonly backfills: BackfillManagement;

  constructor(
    private readonly db: StateDb,
    private readonly settings: ManagementSettings,
    private readonly hooks: ManagementHooks = {},
  ) {
    this.backfills = new BackfillManagement(db, {
      ...(hooks.objectsInScope && { objectsInScope: () => this.listObjects() }),
      ...(hooks.backfillRequested && { backfillRequested: () => hooks.backfillRequested?.() }),
      ...(hooks.backfillsUnavailable !== undefined && { unavailable: hooks.backfillsUnavailable }),
    });
  }

  /** Which replica streams which partition, as this instance last read the leases and slots. */
  listPartitions(): PartitionView[] {
    return (this.hooks.partitions?.() ?? []).map(partitionView);
  }

  async listWebhooks(): Promise<WebhookView[]> {
    return (await listWebhooks(this.db)).map((row) => this.view(row));
  }

  async getWebhook(id: string): Promise<WebhookView> {
    const row = await findWebhook(this.db, validateId('webhook', id));
    if (!row) throw notFound('webhook', id);
    return this.view(row);
  }

  async createWebhook(input: CreateWebhookInput): Promise<WebhookView> {
    const { fields, secret } = allValid({
      fields: () =>
        validateWebhookFields(
          {
            targetUrl: input.targetUrl,
            operations: input.operations,
            description: input.description ?? '',
            format: input.format ?? 'record',
            signatures: input.signatures ?? SIGNATURE_SCHEMES,
            workspaceId: input.workspaceId ?? null,
            changedFields: [...(input.changedFields ?? [])],
            filter: input.filter ?? null,
            ordering: input.ordering ?? 'none',
            maxPerSecond: input.maxPerSecond ?? null,
            batch: input.batch ?? null,
          },
          this.settings,
        ),
      secret: () => (input.secret == null ? newSecret() : validateSecret(input.secret)),
    });
    const box = this.secretBox('create a webhook');
    const id = randomUUID();
    const row = await inTransaction(this.db, async (client) => {
      await insertWebhook(this.db, client, { id, source: 'api', secretSealed: box.seal(secret, id), ...fields });
      await notifyWebhookChanged(this.db, client, id);
      return this.reread(client, id);
    });
    await this.hooks.webhookChanged?.(id);
    return this.view(row, secret);
  }

  async updateWebhook(input: UpdateWebhookInput): Promise<WebhookView> {
    // A config-file webhook's definition is the file's, but whether it is enabled is state: after a 410 Gone
    // the operator re-enables it here.
    const onlyEnabled =
      input.enabled != null &&
      [
        input.targetUrl,
        input.operations,
        input.description,
        input.format,
        input.signatures,
        input.changedFields,
        input.filter,
        input.ordering,
        input.maxPerSecond,
        input.batch,
      ].every((field) => field == null);
    const row = await this.changeWebhook(input.id, { configToo: onlyEnabled }, async (client, current) => {
      if (current.source === 'config') {
        await setWebhookDisabled(this.db, client, current.id, input.enabled ? null : DISABLED_BY_OPERATOR);
        return this.reread(client, current.id);
      }
      const fields = validateWebhookFields(
        {
          targetUrl: input.targetUrl ?? current.targetUrl,
          operations: input.operations ?? current.operations,
          description: input.description ?? current.description,
          format: input.format ?? current.format,
          signatures: input.signatures ?? current.signatures,
          workspaceId: input.workspaceId === undefined ? (current.workspaceId ?? null) : input.workspaceId,
          changedFields: input.changedFields === undefined ? (current.changedFields ?? []) : [...(input.changedFields ?? [])],
          filter: input.filter === undefined ? (current.filter ?? null) : input.filter,
          ordering: input.ordering ?? current.ordering,
          maxPerSecond: input.maxPerSecond === undefined ? (current.maxPerSecond ?? null) : input.maxPerSecond,
          batch: input.batch === undefined ? (current.batch ?? null) : input.batch === null ? null : batchOver(current.batch ?? null, input.batch),
        },
        this.settings,
      );
      await updateWebhookFields(this.db, client, current.id, fields);
      if (input.enabled != null) await setWebhookDisabled(this.db, client, current.id, input.enabled ? null : DISABLED_BY_OPERATOR);
      return this.reread(client, current.id);
    });
    return this.view(row);
  }

  /**
   * Enables a disabled webhook (by 410 Gone, delivery.disableAfter or an
   * operator), config-file and Twenty ones too (whether it is enabled is
   * walhook's state, not part of the definition), and gives it a whole
   * disableAfter again.
   * With `redeliverMissed`, its dead letters dead-lettered since it began
   * failing are sent again (all of its dead letters when it was not failing,
   * e.g. disabled by an operator), with their original ids.
   */
  async enableWebhook(id: string, redeliverMissed: Optional<boolean>): Promise<WebhookView> {
    let requeued = 0;
    const row = await this.changeWebhook(id, { configToo: true, twentyToo: true }, async (client, current) => {
      await setWebhookDisabled(this.db, client, current.id, null);
      if (redeliverMissed) requeued = await requeueDeadLetters(this.db, current.id, { sql: client, since: current.failingSince });
      return this.reread(client, current.id);
    });
    if (requeued > 0) this.hooks.deliveriesDue?.();
    return this.view(row);
  }

  async deleteWebhook(id: string): Promise<WebhookView> {
    const row = await this.changeWebhook(id, { configToo: false }, async (client, current) => {
      await deleteDeliveriesOf(this.db, client, current.id);
      await deleteWebhook(this.db, client, current.id);
      return current;
    });
    this.hooks.recentAttempts?.forget(row.id);
    return this.view(row);
  }

  /** A new secret, returned this once; the old one keeps signing beside it for the rotation overlap. */
  async rotateWebhookSecret(id: string): Promise<WebhookView> {
    const box = this.secretBox('rotate a secret');
    const secret = newSecret();
    const row = await this.changeWebhook(id, { configToo: false }, async (client, current) => {
      const overlapEnds = new Date(Date.now() + this.settings.secretRotationOverlapMs);
      await rotateWebhookSecret(this.db, client, current.id, box.seal(secret, current.id), overlapEnds);
      return this.reread(client, current.id);
    });
    return this.view(row, secret);
  }

  /** Newest first. */
  async listDeliveries(query: DeliveriesQuery): Promise<DeliveryPage> {
    const limit = validatePageSize(query.first ?? DEFAULT_PAGE_SIZE);
    const rows = await listDeliveries(this.db, {
      webhookId: query.webhookId == null ? null : validateId('webhook', query.webhookId),
      state: query.status == null ? null : validateDeliveryState(query.status),
      after: query.after == null ? null : decodeCursor(query.after),
      limit: limit + 1,
    });
    const page = rows.slice(0, limit);
    const nodes = await this.withAttempts(page);
    const edges = page.map((row, index) => ({ cursor: encodeCursor(row), node: nodes[index]! }));
    return { edges, nodes, pageInfo: { hasNextPage: rows.length > limit, endCursor: edges.at(-1)?.cursor ?? null } };
  }

  /** Object names walhook streams, sorted; empty without a running daemon. */
  listObjects(): Promise<string[]> {
    const now = performance.now();
    if (this.objects === null || now - this.objects.readAt > OBJECTS_CACHE_MS) {
      const names = this.readObjects();
      const entry = { readAt: now, names };
      this.objects = entry;
      // A failed read is not kept: the next caller tries again.
      names.catch(() => {
        if (this.objects === entry) this.objects = null;
      });
    }
    return this.objects.names;
  }

  private async readObjects(): Promise<string[]> {
    const names = (await this.hooks.objectsInScope?.()) ?? [];
    return [...new Set(names)].sort();
  }

  listActions(): string[] {
    return [...ACTIONS];
  }

  /**
   * The stats of every webhook from one read of the state table: a listing
   * asks for many. The attempt counts are this instance's (see RecentAttempts).
   */
  async webhookStats(): Promise<(webhookId: string) => WebhookStats> {
    const backlog = await countBacklog(this.db);
    return (webhookId) => {
      const stored = (state: string) => backlog.find((row) => row.webhookId === webhookId && row.state === state)?.count ?? 0;
      const lastHour = this.hooks.recentAttempts?.lastHour(webhookId) ?? { succeeded: 0, failed: 0 };
      const [latest] = this.hooks.recentAttempts?.latest(webhookId, 1) ?? [];
      return {
        deliveredLastHour: lastHour.succeeded,
        failedLastHour: lastHour.failed,
        waiting: stored('pending') + stored('retrying'),
        deadLetters: stored('dead'),
        failing: stored('retrying') > 0 || latest?.succeeded === false,
        endpointMode: this.hooks.endpointMode?.(webhookId) ?? 'closed',
      };
    };
  }

  /** This instance's latest attempts for the webhook, newest first. */
  /**
   * How `filter` (and `changedFields`) would judge the webhook's recent
   * events, newest first, before they are saved: the same checks as
   * createWebhook's, then per event whether it would be sent or why the
   * filter failed on it. The events are this instance's (see RecentEvents).
   */
  async tryFilter(webhookId: string, filter: string | null, changedFields: readonly string[] | null): Promise<FilterTrial[]> {
    const webhook = await this.getWebhook(webhookId);
    const checked = validateWebhookFields({ ...webhook, filter, changedFields: [...(changedFields ?? [])] }, this.settings);
    const compiled = checked.filter == null ? null : compileFilter(checked.filter);
    return (this.hooks.recentEvents?.latest(webhook.id) ?? []).map((event) => {
      const id = event.record.id;
      const recordId = typeof id === 'string' || typeof id === 'number' ? String(id) : null;
      const trial = { eventId: event.id, operation: event.operation, commitTime: event.commitTime, recordId };
      if (!changedFieldsAdmit(checked.changedFields ?? [], event, event.action)) return { ...trial, matched: false, error: null };
      if (compiled === null || !('program' in compiled)) return { ...trial, matched: true, error: null };
      try {
        return { ...trial, matched: compiled.program(event), error: null };
      } catch (error) {
        if (!(error instanceof FilterEvaluationError)) throw error;
        return { ...trial, matched: false, error: error.message };
      }
    });
  }

  recentAttempts(webhookId: string, first: number): RecentAttempt[] {
    return this.hooks.recentAttempts?.latest(webhookId, validatePageSize(first)) ?? [];
  }

  /** Sends a dead or delivered delivery again, with its original id and body; its attempts so far are kept. */
  async redeliver(deliveryId: string): Promise<DeliveryView> {
    const id = validateId('delivery', deliveryId);
    const row = await inTransaction(this.db, async (client) => {
      const current = await lockDelivery(this.db, client, id);
      if (!current) throw notFound('delivery', deliveryId);
      if (current.state !== 'dead' && current.state !== 'delivered') {
        throw badUserInput('deliveryId', `delivery ${id} is ${current.state}: it is already waiting for its next attempt`);
      }
      const requeued = await requeueDelivery(this.db, client, id);
      if (!requeued) {
        throw badUserInput('deliveryId', `the webhook of delivery ${id} is disabled or no longer exists: enable it first (updateWebhook with enabled: true)`);
      }
      return requeued;
    });
    this.hooks.deliveriesDue?.();
    const [view] = await this.withAttempts([row]);
    return view!;
  }

  /** Sends every dead letter of the webhook (of all webhooks when null) again; returns how many. */
  async redeliverDeadLetters(webhookId: Optional<string>): Promise<number> {
    if (webhookId != null && !(await findWebhook(this.db, validateId('webhook', webhookId)))) throw notFound('webhook', webhookId);
    const count = await requeueDeadLetters(this.db, webhookId?.toLowerCase() ?? null);
    if (count > 0) this.hooks.deliveriesDue?.();
    return count;
  }

  /** The webhook as answered, with what the SSRF guard will make of its target. */
  private view(row: WebhookRow, secret: string | null = null): WebhookView {
    const targetRefusal = this.settings.addressPolicy ? targetUrlRefusal(this.settings.addressPolicy, row.targetUrl) : null;
    return webhookView(row, { secret, targetRefusal });
  }

  private secretBox(action: string): SecretBox {
    if (!this.settings.secretBox) throw encryptionKeyRequired(action);
    return this.settings.secretBox;
  }

  /** Locks an API webhook, runs `work` and announces the change, all in one transaction. */
  private async changeWebhook<T>(
    id: string,
    { configToo, twentyToo = false }: { configToo: boolean; twentyToo?: boolean },
    work: (client: Sql, current: WebhookRow) => Promise<T>,
  ): Promise<T> {
    const webhookId = validateId('webhook', id);
    const result = await inTransaction(this.db, async (client) => {
      const current = await lockWebhook(this.db, client, webhookId);
      if (!current) throw notFound('webhook', id);
      if ((current.source === 'twenty' && !twentyToo) || (current.source === 'config' && !configToo)) throw readOnly(webhookId, current.source);
      const outcome = await work(client, current);
      await notifyWebhookChanged(this.db, client, webhookId);
      return outcome;
    });
    await this.hooks.webhookChanged?.(webhookId);
    return result;
  }

  private async reread(client: Sql, id: string): Promise<WebhookRow> {
    const row = await findWebhook(this.db, id, client);
    if (!row) throw notFound('webhook', id);
    return row;
  }

  private async withAttempts(rows: DeliveryRow[]): Promise<DeliveryView[]> {
    const byDelivery = new Map<string, AttemptRow[]>();
    for (const attempt of await listAttempts(this.db, rows.map((row) => row.id))) {
      const list = byDelivery.get(attempt.deliveryId) ?? [];
      list.push(attempt);
      byDelivery.set(attempt.deliveryId, list);
    }
    return rows.map((row) => deliveryView(row, byDelivery.get(row.id) ?? []));
  }
}
