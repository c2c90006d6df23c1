/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The console's only way to the daemon: the GraphQL API at /graphql, with
 * the API token as a bearer token. The token lives in sessionStorage (this
 * tab only, never in the URL). The types come from the server's views
 * (type-only imports: nothing of the server reaches the browser).
 */
import type { RecentAttempt } from '../../../delivery/recent-attempts.js';
import type { FieldProblem } from '../../errors.js';
import type { FilterTrial, WebhookStats } from '../../management.js';
import type { WebhookFieldsInput } from '../../validation.js';
import type { DeliveryView, PartitionView, WebhookView } from '../../views.js';

const TOKEN_KEY = 'walhook.apiToken';

export const token = {
  get: (): string | null => sessionStorage.getItem(TOKEN_KEY),
  set: (value: string): void => sessionStorage.setItem(TOKEN_KEY, value),
  clear: (): void => sessionStorage.removeItem(TOKEN_KEY),
};

/**
 * An error the API answered with: its message, `extensions.code`, and every
 * input field at fault with its reason (`extensions.fields`), when it names any.
 */
export class ApiError extends Error {
  override readonly name = 'ApiError';

  constructor(
    message: string,
    readonly code: string,
    readonly problems: readonly FieldProblem[] = [],
  ) {
    super(message);
  }

  get unauthenticated(): boolean {
    return this.code === 'UNAUTHENTICATED';
  }
}

let unauthenticated: () => void = () => undefined;

/** Called whenever the API refuses the token (wrong, or changed since sign-in). */
export function onUnauthenticated(handler: () => void): void {
  unauthenticated = handler;
}

interface GraphqlErrorBody {
  message: string;
  extensions?: { code?: string; fields?: FieldProblem[] };
}

interface GraphqlBody<Data> {
  data?: Data | null;
  errors?: GraphqlErrorBody[];
}

/** One error for the whole answer: the first error's code, and the fields of all of them. */
function apiError([first, ...rest]: [GraphqlErrorBody, ...GraphqlErrorBody[]]): ApiError {
  const problems = [first, ...rest].flatMap((error) => error.extensions?.fields ?? []);
  return new ApiError(first.message, first.extensions?.code ?? 'UNKNOWN', problems);
}

async function graphql<Data>(query: string, variables: Record<string, unknown> = {}): Promise<Data> {
  let response: Response;
  try {
    response = await fetch('/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token.get() ?? ''}` },
      body: JSON.stringify({ query, variables }),
    });
  } catch (error) {
    throw new ApiError(`walhook did not answer: ${(error as Error).message}`, 'NETWORK');
  }
  const body = (await response.json().catch(() => ({}))) as GraphqlBody<Data>;
  const [first, ...rest] = body.errors ?? [];
  if (first) {
    const error = apiError([first, ...rest]);
    if (error.unauthenticated) unauthenticated();
    throw error;
  }
  if (!response.ok || !body.data) throw new ApiError(`walhook answered HTTP ${response.status}`, 'HTTP');
  return body.data;
}

export type Webhook = Pick<
  WebhookView,
  | 'id'
  | 'targetUrl'
  | 'operations'
  | 'description'
  | 'format'
  | 'signatures'
  | 'workspaceId'
  | 'changedFields'
  | 'filter'
  | 'ordering'
  | 'maxPerSecond'
  | 'batch'
  | 'status'
  | 'disabledReason'
  | 'source'
  | 'readOnly'
  | 'createdAt'
  | 'previousSecretExpiresAt'
  | 'targetRefusal'
> & { stats: WebhookStats };

export type Delivery = Pick<DeliveryView, 'id' | 'operation' | 'state' | 'attempts' | 'lastStatus' | 'lastError' | 'deadReason' | 'nextAttemptAt'>;

export type { RecentAttempt };

interface Page {
  nodes: Delivery[];
}

export interface WebhookActivity {
  webhook: Webhook;
  recentAttempts: RecentAttempt[];
  waiting: Delivery[];
  dead: Delivery[];
}

/** What a create or edit form sends: the fields the API checks, as it names them. */
export type WebhookInput = Required<WebhookFieldsInput>;

export type { FieldProblem };

const WEBHOOK_FIELDS = `id targetUrl operations description format signatures workspaceId changedFields filter ordering maxPerSecond batch { maxEvents maxBytes linger } status disabledReason source
  readOnly createdAt
  previousSecretExpiresAt targetRefusal stats { deliveredLastHour failedLastHour waiting deadLetters failing endpointMode }`;
const DELIVERY_FIELDS = 'id operation state attempts lastStatus lastError deadReason nextAttemptAt';
/** Enough for the console's tables; older ones stay reachable through the API. */
const DELIVERIES_SHOWN = 100;

export async function listWebhooks(): Promise<Webhook[]> {
  return (await graphql<{ webhooks: Webhook[] }>(`{ webhooks { ${WEBHOOK_FIELDS} } }`)).webhooks;
}

export type { PartitionView };

/** The webhooks, and which replica streams which partition. */
export async function overview(): Promise<{ webhooks: Webhook[]; partitions: PartitionView[] }> {
  return graphql(`{ webhooks { ${WEBHOOK_FIELDS} } partitions { index slot streamedBy streamedHere lagBytes } }`);
}

export async function getWebhook(id: string): Promise<Webhook> {
  return (await graphql<{ webhook: Webhook }>(`query ($id: ID!) { webhook(id: $id) { ${WEBHOOK_FIELDS} } }`, { id })).webhook;
}

