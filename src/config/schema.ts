/**
 * The configuration schema: every key, its default and its description. The
 * reference in docs/configuration.md and the environment variable names are
 * generated from this file, so a key documented or overridable elsewhere is
 * a key declared here.
 *
 * Defaults are given with `.prefault()`: written as they would be in the file
 * and parsed like it, so `'10s'` becomes 10000 and the reference shows `10s`.
 */
import { z } from 'zod';
import { MIN_STANDARD_KEY_BYTES, secretProblem, SIGNATURE_SCHEMES } from '../common/verify.js';
import { BATCH_DEFAULTS, BATCH_LIMITS, batchMaxBytesProblem, MIN_SECRET_LENGTH, ORDERINGS, PAYLOAD_FORMATS } from '../common/webhook.js';
import { changedFieldsProblem, compileFilter } from '../common/webhook-filter.js';
import { MAX_PARTITIONS, partitionSuffixLength } from '../common/partitions.js';
import {
  byteSize,
  capturingRegex,
  cidrOrHost,
  connectionUrl,
  duration,
  encryptionKey,
  fieldInfo,
  flag,
  listenAddress,
  objectName,
  operationPattern,
  postgresName,
  secretText,
  tableReference,
  webUrl,
  wholeNumber,
} from './fields.js';
import { formatByteSize, formatDuration } from './units.js';

export const SOURCE_PLUGINS = ['pgoutput', 'wal2json'] as const;
export const EVENT_SHAPES = ['auto', 'twenty', 'columns'] as const;
/** Tables of a Twenty workspace that hold credentials or secrets, or that Twenty never sends to webhooks. */
export const TWENTY_EXCLUDED_TABLES = ['*.connectedAccount', '*.apiKey', '*.webhook', '*.timelineActivity'] as const;
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const reconnectSchema = z
  .strictObject({
    minDelay: duration().prefault('1s').describe('Shortest wait before reconnecting after the replication connection fails.'),
    maxDelay: duration()
      .prefault('30s')
      .describe('Longest wait between reconnection attempts; the wait grows from `minDelay` up to this.'),
  })
  .refine((reconnect) => reconnect.minDelay <= reconnect.maxDelay, {
    message: 'a duration not shorter than source.reconnect.minDelay',
    path: ['maxDelay'],
  });

const databaseSchema = z.strictObject({
  url: connectionUrl().describe(
    "The CRM's PostgreSQL database, whose changes are streamed. Its user needs the REPLICATION attribute.",
  ),
});

