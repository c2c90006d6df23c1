/**
 * The Helm chart, rendered by the real helm binary (scripts/helm.ts) with its
 * default values, with partitions, and with helm/ci/ha-monitoring-values.yaml, checked the way
 * Kubernetes and walhook will read it; and the dashboard and alert rules
 * checked against the metrics a running walhook serves on /metrics, so that
 * neither can name a metric that does not exist.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parser as promqlParser } from '@prometheus-io/lezer-promql';
import { beforeAll, afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { ALERT_RULES_FILE, renderAlertRules } from '../../scripts/alert-rules.js';
import { HelmCommandError, runHelm } from '../../scripts/helm.js';
import { listConfigKeys, resolveConfig } from '../../src/config/index.js';
import { freePort } from '../../src/demo/throwaway-postgres.js';
import { missingCapability } from '../harness/capabilities.js';
import { createTestDatabase, type TestDatabase } from '../harness/database.js';
import { startDaemon, writeConfig, type DaemonProcess } from '../harness/daemon.js';
import { waitFor } from '../harness/receiver.js';

const REPO = resolve(import.meta.dirname, '../..');
const CHART = resolve(REPO, 'helm/walhook');
const HA_VALUES = resolve(REPO, 'helm/ci/ha-monitoring-values.yaml');
const CHART_DASHBOARD = resolve(CHART, 'dashboards/walhook.json');
const REPO_DASHBOARD = resolve(REPO, 'dashboards/walhook.json');
const NAMESPACE = 'crm';

interface Manifest {
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string; optional?: boolean } };
}

interface Probe {
  httpGet: { path: string; port: string | number };
}

interface Container {
  args: string[];
  env: EnvVar[];
  ports: { name: string; containerPort: number }[];
  startupProbe: Probe;
  livenessProbe: Probe;
  readinessProbe: Probe;
  securityContext: Record<string, unknown> & { capabilities?: { drop?: string[] } };
  volumeMounts: { name: string; mountPath: string }[];
}

interface PodSpec {
  securityContext: Record<string, unknown>;
  containers: Container[];
  volumes: { name: string; configMap?: { name: string } }[];
  affinity?: { podAntiAffinity?: Record<string, unknown> };
}

interface DeploymentSpec {
  replicas: number;
  selector: { matchLabels: Record<string, string> };
  template: { metadata: { labels: Record<string, string> }; spec: PodSpec };
}

interface JsonSchema {
  description?: string;
  properties?: Record<string, JsonSchema>;
}

interface AlertRule {
  alert: string;
  expr: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

function valuesArgs(valuesFiles: string[]): string[] {
  return valuesFiles.flatMap((file) => ['--values', file]);
}

/** The one value the chart cannot default (a Secret of the operator's own also does). */
const DATABASE_URL_SET = ['--set', 'secret.databaseUrl=postgres://walhook:secret@crm-db:5432/twenty'];

function render(...valuesFiles: string[]): Manifest[] {
  return renderWith(valuesArgs(valuesFiles));
}

function renderWith(args: string[]): Manifest[] {
  const text = runHelm(['template', 'walhook', CHART, '--namespace', NAMESPACE, ...DATABASE_URL_SET, ...args]);
  return parseAllDocuments(text)
    .map((document) => document.toJS() as Manifest | null)
    .filter((manifest): manifest is Manifest => manifest !== null);
}

/**
 * NOTES.txt as `helm install` would print it: `helm template` leaves NOTES out and `install --dry-run`
 * wants a cluster, so a copy of the chart renders the file's text through `tpl` in a template of its own.
 */
function renderNotes(args: string[]): string {
  const copy = mkdtempSync(join(tmpdir(), 'walhook-chart-'));
  try {
    cpSync(CHART, copy, { recursive: true });
    renameSync(join(copy, 'templates/NOTES.txt'), join(copy, 'notes.txt'));
    writeFileSync(join(copy, 'templates/notes.yaml'), 'kind: Notes\ntext: {{ tpl (.Files.Get "notes.txt") . | toJson }}\n');
    const text = runHelm(['template', 'walhook', copy, '--namespace', NAMESPACE, ...DATABASE_URL_SET, ...args, '--show-only', 'templates/notes.yaml']);
    return (parseYaml(text) as { text: string }).text;
  } finally {
    rmSync(copy, { recursive: true, force: true });
  }
}

