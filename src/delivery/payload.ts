/**
 * The POST body of a webhook, in the format chosen per webhook (README.md
 * "Payload formats"):
 *
 * - `record` (default; Twenty's webhook docs): `{id, workspaceId, webhookId,
 *   operation, timestamp, record, previousRecord, updatedFields}`, plus
 *   `unavailableFields` when some column could not be sent.
 * - `event` (Twenty's user docs): `{event, data, timestamp}`; the delivery id
 *   travels in the `webhook-id` header.
 * - `twenty`: what Twenty's server sends, for drop-in receivers. Field names,
 *   order and content follow twentyhq/twenty's `CallWebhookJobData` (in
 *   `core-modules/webhook/jobs/call-webhook.job.ts`) and
 *   `transform-event-to-webhook-event.ts`: `record` is the row after the
 *   change, else the row before; `updatedFields` only when the event has it.
 *   `objectMetadata.id` is the object's core."objectMetadata" row when the
 *   record was shaped from Twenty's metadata. `userId`/`workspaceMemberId`
 *   (newer Twenty, `transform-event-batch-to-webhook-events.ts`) come from the
 *   row's createdBy/updatedBy actor and are left out when unknown, as
 *   `JSON.stringify` leaves out Twenty's undefined ones. `eventDate` is the
 *   commit time in milliseconds, as a JS Date prints (Twenty uses its dispatch
 *   time), so that a stored body stays the same across retries.
 *
 * An event's JSON is serialised once by `prepareEventJson` and shared by every
 * webhook that gets it; `renderBody` only stringifies the few per-webhook
 * fields and splices the pieces together. The result is byte for byte what
 * `JSON.stringify` of the envelope object gives, and therefore unchanged by
 * `JSON.stringify(JSON.parse(body))`: receivers that follow Twenty's Node
 * recipe re-serialise the parsed body before checking the signature.
 */
import type { PayloadFormat } from '../common/webhook.js';
import { nameBasedUuid, uuidBytes } from '../events/event-id.js';
import type { ChangeEvent } from '../events/types.js';

/**
 * How deep the values of a record may nest and still be sent. JSON.stringify
 * recurses, so whether V8's stack holds a deeper value depends on how deep the
 * stack already is when it is called: without a fixed limit the same row could
 * be set aside on one pass and delivered on the next. Twenty's deepest values
 * (composites, rich text) nest a handful of levels.
 */
export const MAX_NESTING_DEPTH = 1_000;

/** Whether `value` nests more than `limit` levels of objects and arrays (a flat record is 1). Iterative: it must not itself run out of stack. */
export function nestsDeeperThan(value: unknown, limit: number): boolean {
  const pending: Array<{ value: object; depth: number }> = [];
  if (value !== null && typeof value === 'object') pending.push({ value, depth: 1 });
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    if (next.depth > limit) return true;
    for (const child of Object.values(next.value)) {
      if (child !== null && typeof child === 'object') pending.push({ value: child as object, depth: next.depth + 1 });
    }
  }
  return false;
}

/** What of a webhook the body depends on. */
export interface WebhookTarget {
  id: string;
  targetUrl: string;
  format: PayloadFormat;
}

/** JSON text of each event-level value of a body. */
export interface PreparedEvent {
  readonly operation: string;
  readonly workspaceId: string;
  readonly commitTime: string;
  readonly record: string;
  readonly previousRecord: string;
  /** null when the event has none (not an update). */
  readonly updatedFields: string | null;
  /** null when every column was available. */
  readonly unavailableFields: string | null;
  /** The members only the `twenty` format has, built the first time a body needs them. */
  twenty(): TwentyMembers;
}

/** JSON text of the `twenty` format's own members. */
export interface TwentyMembers {
  /** `{id, nameSingular}` */
  readonly objectMetadata: string;
  /** The commit time with millisecond precision. */
  readonly eventDate: string;
  /** null leaves them out. */
  readonly userId: string | null;
  readonly workspaceMemberId: string | null;
}

/**
 * Namespace of the name-based UUIDs sent as `objectMetadata.id` when the
 * record was not shaped from Twenty's metadata (a database without it): a
 * UUIDv5 of workspace and object name is stable across restarts and replicas
 * and differs per workspace as Twenty's does, but is not Twenty's id.
 */
