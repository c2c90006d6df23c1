/**
 * The GraphQL schema of the management API and its resolvers. The mutations
 * and fields of Twenty's webhook docs (`createWebhook`, `webhooks`,
 * `updateWebhook`, `deleteWebhook`) work as documented; the rest is walhook's.
 * Resolvers only hand over to `Management`.
 */
import { ENDPOINT_MODES } from '../delivery/endpoint-health.js';
import { buildSchema, type GraphQLSchema } from 'graphql';
import { SIGNATURE_SCHEMES } from '../common/verify.js';
import { BATCH_DEFAULTS, BATCH_LIMITS, ORDERINGS, PAYLOAD_FORMATS } from '../common/webhook.js';
import { formatDuration } from '../config/units.js';
import type { StartBackfillInput } from './backfills.js';
import type { CreateWebhookInput, DeliveriesQuery, Management, UpdateWebhookInput, WebhookStats } from './management.js';
import type { WebhookView } from './views.js';

const SDL = /* GraphQL */ `
  "Body format: record (Twenty's webhook docs), event ({event, data, timestamp}) or twenty (what Twenty's server sends)."
  enum WebhookFormat {
    ${PAYLOAD_FORMATS.join('\n    ')}
  }

  "none: deliveries leave as fast as the endpoint takes them. record: those of one record (table + primary key) leave one at a time in commit order; while one waits for a retry the record's later changes wait behind it, and a dead-lettered one releases the next."
  enum WebhookOrdering {
    ${ORDERINGS.join('\n    ')}
  }

  "An endpoint's circuit breaker: closed (sending), open (nothing sent but a probe now and then), probing (the probe in flight)."
  enum EndpointMode {
    ${ENDPOINT_MODES.join('\n    ')}
  }

  "Where a webhook is defined. Webhooks from the config file, and those made in Twenty's UI (twenty.webhooks), are read-only here."
  enum WebhookSource {
    config
    api
    "Made in Twenty's Settings → APIs & Webhooks (core.webhook); edited there."
    twenty
  }

  enum WebhookStatus {
    active
    "Receives nothing: the receiver answered 410 Gone, or an operator disabled it (see disabledReason)."
    disabled
  }

  enum DeliveryState {
    "Waiting for its first stored attempt."
    pending
    "Failed, waiting for the next retry."
    retrying
    delivered
    "Dead letter: every retry failed, or it can never be sent."
    dead
  }

  "How a webhook batches: one POST carries up to maxEvents events, at most maxBytes, sent linger after its first event at the latest."
  type WebhookBatch {
    maxEvents: Int!
    maxBytes: Int!
    "A duration in milliseconds, such as 200ms."
    linger: String!
  }

  input WebhookBatchInput {
    "Most events in one request, ${BATCH_LIMITS.maxEvents.min} to ${BATCH_LIMITS.maxEvents.max}. Default: ${BATCH_DEFAULTS.maxEvents}."
    maxEvents: Int
    "Largest body of one request in bytes, ${BATCH_LIMITS.maxBytes.min} to ${BATCH_LIMITS.maxBytes.max}; more than delivery.maxPayloadBytes is refused (the payload limit applies to a batch). Default: ${BATCH_DEFAULTS.maxBytes}."
    maxBytes: Int
    "Longest an event waits for others to join its batch: a duration such as 200ms or 1s, ${formatDuration(BATCH_LIMITS.linger.min)} to ${formatDuration(BATCH_LIMITS.linger.max)}. Default: ${formatDuration(BATCH_DEFAULTS.linger)}."
    linger: String
  }

  type Webhook {
    id: ID!
    targetUrl: String!
    "Events sent, as object.action; * matches any object or action."
    operations: [String!]!
    description: String!
    format: WebhookFormat!
    "Signature schemes sent: ${SIGNATURE_SCHEMES.join(', ')}."
    signatures: [String!]!
    "Only events of this workspace are sent; null: every workspace."
    workspaceId: String
    "Updates are sent only when one of these fields changed (name covers name.firstName); empty: every update."
    changedFields: [String!]!
    "CEL condition over record, previousRecord, operation, workspaceId and updatedFields an event must meet to be sent; null: every event."
    filter: String
    ordering: WebhookOrdering!
    "Requests per second at most to targetUrl, per walhook instance (token bucket); null: no limit."
    maxPerSecond: Float
    "Several events per request (README Batching); null: one event per request."
    batch: WebhookBatch
    "The signing secret: only in the answer of createWebhook and rotateWebhookSecret, null everywhere else."
    secret: String
    "Until when the secret before the last rotation still signs (ISO 8601); null outside a rotation."
    previousSecretExpiresAt: String
    "Why every delivery to targetUrl will be refused: its host is an IP address the SSRF guard refuses (see delivery.allowList). Null otherwise; a host name is judged when connecting."
    targetRefusal: String
    status: WebhookStatus!
    disabledReason: String
    source: WebhookSource!
    readOnly: Boolean!
    createdAt: String!
    updatedAt: String!
    stats: WebhookStats!
    "The latest attempts made by this instance, newest first (kept in memory, at most 200; see RecentAttempt)."
    recentAttempts(first: Int = 50): [RecentAttempt!]!
  }

  "How a webhook's deliveries are going. Attempt counts are this instance's, kept in memory since it started; the rest is read from the state table."
  type WebhookStats {
    "2xx answers in the last hour."
    deliveredLastHour: Int!
    "Failed attempts in the last hour."
    failedLastHour: Int!
    "Deliveries stored for a later attempt (pending or retrying)."
    waiting: Int!
    deadLetters: Int!
    "Deliveries wait for a retry after a failure, or the last attempt here failed."
    failing: Boolean!
    "The endpoint's circuit breaker, as this instance sees it (delivery.breakerFailures, delivery.breakerProbeInterval)."
    endpointMode: EndpointMode!
  }

  "One delivery attempt made by this instance: successes too, which the state table never holds. Not persisted; other instances' attempts are not included."
  type RecentAttempt {
    deliveryId: ID!
    attemptedAt: String!
    succeeded: Boolean!
    "HTTP status, null when no response came."
    status: Int
    durationMs: Int!
    error: String
  }

  input CreateWebhookInput {
    "http or https, at most delivery.maxUrlLength characters."
    targetUrl: String!
    operations: [String!]!
    description: String
    "Default: record."
    format: WebhookFormat
    "Default: all three schemes."
    signatures: [String!]
    "Only events of this workspace are sent (Twenty's workspace UUID, as events carry it in workspaceId). Default: every workspace."
    workspaceId: String
    "Updates are sent only when one of these fields changed. Default: every update."
    changedFields: [String!]
    "CEL condition an event must meet to be sent, checked here. Default: every event."
    filter: String
    "Default: none."
    ordering: WebhookOrdering
    "Requests per second at most to targetUrl (a positive number). Default: no limit."
    maxPerSecond: Float
    "Several events per request; a field left out takes its default. Default: one event per request. Not with ordering record."
    batch: WebhookBatchInput
    "Default: 32 random bytes in hex. At least 16 characters."
    secret: String
  }

  input UpdateWebhookInput {
    id: ID!
    targetUrl: String
    operations: [String!]
    description: String
    format: WebhookFormat
    signatures: [String!]
    "Only events of this workspace are sent; null: every workspace again."
    workspaceId: String
    "Updates are sent only when one of these fields changed; [] or null: every update again."
    changedFields: [String!]
    "CEL condition an event must meet to be sent, checked here; null: every event again."
    filter: String
    ordering: WebhookOrdering
    "Requests per second at most to targetUrl (a positive number); null: no limit again."
    maxPerSecond: Float
    "Several events per request; a field left out keeps its current value (or default); null: one event per request again."
    batch: WebhookBatchInput
    "true enables a disabled webhook again; false disables it."
    enabled: Boolean
  }

  type DeliveryAttempt {
    attempt: Int!
    attemptedAt: String!
    "HTTP status, null when no response came."
    status: Int
    error: String
    durationMs: Int
  }

  type Delivery {
    "Also the webhook-id header and (record format) the body's id: the same on every attempt."
    id: ID!
    eventId: ID!
    webhookId: ID!
    operation: String!
    state: DeliveryState!
    attempts: Int!
    lastStatus: Int
    lastError: String
    lastDurationMs: Int
    deadReason: String
    nextAttemptAt: String
    createdAt: String!
    updatedAt: String!
    attemptHistory: [DeliveryAttempt!]!
  }

  type DeliveryEdge {
    cursor: String!
    node: Delivery!
  }

  type PageInfo {
    hasNextPage: Boolean!
    endCursor: String
  }

  type DeliveryConnection {
    edges: [DeliveryEdge!]!
    nodes: [Delivery!]!
    pageInfo: PageInfo!
  }

  enum BackfillStatus {
    "Waiting for the leader to claim it."
    pending
    running
    "Stopped where it was; resumeBackfill continues from there."
    paused
    cancelled
    done
    "Stopped by an error in the request (see error); resumeBackfill tries again."
    failed
  }

  "Existing rows sent as events, read in primary-key chunks between WAL watermarks so that no row overwrites a newer live change."
  type Backfill {
    id: ID!
    object: String!
    "The one webhook it sends to; null: every webhook whose operations match object.action."
    webhookId: ID
    "SQL condition on the rows, run read-only."
    where: String
    "Rows per second at most; null: unthrottled."
    rate: Int
    "backfilled (object.backfilled events) or created (object.created)."
    action: String!
    status: BackfillStatus!
    "Rows matching when it started (null until the leader claims it)."
    rowsTotal: Float
    rowsRead: Float!
    rowsSent: Float!
    "Rows not sent because the live stream changed them while their chunk was read: the live event stands."
    rowsSuperseded: Float!
    chunks: Int!
    "schema.table of each table it covers."
    tables: [String!]!
    error: String
    createdAt: String!
    updatedAt: String!
    startedAt: String
    finishedAt: String
  }

  input StartBackfillInput {
    "The object (events' name of the tables, e.g. person): every table in scope of that object, every workspace."
    object: String!
    "Send only to this webhook (whatever its operations). Default: every webhook matching object.action."
    webhookId: ID
    "SQL condition on the rows, e.g. a timestamp column after now() - interval '1 day'; run read-only."
    where: String
    "Rows per second at most."
    rate: Int
    "backfilled (default) or created."
    action: String
  }

  type Query {
    "Backfills, newest first (at most 100)."
    backfills: [Backfill!]!
    backfill(id: ID!): Backfill
    webhooks: [Webhook!]!
    webhook(id: ID!): Webhook
    "Deliveries kept in the state table (failures, retries, dead letters), newest first."
    deliveries(webhookId: ID, status: DeliveryState, first: Int = 50, after: String): DeliveryConnection!
    "The objects walhook streams (one per table in source scope, named as events name them), for picking operations."
    objects: [String!]!
    "The actions an operation can name."
    actions: [String!]!
    "How filter and changedFields (as createWebhook checks them) would judge the webhook's recent events, newest first, before saving. The events are the last 20 its operations matched on this instance (the one streaming), in memory only."
    tryFilter(webhookId: ID!, filter: String, changedFields: [String!]): [FilterTrial!]!
    "Which replica streams which partition."
    partitions: [Partition!]!
  }

  "A streaming partition (source.partitions; the one slot when there is one): which replica streams it, as the instance answering last read its lease and slot."
  type Partition {
    index: Int!
    slot: String!
    "The replica holding its lease (the holder id walhook logs), or null while nobody does."
    streamedBy: String
    "The instance answering streams it."
    streamedHere: Boolean!
    "Seconds since its lease was last renewed, by anyone."
    secondsSinceRenewal: Float!
    "Bytes of WAL not yet confirmed on its slot (null until read)."
    lagBytes: Float
    "Bytes of WAL its slot keeps on the server (null until read)."
    retainedWalBytes: Float
  }

  "What a filter makes of one recent event."
  type FilterTrial {
    eventId: ID!
    operation: String!
    commitTime: String!
    "The record's id, when it has one."
    recordId: String
    "It would be sent."
    matched: Boolean!
    "Why the filter failed on this event (it would not be sent), else null."
    error: String
  }

  type Mutation {
    createWebhook(input: CreateWebhookInput!): Webhook!
    updateWebhook(input: UpdateWebhookInput!): Webhook!
    deleteWebhook(id: ID!): Webhook!
    """
    Enables a disabled webhook (410 Gone, delivery.disableAfter or an operator), config-file and Twenty ones too. With redeliverMissed,
    its dead letters dead-lettered since it began failing (all of them when it was not failing) are sent again, with their ids.
    """
    enableWebhook(id: ID!, redeliverMissed: Boolean = false): Webhook!
    "A new secret, returned this once; the old one keeps signing beside it for delivery.secretRotationOverlap."
    rotateWebhookSecret(id: ID!): Webhook!
    "Sends a dead or delivered delivery again, with its original id."
    redeliver(deliveryId: ID!): Delivery!
    "Sends the dead letters of a webhook (of every webhook without webhookId) again; returns how many."
    redeliverDeadLetters(webhookId: ID): Int!
    "Starts a backfill; the leader runs it beside the live stream."
    startBackfill(input: StartBackfillInput!): Backfill!
    pauseBackfill(id: ID!): Backfill!
    resumeBackfill(id: ID!): Backfill!
    cancelBackfill(id: ID!): Backfill!
  }
`;