/** The webhook with its delivery log: this instance's recent attempts, and the stored deliveries still waiting or dead. */
export async function webhookActivity(id: string): Promise<WebhookActivity> {
  const data = await graphql<{ webhook: Webhook & { recentAttempts: RecentAttempt[] }; pending: Page; retrying: Page; dead: Page }>(
    `query ($id: ID!, $first: Int!) {
      webhook(id: $id) { ${WEBHOOK_FIELDS} recentAttempts(first: $first) { deliveryId attemptedAt succeeded status durationMs error } }
      pending: deliveries(webhookId: $id, status: pending, first: $first) { nodes { ${DELIVERY_FIELDS} } }
      retrying: deliveries(webhookId: $id, status: retrying, first: $first) { nodes { ${DELIVERY_FIELDS} } }
      dead: deliveries(webhookId: $id, status: dead, first: $first) { nodes { ${DELIVERY_FIELDS} } }
    }`,
    { id, first: DELIVERIES_SHOWN },
  );
  const { recentAttempts, ...webhook } = data.webhook;
  return { webhook, recentAttempts, waiting: [...data.retrying.nodes, ...data.pending.nodes], dead: data.dead.nodes };
}

/** The objects walhook streams and the actions an operation can name. */
export async function operationChoices(): Promise<{ objects: string[]; actions: string[] }> {
  return graphql('{ objects actions }');
}

/** The created webhook, with its secret (shown this once). */
export async function createWebhook(input: WebhookInput): Promise<Webhook & { secret: string }> {
  const data = await graphql<{ createWebhook: Webhook & { secret: string } }>(
    `mutation ($input: CreateWebhookInput!) { createWebhook(input: $input) { ${WEBHOOK_FIELDS} secret } }`,
    { input },
  );
  return data.createWebhook;
}

export async function updateWebhook(input: Partial<WebhookInput> & { id: string; enabled?: boolean }): Promise<Webhook> {
  const data = await graphql<{ updateWebhook: Webhook }>(
    `mutation ($input: UpdateWebhookInput!) { updateWebhook(input: $input) { ${WEBHOOK_FIELDS} } }`,
    { input },
  );
  return data.updateWebhook;
}

export type { FilterTrial };

/** How a filter not saved yet would judge the webhook's recent events, newest first. */
export async function tryFilter(webhookId: string, filter: string | null, changedFields: string[]): Promise<FilterTrial[]> {
  const data = await graphql<{ tryFilter: FilterTrial[] }>(
    `query ($webhookId: ID!, $filter: String, $changedFields: [String!]) {
      tryFilter(webhookId: $webhookId, filter: $filter, changedFields: $changedFields) { eventId operation commitTime recordId matched error }
    }`,
    { webhookId, filter, changedFields },
  );
  return data.tryFilter;
}

/**
 * Enables a disabled webhook; with `redeliverMissed`, its dead letters since it
 * began failing are sent again. The answer is the webhook: the API does not say
 * how many were sent again.
 */
export async function enableWebhook(id: string, redeliverMissed: boolean): Promise<Webhook> {
  const data = await graphql<{ enableWebhook: Webhook }>(
    `mutation ($id: ID!, $redeliverMissed: Boolean!) { enableWebhook(id: $id, redeliverMissed: $redeliverMissed) { ${WEBHOOK_FIELDS} } }`,
    { id, redeliverMissed },
  );
  return data.enableWebhook;
}

export async function deleteWebhook(id: string): Promise<void> {
  await graphql('mutation ($id: ID!) { deleteWebhook(id: $id) { id } }', { id });
}

/** The new secret (shown this once) and until when the old one still signs. */
export async function rotateSecret(id: string): Promise<{ secret: string; previousSecretExpiresAt: string | null }> {
  const data = await graphql<{ rotateWebhookSecret: { secret: string; previousSecretExpiresAt: string | null } }>(
    'mutation ($id: ID!) { rotateWebhookSecret(id: $id) { secret previousSecretExpiresAt } }',
    { id },
  );
  return data.rotateWebhookSecret;
}

export async function redeliver(deliveryId: string): Promise<void> {
  await graphql('mutation ($deliveryId: ID!) { redeliver(deliveryId: $deliveryId) { id } }', { deliveryId });
}

/** Returns how many dead letters were sent again. */
export async function redeliverDeadLetters(webhookId: string): Promise<number> {
  const data = await graphql<{ redeliverDeadLetters: number }>('mutation ($webhookId: ID!) { redeliverDeadLetters(webhookId: $webhookId) }', {
    webhookId,
  });
  return data.redeliverDeadLetters;
}

export interface BackfillProgress {
  id: string;
  object: string;
  status: 'pending' | 'running' | 'paused' | 'cancelled' | 'done' | 'failed';
  rowsTotal: number | null;
  rowsRead: number;
  rowsSent: number;
  rowsSuperseded: number;
  error: string | null;
}

const BACKFILL_FIELDS = 'id object status rowsTotal rowsRead rowsSent rowsSuperseded error';

/** Starts a backfill of `object` to one webhook, optionally of the rows matching `where`. */
export async function startBackfill(input: { object: string; webhookId: string; where: string | null }): Promise<BackfillProgress> {
  const data = await graphql<{ startBackfill: BackfillProgress }>(
    `mutation ($input: StartBackfillInput!) { startBackfill(input: $input) { ${BACKFILL_FIELDS} } }`,
    { input },
  );
  return data.startBackfill;
}

export async function backfillProgress(id: string): Promise<BackfillProgress | null> {
  const data = await graphql<{ backfill: BackfillProgress | null }>(`query ($id: ID!) { backfill(id: $id) { ${BACKFILL_FIELDS} } }`, { id });
  return data.backfill;
}