const OBJECT_METADATA_NAMESPACE = uuidBytes('168b36f4-63bb-4811-9802-36e1f4c1da28');

/** Name → id: the same few objects come back with every event. Emptied when it grows past the bound. */
const objectMetadataIds = new Map<string, string>();
const MAX_OBJECT_METADATA_IDS = 10_000;

function objectMetadataId(workspaceId: string | null, object: string): string {
  const name = `${workspaceId ?? ''}/${object}`;
  let id = objectMetadataIds.get(name);
  if (id === undefined) {
    if (objectMetadataIds.size >= MAX_OBJECT_METADATA_IDS) objectMetadataIds.clear();
    id = nameBasedUuid(name, OBJECT_METADATA_NAMESPACE);
    objectMetadataIds.set(name, id);
  }
  return id;
}

function twentyMembers(event: ChangeEvent): TwentyMembers {
  return {
    objectMetadata: JSON.stringify({
      id: event.twenty?.objectMetadataId ?? objectMetadataId(event.workspaceId, event.object),
      nameSingular: event.object,
    }),
    eventDate: JSON.stringify(toMilliseconds(event)),
    userId: event.twenty?.userId === undefined ? null : JSON.stringify(event.twenty.userId),
    workspaceMemberId: event.twenty?.workspaceMemberId === undefined ? null : JSON.stringify(event.twenty.workspaceMemberId),
  };
}

export function prepareEventJson(event: ChangeEvent): PreparedEvent {
  let twenty: TwentyMembers | undefined;
  return {
    operation: JSON.stringify(event.operation),
    workspaceId: JSON.stringify(event.workspaceId),
    commitTime: JSON.stringify(event.commitTime),
    record: JSON.stringify(event.record),
    previousRecord: JSON.stringify(event.previousRecord),
    updatedFields: event.updatedFields === null ? null : JSON.stringify(event.updatedFields),
    unavailableFields: event.unavailableFields.length === 0 ? null : JSON.stringify(event.unavailableFields),
    twenty: () => (twenty ??= twentyMembers(event)),
  };
}

/** `…:00.123456Z` → `…:00.123Z`: what `new Date(…).toISOString()` gives on Twenty's side. */
function toMilliseconds({ commitTime, commitTimeMs }: Pick<ChangeEvent, 'commitTime' | 'commitTimeMs'>): string {
  return Number.isNaN(commitTimeMs) ? commitTime : new Date(commitTimeMs).toISOString();
}

/** `,"key":json`, or nothing when `json` is null (the key left out, as JSON.stringify leaves out an undefined member). */
function optional(key: string, json: string | null): string {
  return json === null ? '' : `,"${key}":${json}`;
}

/**
 * The bodies are spliced from JSON texts in one template each, with no
 * intermediate arrays: this runs once per delivery. Keys are literal ASCII, so
 * they need no escaping; a body's first member is always present.
 */
export function renderBody(event: PreparedEvent, webhook: WebhookTarget, deliveryId: string): string {
  switch (webhook.format) {
    case 'record':
      return (
        `{"id":${JSON.stringify(deliveryId)},"workspaceId":${event.workspaceId},"webhookId":${JSON.stringify(webhook.id)}` +
        `,"operation":${event.operation},"timestamp":${event.commitTime},"record":${event.record},"previousRecord":${event.previousRecord}` +
        `,"updatedFields":${event.updatedFields ?? 'null'}${optional('unavailableFields', event.unavailableFields)}}`
      );
    case 'event':
      return `{"event":${event.operation},"data":${event.record},"timestamp":${event.commitTime}}`;
    case 'twenty': {
      const twenty = event.twenty();
      return (
        `{"targetUrl":${JSON.stringify(webhook.targetUrl)},"eventName":${event.operation},"objectMetadata":${twenty.objectMetadata}` +
        `,"workspaceId":${event.workspaceId},"webhookId":${JSON.stringify(webhook.id)},"eventDate":${twenty.eventDate}` +
        `${optional('userId', twenty.userId)}${optional('workspaceMemberId', twenty.workspaceMemberId)},"record":${event.record}` +
        `${optional('updatedFields', event.updatedFields)}}`
      );
    }
  }
}

/** Size on the wire, for the payload limit. */
export function payloadBytes(body: string): number {
  return Buffer.byteLength(body, 'utf8');
}