export function createManagementSchema(): GraphQLSchema {
  return buildSchema(SDL);
}

/**
 * Adds the fields of Webhook that cost a query (stats, recentAttempts) to
 * views, as functions graphql-js calls only when a document asks for them.
 * The stats of one call's views come from a single read.
 */
function withActivity(management: Management): (view: WebhookView) => WebhookView & Record<'stats' | 'recentAttempts', unknown> {
  let stats: Promise<(webhookId: string) => WebhookStats> | null = null;
  return (view) => ({
    ...view,
    stats: async () => (await (stats ??= management.webhookStats()))(view.id),
    recentAttempts: ({ first }: { first: number }) => management.recentAttempts(view.id, first),
  });
}

/** The root value: one function per Query and Mutation field, called with the field's arguments. */
export function managementRoot(management: Management): Record<string, (args: never) => unknown> {
  const one = async (view: Promise<WebhookView>) => withActivity(management)(await view);
  return {
    webhooks: async () => (await management.listWebhooks()).map(withActivity(management)),
    webhook: ({ id }: { id: string }) => one(management.getWebhook(id)),
    deliveries: (query: DeliveriesQuery) => management.listDeliveries(query),
    objects: () => management.listObjects(),
    partitions: () => management.listPartitions(),
    actions: () => management.listActions(),
    tryFilter: ({ webhookId, filter, changedFields }: { webhookId: string; filter?: string | null; changedFields?: string[] | null }) =>
      management.tryFilter(webhookId, filter ?? null, changedFields ?? null),
    createWebhook: ({ input }: { input: CreateWebhookInput }) => one(management.createWebhook(input)),
    updateWebhook: ({ input }: { input: UpdateWebhookInput }) => one(management.updateWebhook(input)),
    deleteWebhook: ({ id }: { id: string }) => one(management.deleteWebhook(id)),
    enableWebhook: ({ id, redeliverMissed }: { id: string; redeliverMissed?: boolean | null }) => one(management.enableWebhook(id, redeliverMissed)),
    rotateWebhookSecret: ({ id }: { id: string }) => one(management.rotateWebhookSecret(id)),
    redeliver: ({ deliveryId }: { deliveryId: string }) => management.redeliver(deliveryId),
    redeliverDeadLetters: ({ webhookId }: { webhookId?: string | null }) => management.redeliverDeadLetters(webhookId),
    backfills: () => management.backfills.list(),
    backfill: ({ id }: { id: string }) => management.backfills.get(id),
    startBackfill: ({ input }: { input: StartBackfillInput }) => management.backfills.start(input),
    pauseBackfill: ({ id }: { id: string }) => management.backfills.command(id, 'pause'),
    resumeBackfill: ({ id }: { id: string }) => management.backfills.command(id, 'resume'),
    cancelBackfill: ({ id }: { id: string }) => management.backfills.command(id, 'cancel'),
  };
}
