/**
 * `walhook webhooks …` and `walhook deliveries …`: the management API's
 * operations from a shell. They go straight to the state database through the
 * same `Management` the GraphQL API uses (and its NOTIFY reaches every running
 * instance), so they work with no API reachable. Tables for people, `--json`
 * for scripts.
 */
import { managementFor } from './api/index.js';
import type { Management } from './api/management.js';
import type { DeliveryView, WebhookView } from './api/views.js';
import type { BatchInput } from './api/validation.js';
import { asOperatorError, parseCommandArgs, warnUnknownEnvVariables } from './command-line.js';
import { closestName, loadConfig } from './config/index.js';
import { OperatorError, UsageError } from './common/operator-error.js';
import { SIGNATURE_SCHEMES } from './common/verify.js';
import { PAYLOAD_FORMATS } from './common/webhook.js';
import { openStateDb } from './state/db.js';
import { migrate } from './state/migrations.js';
import { createSecretBox } from './state/secret-box.js';

const GROUP_USAGE = {
  webhooks: `  webhooks list
  webhooks create --target-url URL --operations OPS [--description TEXT] [--format F] [--signatures S]
                  [--workspace-id W] [--changed-fields FIELDS] [--filter CEL] [--ordering none|record]
                  [--max-per-second N] [--batch-max-events N] [--batch-max-bytes N] [--batch-linger D]
  webhooks update --id ID [--target-url URL] [--operations OPS] [--description TEXT] [--format F]
                  [--signatures S] [--workspace-id W] [--changed-fields FIELDS] [--filter CEL]
                  [--ordering none|record] [--max-per-second N ('' for no limit)]
                  [--batch-max-events N] [--batch-max-bytes N] [--batch-linger D] [--no-batch] [--enable | --disable]
  webhooks enable --id ID [--redeliver-missed]   (or: webhooks enable ID)
  webhooks delete --id ID
  webhooks rotate-secret --id ID`,
  deliveries: `  deliveries list [--status pending|retrying|delivered|dead] [--webhook ID] [--limit N] [--after CURSOR]
  deliveries redeliver (--id DELIVERY_ID | --dead [--webhook ID])`,
} as const;

type Group = keyof typeof GROUP_USAGE;

const ADMIN_COMMANDS: ReadonlyMap<Group, readonly string[]> = new Map<Group, readonly string[]>([
  ['webhooks', ['list', 'create', 'update', 'enable', 'delete', 'rotate-secret']],
  ['deliveries', ['list', 'redeliver']],
]);

export const ADMIN_GROUPS: readonly Group[] = [...ADMIN_COMMANDS.keys()];

/** The usage of one command group, or of both. */
export function adminUsage(group?: Group): string {
  const groups = group === undefined ? ADMIN_GROUPS : [group];
  return `Webhook commands (state database from the config; no running daemon needed):
${groups.map((name) => GROUP_USAGE[name]).join('\n')}

  -c, --config FILE   the configuration (its state database and encryptionKey)
  OPS and S are comma-separated (person.created,company.*) or the option repeated.
  F is one of ${PAYLOAD_FORMATS.join(', ')}; S of ${SIGNATURE_SCHEMES.join(', ')} (default: all).
  W: only the events of this workspace (Twenty's workspace UUID); '' for every workspace (* in the list),
  which is also what create does without it.
  --json prints JSON instead of a table. A new secret is printed once, by create and rotate-secret.
`;
}

export function isAdminCommand(command: string | undefined): command is Group {
  return command !== undefined && (ADMIN_GROUPS as readonly string[]).includes(command);
}

type Values = ReturnType<typeof parseAdminArgs>['values'];

const ADMIN_OPTIONS = {
  config: { type: 'string', short: 'c' },
  help: { type: 'boolean', short: 'h' },
  json: { type: 'boolean' },
  id: { type: 'string' },
  'target-url': { type: 'string' },
  operations: { type: 'string', multiple: true },
  description: { type: 'string' },
  format: { type: 'string' },
  signatures: { type: 'string', multiple: true },
  'workspace-id': { type: 'string' },
  'changed-fields': { type: 'string', multiple: true },
  filter: { type: 'string' },
  ordering: { type: 'string' },
  'max-per-second': { type: 'string' },
  'batch-max-events': { type: 'string' },
  'batch-max-bytes': { type: 'string' },
  'batch-linger': { type: 'string' },
  'no-batch': { type: 'boolean' },
  enable: { type: 'boolean' },
  disable: { type: 'boolean' },
  status: { type: 'string' },
  webhook: { type: 'string' },
  limit: { type: 'string' },
  after: { type: 'string' },
  dead: { type: 'boolean' },
  'redeliver-missed': { type: 'boolean' },
} as const;