function only(manifests: Manifest[], kind: string, name?: string): Manifest {
  const found = manifests.filter((manifest) => manifest.kind === kind && (name === undefined || manifest.metadata.name === name));
  if (found.length !== 1) throw new Error(`expected one ${kind}${name ? ` ${name}` : ''}, rendered ${found.length}`);
  return found[0]!;
}

function deploymentSpec(manifests: Manifest[]): DeploymentSpec {
  return only(manifests, 'Deployment').spec as unknown as DeploymentSpec;
}

function walhookContainer(manifests: Manifest[]): Container {
  const [container] = deploymentSpec(manifests).template.spec.containers;
  if (!container) throw new Error('the Deployment has no container');
  return container;
}

function isSubset(subset: Record<string, string>, of: Record<string, string>): boolean {
  return Object.entries(subset).every(([key, value]) => of[key] === value);
}

/** The config file the container is started with, from the ConfigMap mounted where `--config` points. */
function containerConfigFile(manifests: Manifest[]): unknown {
  const container = walhookContainer(manifests);
  const file = container.args[container.args.indexOf('--config') + 1] ?? '';
  const mount = container.volumeMounts.find((candidate) => file.startsWith(`${candidate.mountPath}/`));
  const volumes = deploymentSpec(manifests).template.spec.volumes;
  const configMapName = volumes.find((candidate) => candidate.name === mount?.name)?.configMap?.name;
  if (!mount || !configMapName) throw new Error(`no ConfigMap is mounted where --config ${file} points`);
  const text = only(manifests, 'ConfigMap', configMapName).data?.[file.slice(mount.mountPath.length + 1)];
  if (text === undefined) throw new Error(`${file} is not a key of ConfigMap ${configMapName}`);
  return parseYaml(text);
}

/** The container's literal environment, plus the database URL a Secret would give it. */
function containerEnv(manifests: Manifest[]): NodeJS.ProcessEnv {
  const literal = walhookContainer(manifests).env.filter((variable) => variable.value !== undefined);
  return {
    ...Object.fromEntries(literal.map((variable) => [variable.name, variable.value])),
    WALHOOK_DATABASE_URL: 'postgres://walhook:secret@crm-db:5432/twenty',
  };
}

/** Values of values.yaml the schema does not describe: missing from it, or there without a description. */
function undescribedValues(values: unknown, schema: JsonSchema, path = ''): string[] {
  const problems = schema.description || path === '' ? [] : [`${path} (no description)`];
  if (!schema.properties || typeof values !== 'object' || values === null || Array.isArray(values)) return problems;
  for (const [key, value] of Object.entries(values)) {
    const child = schema.properties[key];
    const childPath = path ? `${path}.${key}` : key;
    if (child) problems.push(...undescribedValues(value, child, childPath));
    else problems.push(`${childPath} (not in values.schema.json)`);
  }
  return problems;
}

/** Every PromQL expression of a Grafana dashboard: panel targets and the selectors inside label_values(). */
function dashboardExpressions(dashboard: unknown): string[] {
  const expressions: string[] = [];
  const visit = (node: unknown): void => {
    if (typeof node !== 'object' || node === null) return;
    for (const [key, value] of Object.entries(node)) {
      if (key === 'expr' && typeof value === 'string') expressions.push(value);
      else if (key === 'definition' && typeof value === 'string') {
        const selector = /^label_values\((.+),\s*\w+\)$/.exec(value)?.[1];
        expressions.push(selector ?? value);
      } else visit(value);
    }
  };
  visit(dashboard);
  return expressions;
}

/** Grafana's interval variables stand where PromQL wants a duration. */
function withGrafanaVariables(expression: string): string {
  return expression.replaceAll(/\$__(rate_interval|interval|range)/g, '5m');
}

