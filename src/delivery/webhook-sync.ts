/**
 * Keeps the registry in line with the webhooks table, in every instance that
 * shares the state database.
 *
 * At start, the config file's webhooks are mirrored into the table as
 * read-only `config` rows (without their secret, which stays in the file),
 * then every webhook is put in the registry. After that, each change made
 * through the API or the CLI arrives as a NOTIFY on WEBHOOKS_CHANNEL and the
 * webhook is read again, so it takes effect within moments everywhere. The
 * LISTEN connection reconnects on its own and reloads everything after a
 * reconnect, since notices sent meanwhile are lost.
 *
 * A config row's definition is left to each instance's own config file; only
 * its disabled state (a 410 Gone, or an operator) is taken from a notice about
 * it, so a 410 seen by one instance stops every instance sending to it. That
 * state lasts across restarts until an operator enables the webhook again or
 * its entry in the config file changes. A config webhook that is removed (or
 * whose derived id changed with its targetUrl) leaves its waiting deliveries
 * as dead letters with reason `webhook_removed`.
 *
 * A rotated secret's overlap ends by itself: a timer reads the webhook again
 * at that moment, in every instance.
 */
import pg from 'pg';
import { v5 as uuidV5 } from 'uuid';
import type { WebhookConfig } from '../config/schema.js';
import { toWebhook, type WebhookDefinition, type WebhookRegistry } from './registry.js';
import { loggableUrl, type Logger } from '../common/log.js';
import { OperatorError } from '../common/operator-error.js';
import { webhookFieldsOf } from '../common/webhook.js';
import { inTransaction, type StateDb } from '../state/db.js';
import { SecretBoxError, type SecretBox } from '../state/secret-box.js';
import {
  countSealedSecrets,
  deleteConfigWebhooksExcept,
  findWebhook,
  listWebhooks,
  overlappingPreviousSecret,
  setWebhookDisabled,
  upsertConfigWebhooks,
  WEBHOOKS_CHANNEL,
  type NewWebhookRow,
  type WebhookChangeNotice,
  type WebhookRow,
} from '../state/webhooks.js';

/** Namespace of the ids given to config-file webhooks that do not set one; changing it changes their ids. */
const CONFIG_WEBHOOK_NAMESPACE = 'a8a3f0c4-2f8e-4d8e-9a53-0b6f0f7e6c1d';
/** setTimeout's limit; a later expiry is checked again when this one fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export function configWebhookId(entry: WebhookConfig): string {
  return entry.id ?? uuidV5(entry.targetUrl, CONFIG_WEBHOOK_NAMESPACE);
}

/** Stored webhooks the daemon cannot use: it refuses to start rather than run without them. */
/** The stored webhooks cannot be read as they are (a secret missing, or sealed with another key). */
export class StoredWebhooksError extends OperatorError {
  override readonly name = 'StoredWebhooksError';
  readonly code = 'STORED_WEBHOOKS';
}

export interface WebhookSyncOptions {
  /** The state database, for the LISTEN connection. */
  connectionString: string;
  configWebhooks: readonly WebhookConfig[];
  /** null when encryptionKey is not set. */
  secretBox: SecretBox | null;
  logger: Logger;
  reconnect?: { minDelayMs: number; maxDelayMs: number };
}

export interface ApiWebhookState {
  definition: WebhookDefinition;
  /** When the definition changes by itself (the previous secret stops signing), or null. */
  changesAt: Date | null;
}

/** A stored API webhook as the registry holds it at `now`: the previous secret signs only until it expires. */
export function apiWebhookDefinition(row: WebhookRow, secretBox: SecretBox, now: Date): ApiWebhookState {
  if (row.secretSealed === null) throw new StoredWebhooksError(`webhook ${row.id} has no secret`);
  const open = (sealed: string) => {
    try {
      return secretBox.open(sealed, row.id);
    } catch (error) {
      if (!(error instanceof SecretBoxError)) throw error;
      throw new StoredWebhooksError(
        `cannot decrypt the secret of webhook ${row.id}: ${error.message}. Set encryptionKey ` +
          '(WALHOOK_ENCRYPTION_KEY) to the key the secrets were encrypted with.',
      );
    }
  };
  const previous = overlappingPreviousSecret(row, now);
  const secrets = [open(row.secretSealed), ...(previous ? [open(previous.sealed)] : [])];
  return {
    definition: { id: row.id, ...webhookFieldsOf(row), secrets, source: 'api' },
    changesAt: previous?.endsAt ?? null,
  };
}

function configRow(entry: WebhookConfig): NewWebhookRow {
  return { id: configWebhookId(entry), ...webhookFieldsOf(entry), source: 'config', secretSealed: null };
}

export class WebhookSync {
  private listener: pg.Client | null = null;
  private stopped = false;
  /** Reads of the table run one at a time, so an older read never overwrites a newer one. */
  private queue: Promise<void> = Promise.resolve();
  private readonly expiryTimers = new Map<string, NodeJS.Timeout>();
  private reconnectTimer: NodeJS.Timeout | null = null;
  private reconnectDelayMs: number;