function parseAdminArgs(argv: string[]) {
  return parseCommandArgs(argv, ADMIN_OPTIONS, true);
}

/** `--operations a,b --operations c` → [a, b, c]; undefined when not given. */
function list(values: string[] | undefined): string[] | undefined {
  return values?.flatMap((value) => value.split(',')).map((item) => item.trim()).filter((item) => item !== '');
}

export function required<T>(value: T | undefined, option: string): T {
  if (value === undefined) throw new UsageError(`--${option} is required`);
  return value;
}

/**
 * Runs `work` with the management of the configured state schema (migrated
 * first, as by `walhook start`), and closes the connection after it.
 */
export async function withManagement<T>(configFile: string | undefined, work: (management: Management) => Promise<T>): Promise<T> {
  const config = loadConfig({ file: configFile });
  warnUnknownEnvVariables(process.env, (_fields, message) => console.error(`walhook: warning: ${message}`));
  const state = openStateDb(config.state.databaseUrl ?? config.database.url, config.state.schema, 2);
  try {
    await migrate(state);
    const secretBox = config.encryptionKey ? createSecretBox(config.encryptionKey) : null;
    return await work(managementFor(config, state, secretBox));
  } finally {
    await state.pool.end();
  }
}

function enabledFlag(values: Values): boolean | undefined {
  if (values.enable && values.disable) throw new UsageError('--enable and --disable exclude each other');
  return values.enable ? true : values.disable ? false : undefined;
}