/** Problems parsing the expression, and the metric names it selects. */
function analysePromql(expression: string): { errors: string[]; metrics: string[] } {
  const text = withGrafanaVariables(expression);
  const errors: string[] = [];
  const metrics: string[] = [];
  promqlParser.parse(text).iterate({
    enter(node) {
      if (node.type.isError) errors.push(`${expression}: syntax error at ${node.from} ("${text.slice(node.from, node.from + 20)}")`);
      if (node.name === 'Identifier' && node.node.parent?.name === 'VectorSelector') metrics.push(text.slice(node.from, node.to));
    },
  });
  return { errors, metrics };
}

/** Series names a Prometheus scrape of this exposition text can see, announced (# TYPE) or sampled. */
function exportedNames(exposition: string): Set<string> {
  const names = new Set<string>();
  for (const line of exposition.split('\n')) {
    const announced = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (announced) {
      const [, name = '', type] = announced;
      const suffixes = { histogram: ['_bucket', '_sum', '_count'], summary: ['', '_sum', '_count'] }[type ?? ''] ?? [''];
      for (const suffix of suffixes) names.add(name + suffix);
    } else if (line && !line.startsWith('#')) {
      names.add(/^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)?.[0] ?? line);
    }
  }
  return names;
}

function alertRules(manifests: Manifest[]): AlertRule[] {
  const spec = only(manifests, 'PrometheusRule').spec as { groups: { rules: AlertRule[] }[] };
  return spec.groups.flatMap((group) => group.rules);
}

/** Debian's prometheus package has promtool; .ci/run installs it. */
const promtoolMissing = missingCapability(
  'promtool',
  spawnSync('promtool', ['--version']).status === 0,
  'apt-get install prometheus',
  'promtool checks of the alert rules and of a /metrics scrape',
);

