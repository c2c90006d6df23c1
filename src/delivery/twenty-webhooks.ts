/**
 * The webhooks people make in Twenty's UI (Settings → APIs & Webhooks), served
 * by walhook (`twenty.webhooks: true`).
 *
 * From twentyhq/twenty (packages/twenty-server/src/engine/core-modules/webhook):
 * since mid-2025 they are rows of `core.webhook` (webhook.entity.ts: `id`,
 * `targetUrl`, `operations text[]` default `{*.*}`, `description`, `secret`
 * in clear text, `workspaceId`, `deletedAt` for soft deletes); older versions
 * keep a `webhook` table in each workspace schema with the same columns but
 * no `workspaceId`. Twenty sends each one the events of its own workspace,
 * in its format (call-webhook.job.ts), signed with the stored secret only
 * when there is one.
 *
 * Twenty announces no change of these rows, so they are read every
 * `twenty.refreshInterval`. Each read puts the live ones in the registry and
 * mirrors them into walhook's webhooks table as read-only `twenty` rows
 * (without the secret, which stays in Twenty's table), so the API, the CLI
 * and the console list them.
 */
import type pg from 'pg';
import { toWebhook, type WebhookDefinition, type WebhookRegistry } from './registry.js';
import { workspaceIdOf, type NamingOptions } from '../events/naming.js';
import { loggableUrl, type Logger } from '../common/log.js';
import { inTransaction, type StateDb } from '../state/db.js';
import { deleteConfigWebhooksExcept, upsertConfigWebhooks, type NewWebhookRow } from '../state/webhooks.js';

interface TwentyWebhookRow {
  id: string;
  targetUrl: string;
  operations: string[] | null;
  description: string | null;
  secret: string | null;
  workspaceId: string | null;
}

/** Where Twenty keeps its webhooks in this database. */
export type TwentyWebhookTables = { kind: 'core' } | { kind: 'legacy'; schemas: string[] } | { kind: 'none' };

export async function detectWebhookTables(client: Pick<pg.ClientBase, 'query'>, schemaPatterns: RegExp[]): Promise<TwentyWebhookTables> {
  const core = await client.query<{ found: boolean }>(`SELECT to_regclass('core.webhook') IS NOT NULL AS found`);
  if (core.rows[0]?.found) return { kind: 'core' };
  const { rows } = await client.query<{ schema: string }>(
    `SELECT c.table_schema AS schema FROM information_schema.columns c
      WHERE c.table_name = 'webhook' AND c.column_name = 'targetUrl' ORDER BY 1`,
  );
  const schemas = rows.map((row) => row.schema).filter((schema) => schemaPatterns.some((pattern) => pattern.test(schema)));
  return schemas.length === 0 ? { kind: 'none' } : { kind: 'legacy', schemas };
}

const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;

async function readWebhooks(
  client: Pick<pg.ClientBase, 'query'>,
  tables: TwentyWebhookTables,
  workspaceOfSchema: (schema: string) => string | null,
): Promise<TwentyWebhookRow[]> {
  if (tables.kind === 'none') return [];
  if (tables.kind === 'core') {
    const { rows } = await client.query<TwentyWebhookRow>(
      `SELECT id, "targetUrl", operations, description, secret, "workspaceId"::text AS "workspaceId"
         FROM core.webhook WHERE "deletedAt" IS NULL ORDER BY "createdAt", id`,
    );
    return rows;
  }
  const rows: TwentyWebhookRow[] = [];
  for (const schema of tables.schemas) {
    const { rows: found } = await client.query<Omit<TwentyWebhookRow, 'workspaceId'>>(
      `SELECT id, "targetUrl", operations, description, secret FROM ${quote(schema)}.webhook WHERE "deletedAt" IS NULL ORDER BY "createdAt", id`,
    );
    for (const row of found) rows.push({ ...row, workspaceId: workspaceOfSchema(schema) });
  }
  return rows;
}

/** A Twenty webhook as walhook serves it: Twenty's format, Twenty's headers, its workspace only. */
export function twentyWebhookDefinition(row: TwentyWebhookRow): WebhookDefinition {
  const secret = row.secret ?? '';
  return {
    id: row.id,
    targetUrl: row.targetUrl,
    operations: row.operations ?? ['*.*'],
    description: row.description ?? '',
    format: 'twenty',
    // Twenty signs only when the webhook has a secret.
    signatures: secret === '' ? [] : ['twenty-legacy'],
    secrets: secret === '' ? [] : [secret],
    source: 'twenty',
    workspaceId: row.workspaceId,
  };
}

