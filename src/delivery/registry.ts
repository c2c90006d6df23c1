/**
 * The webhooks the pipeline routes to. Definitions are immutable: a change
 * replaces the object, so deliveries already routed keep the definition they
 * were routed with. Config-file webhooks and (later) API ones share it.
 */
import { validateOperations, type Action } from '../common/operations.js';
import { compileOperations, compileTwentyOperations, matchesOperation, type OperationMatcher } from '../events/matching.js';
import type { WebhookFields, WebhookSource } from '../common/webhook.js';
import { changedFieldsReads, combinedReads, compileFilter, type CompiledFilter, type FilterReads } from '../common/webhook-filter.js';

export interface WebhookDefinition extends WebhookFields {
  id: string;
  /** Active secrets, newest first (two during a rotation overlap). */
  secrets: string[];
  source: WebhookSource;
}

export interface Webhook extends WebhookDefinition {
  readonly matcher: OperationMatcher;
  /** `filter` compiled once, when the definition is loaded; null without one. */
  readonly compiledFilter: CompiledFilter | null;
  /** What its `changedFields` and `filter` read of an event; null when it has neither and takes every event whole. */
  readonly filterReads: FilterReads | null;
  /** Why it no longer receives deliveries (e.g. the receiver answered 410 Gone), or null. */
  readonly disabledReason: string | null;
}

export function toWebhook(definition: WebhookDefinition, disabledReason: string | null = null): Webhook {
  const compiledFilter = definition.filter == null ? null : compileFilter(definition.filter);
  return Object.freeze({
    ...definition,
    matcher:
      definition.source === 'twenty'
        ? compileTwentyOperations(definition.operations)
        : compileOperations(validateOperations(definition.operations)),
    compiledFilter,
    filterReads: readsOf(compiledFilter, definition.changedFields ?? []),
    disabledReason,
  });
}

/** A filter that does not compile fails on every event, reading nothing. */
function readsOf(filter: CompiledFilter | null, changedFields: readonly string[]): FilterReads | null {
  const fromFilter = filter === null ? null : 'reads' in filter ? filter.reads : { keys: new Set<string>(), allUpdatedFields: false };
  const fromChangedFields = changedFields.length === 0 ? null : changedFieldsReads(changedFields);
  if (fromFilter === null || fromChangedFields === null) return fromFilter ?? fromChangedFields;
  return combinedReads(fromFilter, fromChangedFields);
}

export class WebhookRegistry {
  private readonly webhooks = new Map<string, Webhook>();
  /** operation → webhooks matching it; rebuilt lazily after any change. */
  private readonly routes = new Map<string, Webhook[]>();
  /** The enabled webhooks' ids, asked by flow control once per task; rebuilt lazily after any change. */
  private enabled: readonly string[] | null = null;

  constructor(private readonly onChange: (webhook: Webhook, removed: boolean) => void = () => undefined) {}

  get(id: string): Webhook | undefined {
    return this.webhooks.get(id);
  }

  all(): Webhook[] {
    return [...this.webhooks.values()];
  }

  enabledIds(): readonly string[] {
    this.enabled ??= this.all()
      .filter((webhook) => webhook.disabledReason === null)
      .map((webhook) => webhook.id);
    return this.enabled;
  }

  set(webhook: Webhook): void {
    this.webhooks.set(webhook.id, webhook);
    this.routes.clear();
    this.enabled = null;
    this.onChange(webhook, false);
  }

  remove(id: string): void {
    const webhook = this.webhooks.get(id);
    if (!webhook) return;
    this.webhooks.delete(id);
    this.routes.clear();
    this.enabled = null;
    this.onChange(webhook, true);
  }

  disable(id: string, reason: string): Webhook | undefined {
    const webhook = this.webhooks.get(id);
    if (!webhook) return undefined;
    const disabled = Object.freeze({ ...webhook, disabledReason: reason });
    this.set(disabled);
    return disabled;
  }

  /**
   * Webhooks whose operations match, disabled ones too: what they would have received is recorded, not dropped.
   * With `workspaceId`, only those whose workspace scope lets the event in.
   */
  match(object: string, action: Action, workspaceId?: string | null): readonly Webhook[] {
    const operation = `${object}.${action}`;
    let matched = this.routes.get(operation);
    if (!matched) {
      matched = this.all().filter((w) => matchesOperation(w.matcher, object, action));
      this.routes.set(operation, matched);
    }
    return workspaceId === undefined ? matched : inWorkspace(matched, workspaceId);
  }
}

/** Of webhooks matched by operation, those whose workspace scope lets an event of `workspaceId` in. */
export function inWorkspace(matched: readonly Webhook[], workspaceId: string | null): readonly Webhook[] {
  if (matched.every((w) => w.workspaceId == null)) return matched;
  return matched.filter((w) => w.workspaceId == null || w.workspaceId === workspaceId);
}