function promtool(args: string[], input?: string): { status: number | null; output: string } {
  const result = spawnSync('promtool', args, { input, encoding: 'utf8' });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

function readJson(file: string): unknown {
  return JSON.parse(readFileSync(file, 'utf8'));
}

describe('helm chart', () => {
  it('passes helm lint --strict with the default values and with the HA + monitoring values', () => {
    expect(runHelm(['lint', '--strict', CHART, ...DATABASE_URL_SET])).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
    expect(runHelm(['lint', '--strict', CHART, ...valuesArgs([HA_VALUES])])).toMatch(/0 chart\(s\) failed/);
  });

  it('describes every value of values.yaml in values.schema.json, and refuses values it does not know', () => {
    const values = parseYaml(readFileSync(resolve(CHART, 'values.yaml'), 'utf8'));
    const schema = readJson(resolve(CHART, 'values.schema.json')) as JsonSchema;
    expect(undescribedValues(values, schema)).toEqual([]);
    expect(() => runHelm(['template', 'walhook', CHART, ...DATABASE_URL_SET, '--set', 'replicas=3'])).toThrow(HelmCommandError);
    expect(() => runHelm(['template', 'walhook', CHART, ...DATABASE_URL_SET, '--set', 'metrics.serviceMonitor.enable=true'])).toThrow(/enable/);
  });

  it.each([
    [[], 'secret.databaseUrl is empty: set it to postgres://USER:PASSWORD@HOST:5432/DATABASE'],
    [['--set', 'secret.databaseUrl=mysql://crm:hunter2@db/crm'], 'secret.databaseUrl is not a PostgreSQL URL'],
    [[...DATABASE_URL_SET, '--set', 'secret.apiToken=short'], 'secret.apiToken has 5 characters: it needs at least 16'],
    [[...DATABASE_URL_SET, '--set', 'secret.encryptionKey=hunter2'], 'secret.encryptionKey is not a 32-byte key'],
    [[...DATABASE_URL_SET, '--set', 'config.delivery.timout=5s'], 'config.delivery: Additional property timout is not allowed'],
    [[...DATABASE_URL_SET, '--set', 'config.source.plugin=wal2jsn'], 'config.source.plugin must be one of the following: "pgoutput", "wal2json"'],
    [[...DATABASE_URL_SET, '--set', 'config.webhooks[0].targetUrl=https://hooks.example.com'], 'config.webhooks.0: operations is required'],
    [[...DATABASE_URL_SET, '--set', 'partitions=0'], 'partitions is 0: it must be at least 1'],
    [[...DATABASE_URL_SET, '--set', 'partitions=-2'], 'partitions is -2: it must be at least 1'],
    [[...DATABASE_URL_SET, '--set', 'partitions=four'], 'partitions is "four", not a whole number: set one from 1 to 64'],
    [[...DATABASE_URL_SET, '--set-json', 'partitions=2.5'], 'partitions is 2.5, not a whole number: set one from 1 to 64'],
    [[...DATABASE_URL_SET, '--set', 'partitions=65'], 'partitions is 65: walhook takes at most 64'],
    [[...DATABASE_URL_SET, '--set', 'partitions=4', '--set', 'config.source.partitions=2'], 'config.source.partitions is 2 but partitions is 4: set only partitions'],
    [[...DATABASE_URL_SET, '--set', 'partitions=4', '--set', 'podDisruptionBudget.maxUnavailable=2'], 'podDisruptionBudget.maxUnavailable is 2 with replicaCount 2: a drain could evict every replica at once'],
    [[...DATABASE_URL_SET, '--set', 'partitions=4', '--set', 'config.recovery.automatic=true'], 'config.recovery.automatic is true with 4 partitions'],
  ])('fails helm template with %j, saying what is wrong', (args, message) => {
    let failure: unknown;
    try {
      runHelm(['template', 'walhook', CHART, ...args]);
    } catch (error) {
      failure = error;
    }
    expect(failure).toBeInstanceOf(HelmCommandError);
    expect((failure as HelmCommandError).stderr).toContain(message);
    expect((failure as HelmCommandError).stderr).not.toContain('hunter2');
  });

  it('installs with an existing Secret and no secret values', () => {
    expect(() => runHelm(['template', 'walhook', CHART, '--set', 'existingSecret=crm-walhook'])).not.toThrow();
  });

  it('has the appVersion of package.json, the version the image is tagged with', () => {
    const chart = parseYaml(readFileSync(resolve(CHART, 'Chart.yaml'), 'utf8')) as { appVersion: string };
    const pkg = readJson(resolve(REPO, 'package.json')) as { version: string };
    expect(chart.appVersion).toBe(pkg.version);
  });

  it('ships the alert rules as a plain rule file, rendered from the same source (npm run alerts:rules)', () => {
    expect(readFileSync(ALERT_RULES_FILE, 'utf8')).toBe(renderAlertRules());
  });

  it.skipIf(promtoolMissing !== null)('has a plain rule file that promtool check rules accepts', () => {
    const { status, output } = promtool(['check', 'rules', ALERT_RULES_FILE]);
    expect(output).toMatch(/SUCCESS: \d+ rules found/);
    expect(status, output).toBe(0);
  });

  it('ships the same dashboard as dashboards/walhook.json (edit helm/walhook/dashboards/walhook.json and copy it)', () => {
    expect(readFileSync(REPO_DASHBOARD, 'utf8')).toBe(readFileSync(CHART_DASHBOARD, 'utf8'));
  });
});

describe('helm template with the default values', () => {
  let manifests: Manifest[];
  beforeAll(() => {
    manifests = render();
  });

  it('renders a Deployment, Service, ConfigMap, Secret, NetworkPolicy and PodDisruptionBudget, nothing optional', () => {
    expect(manifests.map((manifest) => manifest.kind).sort()).toEqual(['ConfigMap', 'Deployment', 'NetworkPolicy', 'PodDisruptionBudget', 'Secret', 'Service']);
  });

  it('runs two replicas, and the Service and PodDisruptionBudget select their pods', () => {
    const deployment = deploymentSpec(manifests);
    const podLabels = deployment.template.metadata.labels;
    expect(deployment.replicas).toBe(2);
    expect(isSubset(deployment.selector.matchLabels, podLabels)).toBe(true);
    expect(isSubset(only(manifests, 'Service').spec?.selector as Record<string, string>, podLabels)).toBe(true);
    const pdb = only(manifests, 'PodDisruptionBudget').spec as { maxUnavailable: number; selector: { matchLabels: Record<string, string> } };
    expect(isSubset(pdb.selector.matchLabels, podLabels)).toBe(true);
    expect(pdb.maxUnavailable).toBeLessThan(deployment.replicas);
  });

  it('probes /healthz for liveness and /readyz for readiness on the ops port walhook listens on, the API on its own', () => {
    const container = walhookContainer(manifests);
    expect(container.livenessProbe.httpGet.path).toBe('/healthz');
    expect(container.startupProbe.httpGet.path).toBe('/healthz');
    expect(container.readinessProbe.httpGet.path).toBe('/readyz');
    const portNamed = (name: string | number) => container.ports.find((candidate) => candidate.name === name)?.containerPort;
    const config = resolveConfig(containerConfigFile(manifests), containerEnv(manifests));
    expect(config.api.opsListen).toMatchObject({ host: '0.0.0.0', port: portNamed(container.readinessProbe.httpGet.port) });
    expect(config.api.listen).toMatchObject({ host: '0.0.0.0', port: portNamed('http') });
    expect(config.api.allowedHosts).toEqual(['walhook', 'walhook.crm', 'walhook.crm.svc', 'walhook.crm.svc.cluster.local']);
  });

  it('runs as non-root on a read-only root filesystem, without privilege escalation or capabilities', () => {
    const pod = deploymentSpec(manifests).template.spec;
    const container = walhookContainer(manifests);
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(container.securityContext).toMatchObject({ runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
    expect(container.securityContext.capabilities?.drop).toContain('ALL');
  });

  it('mounts a ConfigMap that is valid walhook configuration', () => {
    const config = resolveConfig(containerConfigFile(manifests), containerEnv(manifests));
    expect(config.source.slot).toBe('walhook');
    expect(config.database.url).toBe(containerEnv(manifests).WALHOOK_DATABASE_URL);
  });

  it('sets only environment variables walhook reads, the secret ones from keys of its Secret', () => {
    const known = new Set(listConfigKeys().map((key) => key.envVar));
    const env = walhookContainer(manifests).env;
    expect(env.map((variable) => variable.name).filter((name) => !known.has(name))).toEqual([]);
    const secret = only(manifests, 'Secret');
    const required = env.flatMap((variable) => variable.valueFrom?.secretKeyRef ?? []).filter((ref) => !ref.optional);
    expect(required.map((ref) => [ref.name, ref.key in (secret.stringData ?? {})])).toEqual([[secret.metadata.name, true]]);
  });
});

describe('helm template with 4 partitions over 2 replicas', () => {
  const PARTITION_ARGS = ['--set', 'partitions=4', '--set', 'replicaCount=2'];
  let manifests: Manifest[];
  beforeAll(() => {
    manifests = renderWith(PARTITION_ARGS);
  });

  it('renders partitions into the mounted config as source.partitions, which walhook accepts', () => {
    const config = resolveConfig(containerConfigFile(manifests), containerEnv(manifests));
    expect(config.source.partitions).toBe(4);
    expect(config.source.slot).toBe('walhook');
    // The default (1) is rendered too, so the config file always says what the chart was given.
    expect(resolveConfig(containerConfigFile(render()), containerEnv(manifests)).source.partitions).toBe(1);
    expect((containerConfigFile(renderWith([...PARTITION_ARGS, '--set', 'config.source.partitions=4'])) as { source: unknown }).source).toMatchObject({ partitions: 4 });
  });

  it('keeps failover possible: two replicas, a PodDisruptionBudget of one, spread over nodes', () => {
    const deployment = deploymentSpec(manifests);
    expect(deployment.replicas).toBe(2);
    const pdb = only(manifests, 'PodDisruptionBudget').spec as { maxUnavailable: number; selector: { matchLabels: Record<string, string> } };
    expect(pdb.maxUnavailable).toBe(1);
    expect(isSubset(pdb.selector.matchLabels, deployment.template.metadata.labels)).toBe(true);
    const antiAffinity = deployment.template.spec.affinity?.podAntiAffinity as
      | { preferredDuringSchedulingIgnoredDuringExecution?: { podAffinityTerm: { topologyKey: string; labelSelector: { matchLabels: Record<string, string> } } }[] }
      | undefined;
    const [term] = antiAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [];
    expect(term?.podAffinityTerm.topologyKey).toBe('kubernetes.io/hostname');
    expect(isSubset(term?.podAffinityTerm.labelSelector.matchLabels ?? { none: 'none' }, deployment.template.metadata.labels)).toBe(true);
  });

  it('says in NOTES.txt how the replicas share the partitions, and warns when nothing could take over', () => {
    const notes = renderNotes(PARTITION_ARGS);
    expect(notes).toContain("2 replica(s) sharing 4 partitions (slots 'walhook_p0' … 'walhook_p3')");
    expect(notes).toContain('ceil(partitions / live replicas) = 2 of them');
    expect(notes).toContain('the others take its partitions within about 10 s (then at most 4 each)');
    expect(notes).toContain('The PodDisruptionBudget (maxUnavailable 1)');
    expect(notes).not.toContain('WARNING');
    expect(renderNotes(['--set', 'partitions=3', '--set', 'replicaCount=1'])).toContain('WARNING: one replica streams all 3 partitions');
    const unguarded = renderNotes([...PARTITION_ARGS, '--set', 'podDisruptionBudget.enabled=false', '--set', 'podAntiAffinity=none']);
    expect(unguarded).toContain('WARNING: podDisruptionBudget is off');
    expect(unguarded).toContain('WARNING: podAntiAffinity is none');
    expect(renderNotes([])).toContain("2 replica(s), one leader streaming slot 'walhook'");
  });
});

describe('helm template with the HA + monitoring values', () => {
  let manifests: Manifest[];
  beforeAll(() => {
    manifests = render(HA_VALUES);
  });

  it('renders the ServiceMonitor, PrometheusRule and dashboard ConfigMap, and reads an existing Secret', () => {
    const kinds = manifests.map((manifest) => manifest.kind);
    expect(kinds).toEqual(expect.arrayContaining(['ServiceMonitor', 'PrometheusRule']));
    expect(kinds).not.toContain('Secret');
    const refs = walhookContainer(manifests).env.flatMap((variable) => variable.valueFrom?.secretKeyRef ?? []);
    expect(new Set(refs.map((ref) => ref.name))).toEqual(new Set(['crm-walhook']));
    expect(refs.find((ref) => !ref.optional)?.key).toBe('uri');
  });

  it('spreads three replicas over nodes and keeps the configuration valid', () => {
    const deployment = deploymentSpec(manifests);
    expect(deployment.replicas).toBe(3);
    expect(deployment.template.spec.affinity?.podAntiAffinity).toHaveProperty('requiredDuringSchedulingIgnoredDuringExecution');
    const config = resolveConfig(containerConfigFile(manifests), containerEnv(manifests));
    expect(config.source.slot).toBe('walhook_prod');
    expect(config.delivery.retrySchedule[0]).toBe(30_000);
  });

  it('scrapes /metrics through the Service with the ServiceMonitor', () => {
    const monitor = only(manifests, 'ServiceMonitor');
    const spec = monitor.spec as { selector: { matchLabels: Record<string, string> }; endpoints: { port: string; path: string }[] };
    const service = only(manifests, 'Service');
    expect(isSubset(spec.selector.matchLabels, service.metadata.labels ?? {})).toBe(true);
    const servicePorts = (service.spec?.ports as { name: string }[]).map((port) => port.name);
    expect(spec.endpoints).toEqual([expect.objectContaining({ path: '/metrics' })]);
    expect(servicePorts).toContain(spec.endpoints[0]?.port);
    expect(monitor.metadata.labels).toMatchObject({ release: 'kube-prometheus-stack' });
  });

  it('puts the dashboard in a ConfigMap labelled for the Grafana sidecar', () => {
    const dashboard = only(manifests, 'ConfigMap', 'walhook-dashboard');
    expect(dashboard.metadata.labels).toMatchObject({ grafana_dashboard: '1' });
    expect(JSON.parse(dashboard.data?.['walhook.json'] ?? '')).toEqual(readJson(CHART_DASHBOARD));
  });

  it('alerts on each failure the issue names, with a severity and runbook text', () => {
    const rules = alertRules(manifests);
    expect(rules.map((rule) => rule.alert)).toEqual(
      expect.arrayContaining([
        'WalhookSlotRetainedWalHigh',
        'WalhookSlotLost',
        'WalhookNoLeader',
        'WalhookReplicationDisconnected',
        'WalhookDeadLetters',
        'WalhookWebhookFailing',
      ]),
    );
    for (const rule of rules) {
      expect(rule.labels?.severity, rule.alert).toMatch(/^(warning|critical)$/);
      expect(Object.keys(rule.annotations ?? {}).sort(), rule.alert).toEqual(['description', 'runbook', 'summary']);
      expect(rule.expr, rule.alert).toContain(`namespace="${NAMESPACE}", job="walhook"`);
    }
    const retained = rules.find((rule) => rule.alert === 'WalhookSlotRetainedWalHigh');
    expect(retained?.expr).toMatch(/> 10737418240$/);
  });
});

describe('dashboard and alert rules against a live /metrics scrape', () => {
  let db: TestDatabase;
  let daemon: DaemonProcess | undefined;
  let scrape: string;
  let exported: Set<string>;
  let rules: AlertRule[];

  beforeAll(async () => {
    db = await createTestDatabase('helm');
    const port = await freePort();
    const suffix = db.name.slice(-8);
    const file = writeConfig({
      database: { url: db.url },
      source: { slot: `metrics_${suffix}`, publication: `metrics_${suffix}` },
      state: { schema: `walhook_metrics_${suffix}` },
      api: { listen: `127.0.0.1:${port}` },
    });
    const started = startDaemon(file);
    daemon = started;
    let exitCode: number | null | undefined;
    void started.exited.then((code) => (exitCode = code));
    await waitFor(async () => {
      if (exitCode !== undefined) throw new Error(`walhook exited with ${exitCode}:\n${started.output()}`);
      return (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => null))?.ok === true;
    }, 'walhook to answer /healthz');
    const response = await fetch(`http://127.0.0.1:${port}/metrics`);
    if (!response.ok) throw new Error(`GET /metrics answered ${response.status}: ${await response.text()}`);
    scrape = await response.text();
    exported = exportedNames(scrape);
    rules = alertRules(render(HA_VALUES));
  });

  afterAll(async () => {
    await daemon?.stop();
    await db?.drop();
  });

  it('the scrape holds walhook metrics (the check below is not vacuous)', () => {
    expect([...exported]).toEqual(expect.arrayContaining(['walhook_leader', 'walhook_changes_total', 'walhook_event_latency_seconds_bucket']));
  });

  it.skipIf(promtoolMissing !== null)('the scrape passes promtool check metrics', () => {
    const { status, output } = promtool(['check', 'metrics'], scrape);
    expect(output).toBe('');
    expect(status).toBe(0);
  });

  it('every dashboard query is PromQL that selects only exported metrics', () => {
    const analyses = dashboardExpressions(readJson(CHART_DASHBOARD)).map(analysePromql);
    expect(analyses.length).toBeGreaterThan(10);
    expect(analyses.flatMap((analysis) => analysis.errors)).toEqual([]);
    expect(analyses.flatMap((analysis) => analysis.metrics).filter((name) => !exported.has(name))).toEqual([]);
  });

  it('every alert rule is PromQL that selects only exported metrics', () => {
    const analyses = rules.map((rule) => analysePromql(rule.expr));
    expect(analyses.flatMap((analysis) => analysis.errors)).toEqual([]);
    expect(analyses.flatMap((analysis) => analysis.metrics).filter((name) => !exported.has(name))).toEqual([]);
  });
});