export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((header, column) => Math.max(header.length, ...rows.map((row) => (row[column] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) => cell.padEnd(widths[column] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

function webhookTable(webhooks: readonly WebhookView[]): string {
  return formatTable(
    ['ID', 'SOURCE', 'STATUS', 'FORMAT', 'OPERATIONS', 'WORKSPACE', 'TARGET URL', 'DESCRIPTION'],
    webhooks.map((w) => [w.id, w.source, w.status, w.format, w.operations.join(','), w.workspaceId ?? '*', w.targetUrl, w.description]),
  );
}

function deliveryTable(deliveries: readonly DeliveryView[]): string {
  return formatTable(
    ['ID', 'WEBHOOK', 'OPERATION', 'STATE', 'ATTEMPTS', 'LAST STATUS', 'LAST ERROR', 'NEXT ATTEMPT', 'CREATED'],
    deliveries.map((d) => [
      d.id,
      d.webhookId,
      d.operation,
      d.state,
      String(d.attempts),
      d.lastStatus === null ? '' : String(d.lastStatus),
      d.lastError ?? d.deadReason ?? '',
      d.nextAttemptAt ?? '',
      d.createdAt,
    ]),
  );
}

/** A webhook just made or changed, with a warning when its target will be refused. */
function changed(webhook: WebhookView, verb: string): string[] {
  const lines = [`${verb} webhook ${webhook.id}`, webhookTable([webhook])];
  if (webhook.changedFields.length > 0) lines.push(`changed fields: ${webhook.changedFields.join(', ')}`);
  if (webhook.filter !== null) lines.push(`filter: ${webhook.filter}`);
  if (webhook.targetRefusal !== null) lines.push('', `warning: deliveries will not be sent: ${webhook.targetRefusal}`);
  return lines;
}

/** A webhook just made or re-keyed, with the secret it will never show again. */
function withSecret(webhook: WebhookView, verb: string): string {
  const lines = changed(webhook, verb);
  if (webhook.secret !== null) lines.push('', `secret: ${webhook.secret}`, 'This is the only time the secret is shown: store it where the receiver can read it.');
  return lines.join('\n');
}

/** Runs one command; returns what to print (text or the value for --json). */
/**
 * --no-batch: one event per request again; any --batch-* flag: batching, the
 * fields not given keeping their current value (or default); none: unchanged.
 */
function batchFlags(values: Values): BatchInput | null | undefined {
  if (values['no-batch'] === true) return null;
  const number = (text: string | undefined) => (text === undefined ? undefined : Number(text));
  const batch = { maxEvents: number(values['batch-max-events']), maxBytes: number(values['batch-max-bytes']), linger: values['batch-linger'] };
  return Object.values(batch).every((value) => value === undefined) ? undefined : batch;
}

async function execute(management: Management, group: string, action: string, values: Values): Promise<{ json: unknown; text: string }> {
  const id = () => required(values.id, 'id');
  const webhookFields = {
    targetUrl: values['target-url'],
    operations: list(values.operations),
    description: values.description,
    format: values.format,
    signatures: list(values.signatures),
    // '' is how a shell says "none": every workspace (on update: every workspace again).
    workspaceId: values['workspace-id'] === '' ? null : values['workspace-id'],
    // Comma-separated like --operations; '' clears them (every update), as '' clears the filter (every event).
    changedFields: list(values['changed-fields']),
    filter: values.filter === '' ? null : values.filter,
    ordering: values.ordering,
    // '' lifts the limit; anything else is checked as the API checks it (a positive number).
    maxPerSecond: values['max-per-second'] === undefined ? undefined : values['max-per-second'] === '' ? null : Number(values['max-per-second']),
    batch: batchFlags(values),
  };
  switch (`${group} ${action}`) {
    case 'webhooks list': {
      const webhooks = await management.listWebhooks();
      return { json: webhooks, text: webhooks.length ? webhookTable(webhooks) : 'no webhooks' };
    }
    case 'webhooks create': {
      const webhook = await management.createWebhook({
        ...webhookFields,
        targetUrl: required(webhookFields.targetUrl, 'target-url'),
        operations: required(webhookFields.operations, 'operations'),
      });
      return { json: webhook, text: withSecret(webhook, 'created') };
    }
    case 'webhooks update': {
      const webhook = await management.updateWebhook({ ...webhookFields, id: id(), enabled: enabledFlag(values) });
      return { json: webhook, text: changed(webhook, 'updated').join('\n') };
    }
    case 'webhooks enable': {
      const webhook = await management.enableWebhook(id(), values['redeliver-missed']);
      const missed = values['redeliver-missed'] ? '\nits dead letters since it began failing are queued for redelivery' : '';
      return { json: webhook, text: changed(webhook, 'enabled').join('\n') + missed };
    }
    case 'webhooks delete': {
      const webhook = await management.deleteWebhook(id());
      return { json: { id: webhook.id }, text: `deleted webhook ${webhook.id} and its stored deliveries` };
    }
    case 'webhooks rotate-secret': {
      const webhook = await management.rotateWebhookSecret(id());
      const overlap = webhook.previousSecretExpiresAt ? `\nThe previous secret keeps signing until ${webhook.previousSecretExpiresAt}.` : '';
      return { json: webhook, text: withSecret(webhook, 'rotated the secret of') + overlap };
    }
    case 'deliveries list': {
      const page = await management.listDeliveries({
        webhookId: values.webhook,
        status: values.status,
        first: values.limit === undefined ? undefined : Number(values.limit),
        after: values.after,
      });
      const more = page.pageInfo.hasNextPage ? `\nmore: --after ${page.pageInfo.endCursor}` : '';
      return { json: page, text: (page.nodes.length ? deliveryTable(page.nodes) : 'no deliveries') + more };
    }
    case 'deliveries redeliver': {
      if (Boolean(values.dead) === (values.id !== undefined)) throw new UsageError('give either --id DELIVERY_ID or --dead');
      if (values.dead) {
        const count = await management.redeliverDeadLetters(values.webhook);
        return { json: { count }, text: `${count} dead letter(s) queued for redelivery` };
      }
      const delivery = await management.redeliver(id());
      return { json: delivery, text: `delivery ${delivery.id} queued for redelivery\n${deliveryTable([delivery])}` };
    }
  }
  throw new UsageError(`unknown command: ${group} ${action}`);
}

/** `argv` starts with the group (`webhooks`, `deliveries`); resolves with the exit code. */
export async function runAdminCli(argv: string[]): Promise<number> {
  const group = argv[0] as Group;
  const fail = (error: OperatorError) => {
    const usage = error instanceof UsageError ? `\n\n${adminUsage(group)}` : '';
    console.error(`walhook ${group}: ${error.message}${usage}`);
    return error.exitStatus;
  };
  let parsed: ReturnType<typeof parseAdminArgs>;
  try {
    parsed = parseAdminArgs(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    return fail(error);
  }
  const { positionals } = parsed;
  // `webhooks enable ID` as well as `--id ID`.
  const values = group === 'webhooks' && positionals[1] === 'enable' && parsed.values.id === undefined && positionals[2] !== undefined ? { ...parsed.values, id: positionals[2] } : parsed.values;
  if (values.help) {
    console.log(adminUsage(group));
    return 0;
  }
  const action = positionals[1] ?? '';
  const actions = ADMIN_COMMANDS.get(group) ?? [];
  if (!actions.includes(action)) {
    const meant = closestName(action, actions);
    const choices = meant === undefined ? `${group} needs one of: ${actions.join(', ')}` : `did you mean ${group} ${meant}?`;
    return fail(new UsageError(action === '' ? choices : `unknown command ${JSON.stringify(`${group} ${action}`)}; ${choices}`));
  }
  try {
    const { json, text } = await withManagement(values.config, (management) => execute(management, group, action, values));
    console.log(values.json ? JSON.stringify(json, null, 2) : text);
    return 0;
  } catch (error) {
    const known = asOperatorError(error);
    if (!known) throw error;
    return fail(known);
  }
}