function mirrorRow(definition: WebhookDefinition): NewWebhookRow {
  const { id, targetUrl, operations, description, format, signatures, workspaceId } = definition;
  return { id, targetUrl, operations, description, format, signatures, workspaceId, source: 'twenty', secretSealed: null };
}

/** What a change of the row changes: a new definition replaces the old one only when this differs. */
function fingerprint(definition: WebhookDefinition): string {
  return JSON.stringify([definition.targetUrl, definition.operations, definition.description, definition.secrets, definition.workspaceId]);
}

export interface TwentyWebhookSourceOptions {
  intervalMs: number;
  /** Schemas in scope, for the legacy per-workspace tables. */
  schemaPatterns: RegExp[];
  naming: NamingOptions;
  logger: Logger;
}

export class TwentyWebhookSource {
  private timer: NodeJS.Timeout | null = null;
  private readonly known = new Map<string, string>();
  private tables: TwentyWebhookTables | null = null;
  private reading: Promise<void> | null = null;

  constructor(
    private readonly crm: pg.Pool,
    private readonly state: StateDb,
    private readonly registry: WebhookRegistry,
    private readonly options: TwentyWebhookSourceOptions,
  ) {}

  /** Reads them once (a failure here stops the start), then follows them. */
  async start(): Promise<void> {
    await this.read();
    this.timer = setInterval(() => {
      this.refresh().catch((error: unknown) => this.options.logger.warn({ err: error }, "could not read Twenty's webhooks; keeping the last known"));
    }, this.options.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.reading?.catch(() => undefined);
  }

  /** Reads Twenty's webhooks now (one read at a time). */
  refresh(): Promise<void> {
    this.reading ??= this.read().finally(() => (this.reading = null));
    return this.reading;
  }

  private async read(): Promise<void> {
    const { logger, schemaPatterns, naming } = this.options;
    if (this.tables === null || this.tables.kind !== 'core') {
      const detected = await detectWebhookTables(this.crm, schemaPatterns);
      if (this.tables === null || detected.kind !== this.tables.kind) {
        logger.info(
          { tables: detected.kind, schemas: detected.kind === 'legacy' ? detected.schemas : undefined },
          detected.kind === 'none' ? "no Twenty webhook table found (core.webhook or a workspace's webhook): none served" : "serving the webhooks made in Twenty's UI",
        );
      }
      this.tables = detected;
    }
    const dataSources = await this.crm
      .query<{ schema: string; workspaceId: string }>(`SELECT schema, "workspaceId"::text AS "workspaceId" FROM core."dataSource"`)
      .then(({ rows }) => new Map(rows.map((row) => [row.schema, row.workspaceId])))
      .catch(() => new Map<string, string>());
    const rows = await readWebhooks(this.crm, this.tables, (schema) => dataSources.get(schema) ?? workspaceIdOf(schema, naming));
    const definitions = rows.map(twentyWebhookDefinition);
    await inTransaction(this.state, async (client) => {
      await upsertConfigWebhooks(this.state, client, definitions.map(mirrorRow), 'twenty');
      await deleteConfigWebhooksExcept(this.state, client, definitions.map((d) => d.id), 'twenty');
    });
    const seen = new Set<string>();
    for (const definition of definitions) {
      seen.add(definition.id);
      const print = fingerprint(definition);
      if (this.known.get(definition.id) === print) continue;
      const existing = this.registry.get(definition.id);
      if (existing && existing.source !== 'twenty') {
        logger.error({ webhookId: definition.id }, "a webhook made in Twenty's UI has the id of a walhook webhook; not served");
        continue;
      }
      this.registry.set(toWebhook(definition, existing?.disabledReason ?? null));
      logger.info(
        { webhookId: definition.id, workspaceId: definition.workspaceId, target: loggableUrl(definition.targetUrl), operations: definition.operations, signed: definition.secrets.length > 0 },
        this.known.has(definition.id) ? "Twenty webhook changed" : "Twenty webhook loaded",
      );
      this.known.set(definition.id, print);
    }
    for (const id of [...this.known.keys()]) {
      if (seen.has(id)) continue;
      this.known.delete(id);
      this.registry.remove(id);
      logger.info({ webhookId: id }, 'Twenty webhook deleted or soft-deleted; no longer served');
    }
  }
}