const sourceSchema = z.strictObject({
  plugin: z
    .enum(SOURCE_PLUGINS)
    .prefault('pgoutput')
    .describe('Logical decoding plugin: `pgoutput` (built into PostgreSQL) or `wal2json` (installed on the server).'),
  slot: postgresName()
    .prefault('walhook')
    .describe('Logical replication slot walhook reads. One slot has one reader: replicas take turns on it.'),
  publication: postgresName().prefault('walhook').describe('Publication listing the streamed tables.'),
  partitions: wholeNumber(1)
    .prefault(1)
    .refine((count) => count <= MAX_PARTITIONS, { message: `at most ${MAX_PARTITIONS} partitions (each is a slot decoding the whole WAL once more)` })
    .describe(
      'Streaming partitions, shared by the replicas. Each table belongs to one partition by a stable hash of its schema (a workspace), and each partition has its own slot and publications, named `<slot>_p<k>` and `<publication>_p<k>` (k = 0 … partitions − 1; with 1, `slot` and `publication` themselves). Replicas take partitions through leases in the state schema, at most ⌈partitions / live replicas⌉ each. Changing it is a migration, with the replicas stopped and the CRM writing: `walhook repartition --partitions N` first, then the new value (README: Changing the number of partitions).',
    ),
  createSlot: flag().prefault(true).describe('Create the slot at start when it does not exist.'),
  createPublication: flag().prefault(true).describe('Create the publications when missing and keep them matching the scope (a table removed by hand is put back, with a warning). When false, a publication that differs from the scope makes /readyz unready.'),
  schemas: z
    .array(z.string().regex(/^[^.\s"]+$/, 'a schema name or pattern such as workspace_*'))
    .prefault(['workspace_*'])
    .describe(
      'Schemas whose tables are streamed; `*` matches any run of characters. Twenty keeps each workspace in a schema `workspace_<id>`.',
    ),
  tables: z.array(tableReference()).prefault([]).describe('More tables to stream, as `schema.table` (exact names).'),
  excludeTables: z
    .array(tableReference())
    .prefault([])
    .describe('Tables never streamed, as `schema.table`; `*` matches any run of characters (`*.timelineActivity`).'),
  scopeRefreshInterval: duration()
    .prefault('10s')
    .describe(
      'How often new schemas and tables (a new Twenty workspace, a custom object) are looked for and added to the publication. Rows written to a new table before it is added are not streamed.',
    ),
  statusInterval: duration()
    .prefault('10s')
    .describe('How often walhook reports its position to the server, busy or idle.'),
  reconnect: reconnectSchema.prefault({}),
  stallTimeout: duration()
    .prefault('1m')
    .describe(
      'Changes waiting in the slot with none of its deliveries in flight and nothing received or confirmed for this long: the stream (each partition on its own) is stalled. walhook logs it, reports it on /readyz and `walhook_stream_stalled`, resumes reading, and reconnects while it stays stalled. A replication connection not streaming this long after it was opened is given up and made again.',
    ),
})
  .refine((source) => source.slot.length + partitionSuffixLength(source.partitions) <= 63, {
    message: 'a slot name short enough for its partitions\' suffix `_p<k>` (at most 63 characters with it)',
    path: ['slot'],
  })
  .refine((source) => source.publication.length + partitionSuffixLength(source.partitions) + '_inserts'.length <= 63, {
    message: 'a publication name short enough for the suffixes `_p<k>` and `_inserts` (at most 63 characters with them)',
    path: ['publication'],
  });

const eventsSchema = z.strictObject({
  shape: z
    .enum(EVENT_SHAPES)
    .prefault('auto')
    .describe(
      "How `record` and `previousRecord` are built: `twenty` nests and types them from Twenty's metadata (`core.\"fieldMetadata\"`) as Twenty's server does (`name: {firstName, lastName}`, field names in `updatedFields`, no event for an update that changes nothing); `columns` sends the table's columns as they are; `auto` picks `twenty` where Twenty's metadata tables exist, else `columns`.",
    ),
  softDeleteColumn: z
    .string()
    .nullable()
    .transform((column) => column || null)
    .prefault('deletedAt')
    .describe(
      'Column that marks a row as soft-deleted (Twenty: `deletedAt`): an update setting it is `<object>.deleted`, one clearing it `<object>.restored`, and a DELETE `<object>.destroyed`. Empty or null: no soft delete, a DELETE is `<object>.deleted`.',
    ),
  workspacePattern: capturingRegex()
    .prefault('^workspace_(.+)$')
    .describe(
      'Regular expression on the schema name whose first capture group is the workspace id. Changes in a schema it does not match have workspaceId null.',
    ),
  twentyWorkspaceIds: flag()
    .prefault(true)
    .describe("Read the captured workspace id as Twenty's base36 form and turn it back into the workspace UUID."),
  objectNames: z
    .record(z.string().regex(/^[^.\s"]+(\.[^.\s"]+)?$/, 'a table as table or schema.table'), objectName())
    .prefault({})
    .describe(
      'Object name for a table (`table` or `schema.table` → name), where the default does not fit: the table name, with the leading `_` of Twenty custom objects removed.',
    ),
});

const twentySchema = z.strictObject({
  webhooks: flag()
    .prefault(false)
    .describe(
      "Serve the webhooks made in Twenty's UI (Settings → APIs & Webhooks: rows of `core.webhook`, or the older per-workspace `webhook` tables): each is sent the `twenty` format with Twenty's headers, signed with its stored secret, for the events of its own workspace. Turn off Twenty's own sender, or receivers get every event twice (see README).",
    ),
  refreshInterval: duration()
    .prefault('2s')
    .describe("How often Twenty's metadata and webhooks are checked for changes (a new custom field, a webhook edited in Twenty's UI)."),
  excludeTables: z
    .array(tableReference())
    .prefault([...TWENTY_EXCLUDED_TABLES])
    .describe(
      'Tables never streamed, on top of `source.excludeTables`: by default the Twenty tables that hold credentials or secrets (`connectedAccount` tokens, `apiKey`, the legacy per-workspace `webhook` table with its secrets) and `timelineActivity`, which Twenty never sends to webhooks. Set `[]` to stream them.',
    ),
});

const deliverySchema = z.strictObject({
  timeout: duration().prefault('30s').describe('How long to wait for a response; no answer in time is a failure.'),
  retrySchedule: z
    .array(duration())
    .prefault(['1m', '5m', '15m', '1h', '6h'])
    .describe('Waits before each retry of a failed delivery; after the last, the delivery is a dead letter. Empty: no retries.'),
  retryAfterDefault: duration()
    .prefault('30s')
    .describe(
      "How long an endpoint that answers 429 without a readable `Retry-After` is left alone. A 429, or a 503 with a `Retry-After`, defers the delivery without counting an attempt, and nothing is sent to that endpoint until then (a 503 without the header is an ordinary failed attempt); a `Retry-After` is cut to the longest `delivery.retrySchedule` wait (or to this one, if longer), so no header parks deliveries for ever.",
    ),
  breakerFailures: wholeNumber(1)
    .prefault(5)
    .describe(
      "Consecutive failed attempts (no answer, a timeout, an error status other than a 429 or a 503 with `Retry-After`) after which an endpoint's circuit breaker opens: nothing more is sent to it except one probe every `delivery.breakerProbeInterval`, and what would go waits in the state table (the slot keeps moving). A due retry kept back counts as an attempt (`not sent: circuit open`), so it still reaches its dead letter. The probe's success closes it.",
    ),
  breakerProbeInterval: duration()
    .prefault('30s')
    .describe(
      'How often an endpoint whose circuit breaker is open is probed with one request; never less often than the first retry wait (`delivery.retrySchedule[0]`), so a retry kept back is not counted before the endpoint was probed.',
    ),
  disableAfter: duration()
    .prefault('5d')
    .describe(
      "How long a webhook may fail without a single success before it is disabled (as Svix does): its endpoint's failed attempts since its last 2xx span this long. It is logged, counted (`walhook_webhooks_auto_disabled_total`) and shown with its reason (`disabledReason`); what waits for it becomes dead letters. `enableWebhook(id, redeliverMissed: true)` (CLI `walhook webhooks enable ID --redeliver-missed`) enables it again and redelivers what was dead-lettered since it began failing.",
    ),
  concurrency: wholeNumber(1).prefault(8).describe('Requests in flight at once, per endpoint.'),
  maxQueuedPerEndpoint: wholeNumber(1)
    .prefault(1000)
    .describe(
      "Deliveries an endpoint may have waiting in memory. Beyond that its new deliveries go to the state table, so the other endpoints and the slot keep moving — unless every other endpoint is busy too (or there is only one): then walhook stops reading the slot once the endpoint holds 16 deliveries per request in flight (`delivery.concurrency`), or this many if fewer, until it has caught up, and the slot is the queue. An endpoint is busy when it holds as many of its own, or fails, was spilled, or asked to be left alone (`Retry-After`).",
    ),
  spillAfter: duration()
    .prefault('5s')
    .describe(
      "How long a delivery may wait in an endpoint's in-memory queue while other endpoints exist; then that endpoint's waiting deliveries move to the state table, so a slow endpoint never holds the slot back.",
    ),
  maxInMemoryBytes: byteSize()
    .prefault('64MB')
    .describe(
      'Body bytes of unsettled deliveries held in memory across all endpoints; above it walhook stops reading the slot until half is settled, so memory stays bounded (the slot is the queue).',
    ),
  maxPayloadBytes: byteSize().prefault('1MB').describe('Largest request body walhook sends.'),
  maxUrlLength: wholeNumber(1).prefault(2048).describe('Longest webhook target URL accepted.'),
  ssrfGuard: flag()
    .prefault(true)
    .describe(
      'Refuse to connect to loopback, private, link-local and other non-public addresses (checked after DNS resolution), except those in `delivery.allowList`.',
    ),
  allowList: z
    .array(cidrOrHost())
    .prefault([])
    .describe('Destinations let through the SSRF guard: CIDR blocks (`10.0.0.0/8`), addresses or host names.'),
  retryPollInterval: duration().prefault('1s').describe('How often the retry worker looks for deliveries that are due.'),
  leaseDuration: duration()
    .prefault('60s')
    .describe('How long a replica holds a retry it took from the state table before another replica may take it over.'),
  shutdownTimeout: duration()
    .prefault('10s')
    .describe('On SIGTERM, how long requests in flight may take to finish; what is left is sent again after a restart.'),
  userAgent: z.string().min(1).prefault('walhook').describe('User-Agent header of webhook requests.'),
  secretRotationOverlap: duration()
    .prefault('24h')
    .describe("After a webhook's secret is rotated, how long requests also carry a signature made with the old secret."),
});

const { maxEvents: EVENTS, maxBytes: BYTES, linger: LINGER } = BATCH_LIMITS;
const batchSchema = z.strictObject({
  maxEvents: wholeNumber(EVENTS.min)
    .refine((events) => events <= EVENTS.max, `a whole number from ${EVENTS.min} to ${EVENTS.max}`)
    .prefault(BATCH_DEFAULTS.maxEvents)
    .describe('Most events in one request.'),
  maxBytes: byteSize()
    .refine((bytes) => bytes >= BYTES.min && bytes <= BYTES.max, `a size from ${formatByteSize(BYTES.min)} to ${formatByteSize(BYTES.max)}`)
    .prefault(formatByteSize(BATCH_DEFAULTS.maxBytes))
    .describe('Largest body of one request; more than `delivery.maxPayloadBytes` is refused (the payload limit applies to a batch). An event alone larger than this goes in a batch of its own.'),
  linger: duration()
    .refine((ms) => ms >= LINGER.min && ms <= LINGER.max, `a duration from ${formatDuration(LINGER.min)} to ${formatDuration(LINGER.max)}`)
    .prefault(formatDuration(BATCH_DEFAULTS.linger))
    .describe('Longest an event waits for others to join its batch, from the first event of the batch.'),
});

const webhookSchema = z
  .strictObject({
    id: z
      .uuid('a UUID such as 3f1c8a52-6a7e-4b0e-9d55-2a1f1f0e7c11')
      .optional()
      .describe('Webhook id (a UUID), sent as `webhookId`; give one to keep it stable when this entry is edited.'),
    targetUrl: webUrl().describe('Endpoint the events are POSTed to: http or https, at most `delivery.maxUrlLength` characters.'),
    operations: z
      .array(operationPattern())
      .min(1)
      .describe('Events sent, as `<object>.<action>`; `*` matches any object or action (`person.*`, `*.created`, `*.*`).'),
    description: z.string().prefault('').describe('Free text for operators.'),
    workspaceId: z
      .string()
      .regex(/^\S{1,100}$/, 'a workspace id such as 20202020-1c25-4d02-bf25-6aeccf7ea419')
      .optional()
      .describe("Only events of this workspace (as events carry it in `workspaceId`: Twenty's workspace UUID) are sent. Unset: every workspace."),
    changedFields: z
      .array(z.string())
      .prefault([])
      .superRefine((fields, ctx) => {
        const problem = changedFieldsProblem(fields);
        if (problem !== null) ctx.addIssue({ code: 'custom', message: `a list of field names such as [jobTitle, stage]; this one ${problem}` });
      })
      .describe(
        'Updates are sent only when one of these fields changed, named as the event shows them (`name` covers `name.firstName`; a dotted path such as `address.addressCity` compares that value). Creates and deletes are not affected. Empty: every update.',
      ),
    filter: z
      .string()
      .optional()
      .superRefine((expression, ctx) => {
        if (expression === undefined) return;
        const compiled = compileFilter(expression);
        if ('problem' in compiled) ctx.addIssue({ code: 'custom', message: `a CEL condition over record, previousRecord, operation, workspaceId and updatedFields; this one ${compiled.problem}` });
      })
      .describe(
        'A CEL condition an event must meet to be sent, over `record`, `previousRecord`, `operation`, `workspaceId` and `updatedFields`, such as `record.stage == "CUSTOMER" && previousRecord.stage != "CUSTOMER"`. Checked when loaded; an event it fails on is not sent and is counted in `walhook_filter_errors_total`. Unset: every event.',
      ),
    secret: secretText(MIN_SECRET_LENGTH)
      // i15-security: a whsec_ secret's key is its decoded base64, which must give at least 16 bytes.
      .refine((secret) => secretProblem(secret) === undefined, {
        message: `a secret of at least ${MIN_SECRET_LENGTH} characters; in the whsec_<base64> form, base64 of at least ${MIN_STANDARD_KEY_BYTES} bytes`,
      })
      .describe('Signing secret shared with the receiver; write `${VAR}` to keep it out of the file.'),
    format: z
      .enum(PAYLOAD_FORMATS)
      .prefault('record')
      .describe(
        "Body format: `record` ({id, workspaceId, webhookId, operation, timestamp, record, previousRecord, updatedFields}), `event` ({event, data, timestamp}) or `twenty` (what Twenty's own server sends).",
      ),
    signatures: z
      .array(z.enum(SIGNATURE_SCHEMES))
      .min(1)
      .prefault([...SIGNATURE_SCHEMES])
      .describe(
        'Signatures sent: `standard` (Standard Webhooks webhook-signature), `twenty` (X-Twenty-Signature), `twenty-legacy` (X-Twenty-Webhook-Signature).',
      ),
    ordering: z
      .enum(ORDERINGS)
      .prefault('none')
      .describe(
        '`none`: deliveries leave as fast as the endpoint takes them. `record`: those of one record (table + primary key) leave one at a time in commit order; while one waits for a retry, later changes of that record wait behind it (a dead-lettered one releases the next).',
      ),
    maxPerSecond: z
      .number('a positive number of requests per second such as 10 or 0.5')
      .positive('a positive number of requests per second such as 10 or 0.5')
      .optional()
      .describe(
        "Requests per second at most to this endpoint, per walhook instance (a token bucket: up to a second's worth may leave at once after a quiet spell). What cannot leave waits in memory, or in the state table past `delivery.maxQueuedPerEndpoint`. Unset: no limit.",
      ),
    batch: batchSchema
      .optional()
      .describe(
        'Several events per request, as `{batchId, webhookId, count, events: [...]}` (README "Batching"), each event as a single delivery would send it. Unset: one event per request. Not combined with `ordering: record` yet.',
      ),
  })
  .refine((webhook) => webhook.batch === undefined || webhook.ordering !== 'record', {
    message: 'unset while ordering is record (batching and per-record ordering are not combined yet)',
    path: ['batch'],
  })
  .register(fieldInfo, { type: 'webhook' });

const stateSchema = z.strictObject({
  databaseUrl: connectionUrl()
    .optional()
    .describe("Database for walhook's own tables. Unset: the CRM database (`database.url`)."),
  schema: postgresName()
    .prefault('walhook')
    .describe("Schema of walhook's own tables (webhooks, retries, dead letters), created by migrations at start."),
});

export const configSchema = z
  .strictObject({
    // The cast lets a missing section be reported as the missing `database.url` it really is.
    database: databaseSchema.prefault({} as z.input<typeof databaseSchema>),
    source: sourceSchema.prefault({}),
    events: eventsSchema.prefault({}),
    twenty: twentySchema.prefault({}),
    delivery: deliverySchema.prefault({}),
    webhooks: z
      .array(webhookSchema)
      .prefault([])
      .describe('Webhooks defined in this file; more can be created through the API. Each entry has the keys below.'),
    state: stateSchema.prefault({}),
    encryptionKey: encryptionKey()
      .optional()
      .describe(
        'Key that encrypts webhook secrets at rest (AES-256-GCM): 32 bytes as 64 hex characters or base64 (`openssl rand -base64 32`). The same on every instance.',
      ),
    api: z
      .strictObject({
        listen: listenAddress()
          .prefault('127.0.0.1:8080')
          .describe('Address of the HTTP server (GraphQL API, /metrics, /healthz, /readyz), as host:port.'),
        token: secretText(16).optional().describe('Bearer token the GraphQL management API requires.'),
        // i15-security: where the SRE routes are served, and which Host headers the server answers.
        opsListen: listenAddress()
          .optional()
          .describe(
            'Separate address (host:port) for /metrics, /readyz and /healthz, for Prometheus and probes; then api.listen serves only the API, the console and /healthz. Unset: all are served on api.listen.',
          ),
        allowedHosts: z
          .array(z.string().regex(/^(\*\.)?[a-z0-9]([a-z0-9.-]*[a-z0-9])?\.?$/i, 'a host name such as walhook.example.com or *.example.com'))
          .prefault([])
          .describe(
            'Host header names with a dot the HTTP server answers besides IP addresses, single-label names (`localhost`, a Compose service) and `*.localhost`; `*.example.com` matches subdomains. Any other Host gets 403, which stops DNS rebinding: add the names clients use, such as the Service FQDN or the Ingress host.',
          ),
      })
      .prefault({}),
    log: z
      .strictObject({
        level: z.enum(LOG_LEVELS).prefault('info').describe('Least severe level logged (pino levels; `silent` logs nothing).'),
      })
      .prefault({}),
    // i15-security: how long settled deliveries (their bodies are personal data) and attempt history are kept.
    retention: z
      .strictObject({
        enabled: flag().prefault(true).describe('Delete old delivered and dead deliveries and old attempt history from the state table.'),
        delivered: duration()
          .prefault('7d')
          .describe('How long a delivered delivery (a redelivered one, or one that succeeded after a retry) is kept after it settled.'),
        dead: duration()
          .prefault('30d')
          .describe('How long a dead letter (with its body) is kept for inspection and redelivery after it died.'),
        attempts: duration()
          .prefault('30d')
          .describe("How long a delivery attempt's history row is kept, also for deliveries that are still retrying."),
        interval: duration().prefault('1h').describe('How often each instance deletes what is past its retention.'),
        batchSize: wholeNumber(1)
          .prefault(1000)
          .describe('Rows deleted per statement; a pass repeats statements until nothing is left, so each one holds its locks briefly.'),
      })
      .prefault({}),
    backfill: z
      .strictObject({
        chunkSize: wholeNumber(1)
          .prefault(500)
          .describe(
            'Rows a backfill reads per chunk (one short select between two WAL watermarks). The next chunks are read while earlier ones wait for the stream or are delivered, as long as their rows fit in delivery.maxQueuedPerEndpoint, which so bounds what a backfill holds in memory.',
          ),
        pollInterval: duration().prefault('1s').describe('How often the leader looks for a backfill requested on another instance or from the CLI.'),
      })
      .prefault({}),
    recovery: z
      .strictObject({
        timestampColumn: z
          .string()
          .min(1)
          .prefault('updatedAt')
          .describe(
            "Column holding when a row last changed (Twenty: `updatedAt`). After a lost slot, `walhook recover` backfills the rows whose column is later than the last settled change minus recovery.safetyMargin; a table without it (or with a column that is not a timestamp or date) is backfilled in full.",
          ),
        safetyMargin: duration()
          .prefault('5m')
          .describe(
            'How far before the last settled change a recovery starts: covers clocks of application servers behind the database and transactions that set the column before committing.',
          ),
        automatic: flag()
          .prefault(false)
          .describe(
            'When the leader finds the slot lost, recover on its own (as `walhook recover`) instead of staying unready until an operator does. Off by default: a recovery re-sends rows and cannot send the gap\'s deletes, which an operator should know of.',
          ),
      })
      .prefault({}),
    slotSafety: z
      .strictObject({
        checkInterval: duration().prefault('30s').describe("How often the slot's retained WAL is measured."),
        retainedWalWarnBytes: byteSize()
          .prefault('1GB')
          .describe('Retained WAL above which walhook warns: a slot that stops moving keeps WAL on the server disk.'),
      })
      .prefault({}),
  })
  .superRefine((config, ctx) => {
    const seenIds = new Set<string>();
    config.webhooks.forEach((webhook, index) => {
      if (webhook.targetUrl.length > config.delivery.maxUrlLength) {
        ctx.addIssue({
          code: 'custom',
          path: ['webhooks', index, 'targetUrl'],
          message: `a URL of at most ${config.delivery.maxUrlLength} characters (delivery.maxUrlLength)`,
        });
      }
      if (webhook.id !== undefined && seenIds.has(webhook.id)) {
        ctx.addIssue({ code: 'custom', path: ['webhooks', index, 'id'], message: 'an id no other webhook has' });
      }
      if (webhook.id !== undefined) seenIds.add(webhook.id);
      const batchBytesProblem = webhook.batch && batchMaxBytesProblem(webhook.batch.maxBytes, config.delivery.maxPayloadBytes);
      if (batchBytesProblem) ctx.addIssue({ code: 'custom', path: ['webhooks', index, 'batch', 'maxBytes'], message: batchBytesProblem });
    });
    if (config.recovery.automatic && config.source.partitions > 1) {
      ctx.addIssue({ code: 'custom', path: ['recovery', 'automatic'], message: 'false while source.partitions is more than 1 (walhook recover handles one slot)' });
    }
  });

/** The resolved configuration: defaults filled in, durations in milliseconds, sizes in bytes. */
export type WalhookConfig = z.infer<typeof configSchema>;
export type WebhookConfig = WalhookConfig['webhooks'][number];
export type EventShape = (typeof EVENT_SHAPES)[number];
