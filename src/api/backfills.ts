/**
 * Backfill requests behind the GraphQL API and the CLI: check the input,
 * write the request or the command to the state table (the leader's runner
 * picks it up), and answer with views.
 */
import { validate as isUuid } from 'uuid';
import {
  commandBackfill,
  getBackfill,
  insertBackfill,
  listBackfills,
  type BackfillAction,
  type BackfillCommand,
  type BackfillRow,
} from '../state/backfills.js';
import type { StateDb } from '../state/db.js';
import { findWebhook } from '../state/webhooks.js';
import { badUserInput, ManagementError } from './errors.js';

export interface StartBackfillInput {
  object: string;
  webhookId?: string | null;
  where?: string | null;
  rate?: number | null;
  /** `backfilled` (default) or `created`. */
  action?: string | null;
}

export interface BackfillView {
  id: string;
  object: string;
  webhookId: string | null;
  where: string | null;
  rate: number | null;
  action: BackfillAction;
  status: BackfillRow['status'];
  rowsTotal: number | null;
  rowsRead: number;
  rowsSent: number;
  rowsSuperseded: number;
  chunks: number;
  tables: string[];
  error: string | null;
  createdAt: string;
  updatedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

export function backfillView(row: BackfillRow): BackfillView {
  return {
    id: row.id,
    object: row.object,
    webhookId: row.webhookId,
    where: row.whereSql,
    rate: row.rate,
    action: row.action,
    status: row.status,
    rowsTotal: row.rowsTotal,
    rowsRead: row.rowsRead,
    rowsSent: row.rowsSent,
    rowsSuperseded: row.rowsSuperseded,
    chunks: row.chunks,
    tables: (row.tables ?? []).map((table) => `${table.schema}.${table.table}`),
    error: row.error,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
    startedAt: row.startedAt?.toISOString() ?? null,
    finishedAt: row.finishedAt?.toISOString() ?? null,
  };
}

const ACTIONS: readonly BackfillAction[] = ['backfilled', 'created'];

export interface BackfillHooks {
  /** The objects in source scope; absent (CLI): the runner reports an unknown object when it claims the backfill. */
  objectsInScope?(): Promise<string[]>;
  /** A backfill was requested here: the local runner can start without waiting for its poll. */
  backfillRequested?(): void;
  /** Why no runner would ever take a backfill requested here; absent when one would. */
  unavailable?: string;
}

export class BackfillManagement {
  constructor(
    private readonly db: StateDb,
    private readonly hooks: BackfillHooks = {},
  ) {}

  async start(input: StartBackfillInput): Promise<BackfillView> {
    if (this.hooks.unavailable !== undefined) throw new ManagementError('FAILED_PRECONDITION', this.hooks.unavailable);
    const object = input.object.trim();
    if (object === '') throw badUserInput('object', 'an object name such as person is required');
    const objects = await this.hooks.objectsInScope?.();
    if (objects && !objects.includes(object)) {
      throw badUserInput('object', `no table in source scope is object ${JSON.stringify(object)}; known: ${[...new Set(objects)].sort().join(', ')}`);
    }
    const webhookId = input.webhookId ?? null;
    if (webhookId !== null && (!isUuid(webhookId) || !(await findWebhook(this.db, webhookId.toLowerCase())))) {
      throw badUserInput('webhookId', `no webhook with id ${JSON.stringify(webhookId)}`);
    }
    const rate = input.rate ?? null;
    if (rate !== null && (!Number.isSafeInteger(rate) || rate < 1)) throw badUserInput('rate', 'rows per second as a whole number of at least 1');
    const action = (input.action ?? 'backfilled') as BackfillAction;
    if (!ACTIONS.includes(action)) throw badUserInput('action', `one of ${ACTIONS.join(', ')}`);
    const where = input.where?.trim() || null;
    const row = await insertBackfill(this.db, { object, webhookId: webhookId?.toLowerCase() ?? null, whereSql: where, rate, action });
    this.hooks.backfillRequested?.();
    return backfillView(row);
  }

  async list(): Promise<BackfillView[]> {
    return (await listBackfills(this.db)).map(backfillView);
  }

  async get(id: string): Promise<BackfillView | null> {
    if (!isUuid(id)) return null;
    const row = await getBackfill(this.db, id.toLowerCase());
    return row && backfillView(row);
  }

  async command(id: string, command: BackfillCommand): Promise<BackfillView> {
    const result = isUuid(id) ? await commandBackfill(this.db, id.toLowerCase(), command) : null;
    if (!result) throw new ManagementError('NOT_FOUND', `no backfill with id ${JSON.stringify(id)}`);
    if (result.refused) throw new ManagementError('FAILED_PRECONDITION', `cannot ${command} a backfill that is ${result.row.status}`);
    if (command === 'resume') this.hooks.backfillRequested?.();
    return backfillView(result.row);
  }
}