  constructor(
    private readonly db: StateDb,
    private readonly registry: WebhookRegistry,
    private readonly options: WebhookSyncOptions,
  ) {
    this.reconnectDelayMs = this.reconnectSettings.minDelayMs;
  }

  private get reconnectSettings() {
    return this.options.reconnect ?? { minDelayMs: 1000, maxDelayMs: 30_000 };
  }

  /** Mirrors the config file, fills the registry and starts listening; refuses stored webhooks it cannot sign for. */
  async start(): Promise<void> {
    await this.mirrorConfig();
    const sealed = await countSealedSecrets(this.db);
    if (sealed > 0 && !this.options.secretBox) {
      throw new StoredWebhooksError(
        `the state schema ${this.db.schemaName} holds ${sealed} webhook secret(s) encrypted at rest, and encryptionKey is not set: ` +
          'set it (environment WALHOOK_ENCRYPTION_KEY) to the key they were encrypted with; without it those webhooks cannot be signed',
      );
    }
    // Listening before reading: a change committed in between is then read twice rather than missed.
    await this.listen();
    try {
      await this.loadAll();
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  private async loadAll(): Promise<void> {
    const rows = await listWebhooks(this.db);
    const stored = new Map(rows.map((row) => [row.id, row]));
    for (const entry of this.options.configWebhooks) {
      const id = configWebhookId(entry);
      const definition: WebhookDefinition = { ...configRow(entry), secrets: [entry.secret], source: 'config' };
      const disabledReason = stored.get(id)?.disabledReason ?? null;
      this.registry.set(toWebhook(definition, disabledReason));
      this.logLoaded(id, 'config');
      if (disabledReason) {
        this.options.logger.warn(
          { webhookId: id, reason: disabledReason },
          'config webhook stays disabled: its events are dead-lettered (webhook_disabled) until it is enabled again ' +
            '(updateWebhook with enabled: true, or `walhook webhooks update --id ID --enable`) or its entry in the config file changes',
        );
      }
    }
    for (const row of rows) {
      if (row.source === 'api') this.apply(row, new Date());
    }
  }

  /** A config webhook's disabled state, as another instance or an operator just set it. */
  private applyConfigState(row: WebhookRow): boolean {
    const current = this.registry.get(row.id);
    if (current?.source !== 'config' || current.disabledReason === row.disabledReason) return false;
    this.registry.set(toWebhook(current, row.disabledReason));
    this.options.logger.info({ webhookId: row.id, disabled: row.disabledReason }, row.disabledReason ? 'webhook disabled' : 'webhook enabled');
    return true;
  }

  /** Reads one webhook again and applies it; resolves once applied. */
  refresh(id: string): Promise<void> {
    return this.enqueue(async () => {
      const row = await findWebhook(this.db, id);
      if (!row) {
        if (this.registry.get(id)?.source === 'api') this.forget(id);
      } else if (row.source === 'config') {
        this.applyConfigState(row);
      } else if (this.applyOrKeep(row)) {
        this.options.logger.info({ webhookId: id, signingSecrets: this.registry.get(id)?.secrets.length }, 'webhook changed');
      }
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    for (const timer of this.expiryTimers.values()) clearTimeout(timer);
    this.expiryTimers.clear();
    const listener = this.listener;
    this.listener = null;
    await listener?.end().catch(() => undefined);
    await this.queue;
  }

  private async mirrorConfig(): Promise<void> {
    const rows = this.options.configWebhooks.map(configRow);
    const removed = await inTransaction(this.db, async (client) => {
      const clashes = (await listWebhooks(this.db, client)).filter(
        (row) => row.source === 'api' && rows.some((entry) => entry.id === row.id),
      );
      if (clashes.length > 0) {
        throw new StoredWebhooksError(
          `webhook id(s) ${clashes.map((row) => row.id).join(', ')} of the config file belong to webhooks created through the API; give the config entries other ids`,
        );
      }
      const edited = await upsertConfigWebhooks(this.db, client, rows);
      // An edited entry is the operator's answer to whatever disabled it (a 410 Gone, typically a moved receiver).
      for (const id of edited) await setWebhookDisabled(this.db, client, id, null);
      return deleteConfigWebhooksExcept(this.db, client, rows.map((row) => row.id));
    });
    for (const { id, setAside } of removed) {
      this.options.logger.warn(
        { webhookId: id, deadLettered: setAside },
        setAside > 0
          ? 'webhook no longer in the config file: removed, its waiting deliveries dead-lettered (webhook_removed); ' +
              'give config webhooks an `id:` so that editing targetUrl keeps them'
          : 'webhook no longer in the config file: removed',
      );
    }
  }

  private enqueue(work: () => Promise<void>): Promise<void> {
    this.queue = this.queue.then(work).catch((error: unknown) => {
      this.options.logger.error({ err: error }, 'could not read webhooks from the state table');
    });
    return this.queue;
  }

  /** At start a secret that does not decrypt stops everything; later it is logged and the webhook kept as it was. */
  private apply(row: WebhookRow, now: Date): void {
    const { definition, changesAt } = apiWebhookDefinition(row, this.requireSecretBox(), now);
    const known = this.registry.get(row.id) !== undefined;
    this.registry.set(toWebhook(definition, row.disabledReason));
    this.scheduleChange(row.id, changesAt, now);
    if (!known) this.logLoaded(row.id, 'api');
  }

  /** Returns false when the change could not be applied (logged). */
  private applyOrKeep(row: WebhookRow): boolean {
    try {
      this.apply(row, new Date());
      return true;
    } catch (error) {
      if (!(error instanceof StoredWebhooksError)) throw error;
      this.options.logger.error({ webhookId: row.id, err: error }, 'webhook change not applied');
      return false;
    }
  }

  private forget(id: string): void {
    this.registry.remove(id);
    this.scheduleChange(id, null, new Date());
    this.options.logger.info({ webhookId: id }, 'webhook removed');
  }

  private requireSecretBox(): SecretBox {
    if (!this.options.secretBox) {
      throw new StoredWebhooksError('a webhook with an encrypted secret was stored, and encryptionKey is not set on this instance');
    }
    return this.options.secretBox;
  }

  private scheduleChange(id: string, at: Date | null, now: Date): void {
    const existing = this.expiryTimers.get(id);
    if (existing) clearTimeout(existing);
    this.expiryTimers.delete(id);
    if (at === null || this.stopped) return;
    const delay = Math.min(Math.max(at.getTime() - now.getTime(), 0), MAX_TIMER_MS);
    const timer = setTimeout(() => {
      this.expiryTimers.delete(id);
      void this.refresh(id);
    }, delay);
    timer.unref();
    this.expiryTimers.set(id, timer);
  }

  private logLoaded(id: string, source: 'config' | 'api'): void {
    const webhook = this.registry.get(id);
    this.options.logger.info(
      { webhookId: id, source, target: webhook ? loggableUrl(webhook.targetUrl) : undefined, operations: webhook?.operations, disabled: webhook?.disabledReason },
      'webhook loaded',
    );
  }

  private async listen(): Promise<void> {
    const client = new pg.Client({ connectionString: this.options.connectionString, application_name: 'walhook-listen' });
    client.on('notification', (message) => this.onNotification(message.payload));
    const lost = (error?: Error) => {
      // Before it listens, a lost connection fails connect() or LISTEN below instead.
      if (this.listener !== client) return;
      this.listener = null;
      void client.end().catch(() => undefined);
      this.options.logger.warn({ err: error }, 'lost the connection that listens for webhook changes; reconnecting');
      this.scheduleReconnect();
    };
    client.on('error', lost);
    client.on('end', () => lost());
    try {
      await client.connect();
      await client.query(`LISTEN ${client.escapeIdentifier(WEBHOOKS_CHANNEL)}`);
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
    if (this.stopped) {
      await client.end().catch(() => undefined);
      return;
    }
    this.listener = client;
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    const { maxDelayMs } = this.reconnectSettings;
    const delay = this.reconnectDelayMs;
    this.reconnectDelayMs = Math.min(delay * 2, maxDelayMs);
    this.reconnectTimer = setTimeout(() => {
      this.listen().then(
        () => {
          this.reconnectDelayMs = this.reconnectSettings.minDelayMs;
          this.options.logger.info('listening for webhook changes again');
          return this.reloadAll();
        },
        (error: unknown) => {
          this.options.logger.warn({ err: error, retryInMs: this.reconnectDelayMs }, 'could not reconnect to listen for webhook changes');
          this.scheduleReconnect();
        },
      );
    }, delay);
    this.reconnectTimer.unref();
  }

  private onNotification(payload: string | undefined): void {
    let notice: Partial<WebhookChangeNotice>;
    try {
      notice = JSON.parse(payload ?? '') as Partial<WebhookChangeNotice>;
    } catch {
      return;
    }
    if (notice.schema === this.db.schemaName && typeof notice.id === 'string') void this.refresh(notice.id);
  }

  /** After a reconnect: notices sent while disconnected are lost, so everything is read again. */
  private reloadAll(): Promise<void> {
    return this.enqueue(async () => {
      const rows = await listWebhooks(this.db);
      const apiIds = new Set(rows.filter((row) => row.source === 'api').map((row) => row.id));
      for (const row of rows) {
        if (row.source === 'api') this.applyOrKeep(row);
        else this.applyConfigState(row);
      }
      for (const webhook of this.registry.all()) {
        if (webhook.source === 'api' && !apiIds.has(webhook.id)) this.forget(webhook.id);
      }
    });
  }
}
