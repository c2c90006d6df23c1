/**
 * An event before its rows are decoded. Which webhooks an event goes to is
 * known from its object, action and workspace, which cost nothing; a
 * webhook's filter needs only the fields it reads. So the rows are decoded
 * when a filter asks (only what it reads) or when a body is built (all of
 * it), and an event every filter keeps out is never decoded whole.
 */
import type { Action } from '../common/operations.js';
import type { FilterInput, FilterReads } from '../common/webhook-filter.js';
import { classifiedToEvent, decodedRows, type ChangePosition, type ClassifiedChange, type MappingOptions } from './mapping.js';
import { workspaceIdOf } from './naming.js';
import type { TwentyMetadata } from './twenty/metadata.js';
import { columnsOfKeys, shapeForTarget, shapeTwentyRows, twentyTargetOf, withoutWebhookSecret, type TwentyTarget } from './twenty/shape.js';
import type { ChangeEvent } from './types.js';
import type { TypeCatalog } from './values.js';

export interface PendingEvent {
  readonly id: string;
  /** As the event shows it (Twenty's object name with Twenty's metadata). */
  readonly object: string;
  readonly action: Action;
  readonly operation: string;
  readonly workspaceId: string | null;
  /** The whole event, decoded once; null when none is to be sent (Twenty sends no update that changes no sent field). */
  event(): ChangeEvent | null;
  /**
   * What a filter that reads `reads` sees of the event: those keys of its
   * records, with the values `event()` gives them. Null when no event is to
   * be sent.
   */
  filterInput(reads: FilterReads): FilterInput | null;
}

/** A streamed change, decoded as far as it is asked to be. */
export class LazyEvent implements PendingEvent {
  readonly id: string;
  readonly object: string;
  readonly action: Action;
  readonly operation: string;
  readonly workspaceId: string | null;
  private readonly target: TwentyTarget | null;
  /** undefined until decoded. */
  private decoded: ChangeEvent | null | undefined;

  /** With `metadata` (null: the `columns` shape), Twenty's shape and rules. */
  constructor(
    private readonly classified: ClassifiedChange,
    private readonly position: ChangePosition,
    private readonly mapping: MappingOptions,
    private readonly catalog: TypeCatalog,
    private readonly metadata: TwentyMetadata | null,
  ) {
    const { schema, table } = classified.change.table;
    const workspaceId = workspaceIdOf(schema, mapping);
    this.target = metadata === null ? null : twentyTargetOf(metadata, schema, table, workspaceId);
    this.id = position.id;
    this.object = this.target?.object.nameSingular ?? classified.object;
    this.action = classified.action;
    this.operation = `${this.object}.${this.action}`;
    this.workspaceId = this.target?.workspaceId ?? workspaceId;
  }

  event(): ChangeEvent | null {
    if (this.decoded === undefined) {
      const flat = classifiedToEvent(this.classified, this.position, this.mapping, this.catalog);
      const shaped = this.target === null ? flat : shapeForTarget(flat, this.target, this.metadata!);
      this.decoded = shaped === null ? null : withoutWebhookSecret(shaped);
    }
    return this.decoded;
  }

  filterInput(reads: FilterReads): FilterInput | null {
    // Twenty's updatedFields compares whole records; a filter that reads all of it needs them.
    if (this.decoded !== undefined || reads.keys === null || (this.target !== null && reads.allUpdatedFields)) return this.event();
    const keys = this.object === 'webhook' ? [...reads.keys].filter((key) => key !== 'secret') : reads.keys;
    const columns = this.target === null ? new Set(keys) : columnsOfKeys(this.target.object, keys);
    const flat = decodedRows(this.classified, this.catalog, columns);
    const { record, previousRecord, updatedFields } = this.target === null ? flat : shapeTwentyRows(this.target.object, this.action, flat);
    return { record, previousRecord, updatedFields, operation: this.operation, workspaceId: this.workspaceId };
  }
}

/** An event decoded already (a backfill's): filters see all of it. */
export function decodedEvent(event: ChangeEvent): PendingEvent {
  return { id: event.id, object: event.object, action: event.action, operation: event.operation, workspaceId: event.workspaceId, event: () => event, filterInput: () => event };
}
