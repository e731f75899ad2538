// The chart's monitoring objects, rendered by the real helm binary: the webhook's ServiceMonitor (and its TLS
// verification, exercised against the real webhook app serving the chart's certificate), the watchers' PodMonitor
// (checked against what the real injector renders), the PrometheusRule's shape and knobs, the Grafana dashboard
// ConfigMap, and the values schema. promtool checks of the alerts themselves: monitoring-rules.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { parse as parseYaml } from 'yaml';
import { buildApp } from '../../src/server/app.js';
import { createWebhookMetrics } from '../../src/server/metrics.js';
import { createLogger } from '../../src/log.js';
import { injectDocuments } from '../../src/offline/inject-documents.js';
import { parseDefaults } from '../../src/config/defaults.js';
import { generateCA, generateServing, serviceDnsNames } from '../../src/tls/certs.js';
import { VERSION } from '../../src/version.js';
import { repoPath } from '../helpers/paths.js';
import { type K8sObject, helmOrSkip, parseManifests, runHelm } from '../helpers/helm.js';
import { ALERT_NAMES, runbookAnchors } from '../helpers/monitoring.js';

const CHART = repoPath('charts', 'ghostwire');
const RELEASE = 'gw';
const NS = 'ghostwire-system';
const FULLNAME = 'gw-ghostwire';
const ALL_ON = ['metrics.serviceMonitor.enabled=true', 'metrics.podMonitor.enabled=true', 'metrics.prometheusRule.enabled=true', 'metrics.dashboard.enabled=true'];

interface Render {
  objects: K8sObject[];
  stderr: string;
  status: number | null;
}

/** helm template with --set flags and, for values --set cannot carry (commas, quotes), a values file. */
function render(helm: string, set: string[] = [], values?: unknown): Render {
  const args = ['template', RELEASE, CHART, '--namespace', NS];
  for (const s of set) args.push('--set', s);
  let dir: string | undefined;
  if (values !== undefined) {
    dir = mkdtempSync(join(tmpdir(), 'gw-monitoring-values-'));
    // JSON is YAML, and leaves no room for YAML 1.1 readings of strings such as "no".
    writeFileSync(join(dir, 'values.yaml'), JSON.stringify(values));
    args.push('-f', join(dir, 'values.yaml'));
  }
  try {
    const r = runHelm(helm, args);
    return { objects: r.status === 0 ? parseManifests(r.stdout) : [], stderr: r.stderr, status: r.status };
  } finally {
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}

function ok(helm: string, set: string[] = [], values?: unknown): K8sObject[] {
  const r = render(helm, set, values);
  assert.equal(r.status, 0, `helm template ${set.join(' ')} failed:\n${r.stderr}`);
  return r.objects;
}

function fails(helm: string, set: string[], values: unknown, message: RegExp): void {
  const r = render(helm, set, values);
  assert.notEqual(r.status, 0, `helm template ${set.join(' ')} ${values ? JSON.stringify(values) : ''} must fail`);
  assert.match(r.stderr, message);
}

function find(objects: K8sObject[], kind: string, name?: string): K8sObject {
  const hit = objects.find((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  assert.ok(hit, `no ${kind}${name ? ` ${name}` : ''} in the render (have: ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')})`);
  return hit;
}

const monitoringObjects = (objects: K8sObject[]): K8sObject[] =>
  objects.filter((o) => o.apiVersion.startsWith('monitoring.coreos.com/') || (o.kind === 'ConfigMap' && /-(dashboard|metrics-ca)$/.test(o.metadata.name)));

/** Kubernetes label-selector semantics (matchLabels AND matchExpressions). */
function selects(selector: any, labels: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(selector?.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector?.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(labels, e.key);
    const ok =
      e.operator === 'In' ? has && e.values.includes(labels[e.key])
      : e.operator === 'NotIn' ? !has || !e.values.includes(labels[e.key])
      : e.operator === 'Exists' ? has
      : e.operator === 'DoesNotExist' ? !has
      : (() => { throw new Error(`operator ${e.operator}`); })();
    if (!ok) return false;
  }
  return true;
}

const decode = (b64: string): string => Buffer.from(b64, 'base64').toString('utf8');

function alerts(objects: K8sObject[]): any[] {
  return find(objects, 'PrometheusRule').spec.groups.flatMap((g: any) => g.rules);
}

/** GET over HTTPS as Prometheus scrapes: to the pod's address, the CA and server name from the monitor's tlsConfig. */
function scrape(port: number, path: string, ca: string, servername: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET', ca, servername, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function withWebhook<T>(tls: { key: string; cert: string }, fn: (port: number) => Promise<T>): Promise<T> {
  const web = buildApp({
    logger: createLogger('test', 'silent'),
    metrics: createWebhookMetrics(false),
    context: () => { throw new Error('no admissions in this test'); },
    tls,
  });
  await web.app.listen({ port: 0, host: '127.0.0.1' });
  try {
    return await fn((web.app.server.address() as { port: number }).port);
  } finally {
    await web.app.close();
  }
}

test('monitoring objects are off by default and each switch renders only its own', (t) => {
  const helm = helmOrSkip(t);
  if (!helm) return;
  assert.deepEqual(monitoringObjects(ok(helm)).map((o) => o.kind), []);
  const expect: Array<[string, string[]]> = [
    ['metrics.serviceMonitor.enabled=true', ['ServiceMonitor']],
    ['metrics.podMonitor.enabled=true', ['PodMonitor']],
    ['metrics.prometheusRule.enabled=true', ['PrometheusRule']],
    ['metrics.dashboard.enabled=true', ['ConfigMap']],
  ];
  for (const [set, kinds] of expect) {
    assert.deepEqual(monitoringObjects(ok(helm, [set])).map((o) => o.kind), kinds, set);
  }
  const values = parseYaml(readFileSync(repoPath('charts', 'ghostwire', 'values.yaml'), 'utf8')) as any;
  for (const k of ['serviceMonitor', 'podMonitor', 'prometheusRule', 'dashboard']) assert.equal(values.metrics[k].enabled, false, `metrics.${k}.enabled defaults to false`);
});

test('helm lint --strict is clean with every monitoring object on, in every certificate mode', (t) => {
  const helm = helmOrSkip(t);
  if (!helm) return;
  const bundle = Buffer.from(generateCA('lint-ca', 1).certPem).toString('base64');
  const variants: string[][] = [
    ALL_ON,
    [...ALL_ON, 'shadow.enabled=true', 'injectedNamespaces={shop}', 'injectedServiceAccounts={orders-web}'],
    [...ALL_ON, 'certs.mode=certManager'],
    [...ALL_ON, 'certs.mode=existingSecret', 'certs.existingSecret=my-tls', `certs.caBundle=${bundle}`],
  ];
  for (const v of variants) {
    const r = runHelm(helm, ['lint', '--strict', CHART, '--namespace', NS, ...v.flatMap((s) => ['--set', s])]);
    assert.equal(r.status, 0, `helm lint --strict ${v.join(' ')}:\n${r.stdout}${r.stderr}`);
    assert.doesNotMatch(r.stdout, /\[(WARNING|ERROR)\]/);
  }
});

test('ServiceMonitor: selects the webhook Service in the release namespace, HTTPS port https -> 8443, /metrics', (t) => {
  const helm = helmOrSkip(t);
  if (!helm) return;
  const objects = ok(helm, ['metrics.serviceMonitor.enabled=true', 'metrics.serviceMonitor.labels.release=kube-prometheus-stack', 'metrics.serviceMonitor.interval=15s', 'metrics.serviceMonitor.scrapeTimeout=5s']);
  const sm = find(objects, 'ServiceMonitor', FULLNAME);
  assert.equal(sm.apiVersion, 'monitoring.coreos.com/v1');
  assert.equal(sm.metadata.namespace, NS);
  assert.equal(sm.metadata.labels?.release, 'kube-prometheus-stack');
  assert.equal(sm.metadata.labels?.['app.kubernetes.io/instance'], RELEASE);
  assert.deepEqual(sm.spec.namespaceSelector, { matchNames: [NS] });

  const services = objects.filter((o) => o.kind === 'Service' && selects(sm.spec.selector, o.metadata.labels ?? {}));
  assert.deepEqual(services.map((s) => s.metadata.name), [FULLNAME], 'exactly the webhook Service');
  const svc = services[0]!;
  assert.equal(sm.spec.endpoints.length, 1);
  const ep = sm.spec.endpoints[0];
  assert.equal(ep.scheme, 'https');
  assert.equal(ep.path, '/metrics');
  assert.equal(ep.interval, '15s');
  assert.equal(ep.scrapeTimeout, '5s');
  const port = svc.spec.ports.find((p: any) => p.name === ep.port);
  assert.ok(port, `the Service has a port named ${ep.port}`);
  const dep = find(objects, 'Deployment', FULLNAME);
  assert.ok(selects({ matchLabels: svc.spec.selector }, dep.spec.template.metadata.labels));
  const container = dep.spec.template.spec.containers[0];
  assert.equal(container.ports.find((p: any) => p.name === port.targetPort)?.containerPort, 8443);
  assert.ok(container.args.includes('--port=8443'), 'the webhook serves /metrics on the port the monitor scrapes');
});

test('ServiceMonitor TLS (certs.mode=helm): the real webhook serving the chart\'s certificate is scraped with the monitor\'s CA and server name; another CA or name fails', async (t) => {
  const helm = helmOrSkip(t);
  if (!helm) return;
  const objects = ok(helm, ['metrics.serviceMonitor.enabled=true']);
  const tls = find(objects, 'ServiceMonitor', FULLNAME).spec.endpoints[0].tlsConfig;
  assert.equal(tls.insecureSkipVerify, undefined);
  assert.equal(tls.serverName, `${FULLNAME}.${NS}.svc`);
  // The CA comes from the Secret the monitor names, by the key it names: the one the webhook pods mount.
  const secret = find(objects, 'Secret', tls.ca.secret.name);
  const ca = decode(secret.data[tls.ca.secret.key]);
  const dep = find(objects, 'Deployment', FULLNAME);
  assert.equal(dep.spec.template.spec.volumes.find((v: any) => v.name === 'tls').secret.secretName, secret.metadata.name);
  const served = { cert: decode(secret.data['tls.crt']), key: decode(secret.data['tls.key']) };

  await withWebhook(served, async (port) => {
    const res = await scrape(port, '/metrics', ca, tls.serverName);
    assert.equal(res.status, 200);
    assert.match(res.body, /^# HELP ghostwire_admission_requests_total /m);
    assert.match(res.body, /^# TYPE ghostwire_admission_duration_seconds histogram/m);
    const otherCa = generateCA('some-other-ca', 1).certPem;
    await assert.rejects(scrape(port, '/metrics', otherCa, tls.serverName), /self[- ]signed|unable to verify|certificate/i);
    await assert.rejects(scrape(port, '/metrics', ca, 'gw-ghostwire.elsewhere.svc'), /altnames|Hostname\/IP does not match/i);
  });
});

test('ServiceMonitor TLS (certs.mode=certManager): CA from the cert-manager Secret; the server name is in the Certificate', (t) => {
  const helm = helmOrSkip(t);
  if (!helm) return;
  const objects = ok(helm, ['metrics.serviceMonitor.enabled=true', 'certs.mode=certManager']);
  const tls = find(objects, 'ServiceMonitor', FULLNAME).spec.endpoints[0].tlsConfig;
  const cert = objects.find((o) => o.kind === 'Certificate' && o.spec.secretName === tls.ca.secret.name);
  assert.ok(cert, `a Certificate writes the Secret ${tls.ca.secret.name}`);
  assert.equal(tls.ca.secret.key, 'ca.crt', 'cert-manager writes the issuing CA as ca.crt');
  assert.ok(cert.spec.dnsNames.includes(tls.serverName), `${tls.serverName} in ${cert.spec.dnsNames.join(', ')}`);
  const dep = find(objects, 'Deployment', FULLNAME);
  assert.equal(dep.spec.template.spec.volumes.find((v: any) => v.name === 'tls').secret.secretName, tls.ca.secret.name);
});

test('ServiceMonitor TLS (certs.mode=existingSecret): a ConfigMap with certs.caBundle verifies the webhook; without a bundle, tlsConfig is required', async (t) => {
  const helm = helmOrSkip(t);
  if (!helm) return;
  const caPair = generateCA('corp-ca', 1);
  const serving = generateServing(caPair, { commonName: `${FULLNAME}.${NS}.svc`, dnsNames: serviceDnsNames(FULLNAME, NS), ips: [], days: 1 });
  const bundle = Buffer.from(caPair.certPem).toString('base64');
  const objects = ok(helm, ['metrics.serviceMonitor.enabled=true', 'certs.mode=existingSecret', 'certs.existingSecret=corp-tls', `certs.caBundle=${bundle}`]);
  const tls = find(objects, 'ServiceMonitor', FULLNAME).spec.endpoints[0].tlsConfig;
  const cm = find(objects, 'ConfigMap', tls.ca.configMap.name);
  assert.equal(cm.metadata.namespace, NS, 'in the monitor\'s namespace');
  const ca = cm.data[tls.ca.configMap.key];
  assert.equal(new X509Certificate(ca).fingerprint256, new X509Certificate(caPair.certPem).fingerprint256);
  await withWebhook({ cert: serving.certPem, key: serving.keyPem }, async (port) => {
    assert.equal((await scrape(port, '/metrics', ca, tls.serverName)).status, 200);
  });

  // The caBundle left to cert-manager's cainjector: the chart knows no CA and says what to set.
  const injected = ['metrics.serviceMonitor.enabled=true', 'certs.mode=existingSecret', 'certs.existingSecret=corp-tls'];
  const annotation = { webhook: { annotations: { 'cert-manager.io/inject-ca-from': `${NS}/corp` } } };
  fails(helm, injected, annotation, /metrics\.serviceMonitor\.tlsConfig/);
  const own = { ...annotation, metrics: { serviceMonitor: { tlsConfig: { ca: { secret: { name: 'corp-ca', key: 'ca.crt' } }, serverName: `${FULLNAME}.${NS}.svc` } } } };
  const given = find(ok(helm, injected, own), 'ServiceMonitor', FULLNAME).spec.endpoints[0].tlsConfig;
  assert.deepEqual(given, own.metrics.serviceMonitor.tlsConfig, 'tlsConfig is used as given');
  // A bundle that is not PEM is refused rather than written into the ConfigMap.
  fails(helm, ['metrics.serviceMonitor.enabled=true', 'certs.mode=existingSecret', 'certs.existingSecret=corp-tls', `certs.caBundle=${Buffer.from('not a certificate').toString('base64')}`], undefined, /certs\.caBundle is not base64 of a PEM/);
});

test('ServiceMonitor: another namespace needs tlsConfig (a Secret cannot be referenced across namespaces); scrapeTimeout must not exceed interval', (t) => {
  const helm = helmOrSkip(t);
  if (!helm) return;
  fails(helm, ['metrics.serviceMonitor.enabled=true', 'metrics.serviceMonitor.namespace=monitoring'], undefined, /metrics\.serviceMonitor\.namespace=monitoring.*gw-ghostwire-tls.*ghostwire-system/);
  const objects = ok(helm, ['metrics.serviceMonitor.enabled=true', 'metrics.serviceMonitor.namespace=monitoring', 'metrics.serviceMonitor.tlsConfig.insecureSkipVerify=true']);
  const sm = find(objects, 'ServiceMonitor', FULLNAME);
  assert.equal(sm.metadata.namespace, 'monitoring');
  assert.deepEqual(sm.spec.namespaceSelector, { matchNames: [NS] }, 'still selects the Service in the release namespace');
  assert.deepEqual(sm.spec.endpoints[0].tlsConfig, { insecureSkipVerify: true });

  fails(helm, ['metrics.serviceMonitor.enabled=true', 'metrics.serviceMonitor.interval=30s', 'metrics.serviceMonitor.scrapeTimeout=1m'], undefined, /metrics\.serviceMonitor\.scrapeTimeout \(1m\) must not exceed metrics\.serviceMonitor\.interval \(30s\)/);
  fails(helm, ['metrics.podMonitor.enabled=true', 'metrics.podMonitor.interval=1m', 'metrics.podMonitor.scrapeTimeout=1m500ms'], undefined, /metrics\.podMonitor\.scrapeTimeout/);
  ok(helm, ['metrics.podMonitor.enabled=true', 'metrics.podMonitor.interval=1m30s', 'metrics.podMonitor.scrapeTimeout=90s']);
});

test('shadow controller: a PodMonitor on its pods (honorLabels keeps the workloads\' namespace label) only with shadow.enabled', (t) => {
  const helm = helmOrSkip(t);
  if (!helm) return;
  assert.equal(ok(helm, ['metrics.serviceMonitor.enabled=true']).filter((o) => o.kind === 'PodMonitor').length, 0);
  const objects = ok(helm, ['metrics.serviceMonitor.enabled=true', 'shadow.enabled=true', 'injectedNamespaces={shop}', 'injectedServiceAccounts={orders-web}']);
  const pm = find(objects, 'PodMonitor', `${FULLNAME}-shadow`);
  const dep = find(objects, 'Deployment', `${FULLNAME}-shadow`);
  assert.ok(selects(pm.spec.selector, dep.spec.template.metadata.labels), 'selects the controller pods');
  assert.ok(!selects(pm.spec.selector, find(objects, 'Deployment', FULLNAME).spec.template.metadata.labels), 'not the webhook pods');
  assert.deepEqual(pm.spec.namespaceSelector, { matchNames: [NS] });
  const ep = pm.spec.podMetricsEndpoints[0];
  assert.deepEqual([ep.port, ep.scheme, ep.path, ep.honorLabels], ['metrics', 'http', '/metrics', true]);
});

test('shadow controller: its container declares the port the PodMonitor scrapes (8080) and serves metrics there', (t) => {
  const helm = helmOrSkip(t);
  if (!helm) return;
  const objects = ok(helm, ['metrics.serviceMonitor.enabled=true', 'shadow.enabled=true', 'injectedNamespaces={shop}', 'injectedServiceAccounts={orders-web}']);
  const ep = find(objects, 'PodMonitor', `${FULLNAME}-shadow`).spec.podMetricsEndpoints[0];
  const c = find(objects, 'Deployment', `${FULLNAME}-shadow`).spec.template.spec.containers[0];
  assert.equal(c.ports?.find((p: any) => p.name === ep.port)?.containerPort, 8080);
  assert.ok(c.args.includes('--metrics-listen=:8080'), 'the controller listens where the port says');
});

test('watchers\' PodMonitor: port gw-metrics over HTTP on every pod the real injector renders (sidecar and native sidecar)', (t) => {
  const helm = helmOrSkip(t);
  if (!helm) return;
  const objects = ok(helm, ['metrics.podMonitor.enabled=true', 'metrics.podMonitor.labels.release=kps']);
  const pm = find(objects, 'PodMonitor', `${FULLNAME}-watchers`);
  assert.equal(pm.metadata.namespace, NS);
  assert.equal(pm.metadata.labels?.release, 'kps');
  assert.deepEqual(pm.spec.namespaceSelector, { any: true }, 'no injectedNamespaces: every namespace');
  assert.deepEqual(pm.spec.selector, {});
  assert.equal(pm.spec.podMetricsEndpoints.length, 1);
  const ep = pm.spec.podMetricsEndpoints[0];
  assert.deepEqual([ep.port, ep.scheme, ep.path, ep.interval, ep.scrapeTimeout], ['gw-metrics', 'http', '/metrics', '30s', '10s']);

  // The injector's own output, with the chart's defaults document: the monitor selects the pod and a container
  // declares the named port on 8081, whether the watcher is a container or a native sidecar (init container).
  const chartDefaults = find(objects, 'ConfigMap', `${FULLNAME}-defaults`).data['config.yaml'];
  for (const nativeSidecar of [false, true]) {
    const parsed = parseDefaults(`${chartDefaults}\nnativeSidecar: ${nativeSidecar}\n`, 'chart');
    assert.deepEqual(parsed.errors, []);
    const ctx = { defaults: parsed.defaults, version: VERSION, tunnelKey: 'monitoring-test-key-0123456789' };
    const deployment = {
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'orders', namespace: 'shop' },
      spec: { selector: { matchLabels: { app: 'orders' } }, template: { metadata: { labels: { app: 'orders', role: 'preview' }, annotations: { 'ghostwire.dev/enabled': 'true' } }, spec: { containers: [{ name: 'app', image: 'orders:1', ports: [{ name: 'http', containerPort: 8080 }] }] } } },
    };
    const [result] = injectDocuments([deployment], ctx, 'shop');
    assert.equal(result?.outcome?.result, 'injected', `nativeSidecar=${nativeSidecar}: ${result?.outcome?.reason}`);
    const patched = result!.output as any;
    const pod = patched.spec.template;
    assert.ok(selects(pm.spec.selector, pod.metadata.labels ?? {}), 'the PodMonitor selects the injected pod');
    const all = [...(pod.spec.initContainers ?? []), ...pod.spec.containers];
    const declaring = all.filter((c: any) => (c.ports ?? []).some((p: any) => p.name === ep.port));
    assert.equal(declaring.length, 1, `nativeSidecar=${nativeSidecar}: exactly one container declares ${ep.port}`);
    const port = declaring[0].ports.find((p: any) => p.name === ep.port);
    assert.deepEqual([declaring[0].name, port.containerPort, port.protocol ?? 'TCP'], ['ghostwire-watcher', 8081, 'TCP']);
    assert.equal(pod.spec.initContainers?.some((c: any) => c.name === 'ghostwire-watcher') ?? false, nativeSidecar);
  }
});

test('watchers\' PodMonitor: namespaces from injectedNamespaces (both forms) or the namespaces value; a selector narrows discovery', (t) => {
  const helm = helmOrSkip(t);
  if (!helm) return;
  const pmOf = (set: string[], values?: unknown) => find(ok(helm, ['metrics.podMonitor.enabled=true', ...set], values), 'PodMonitor', `${FULLNAME}-watchers`);
  assert.deepEqual(pmOf(['injectedNamespaces[0]=shop', 'injectedNamespaces[1].name=pay', 'injectedNamespaces[1].serviceAccounts={pay-web}', 'injectedServiceAccounts={orders-web}']).spec.namespaceSelector, { matchNames: ['shop', 'pay'] });
  assert.deepEqual(pmOf(['injectedNamespaces={shop}', 'injectedServiceAccounts={orders-web}', 'metrics.podMonitor.namespaces={a,b}']).spec.namespaceSelector, { matchNames: ['a', 'b'] });
  const narrowed = pmOf([], { metrics: { podMonitor: { selector: { matchLabels: { 'ghostwire.dev/injected': 'true' }, matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['batch'] }] } } } });
  assert.deepEqual(narrowed.spec.selector, { matchLabels: { 'ghostwire.dev/injected': 'true' }, matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['batch'] }] });
  assert.equal(pmOf(['metrics.podMonitor.namespace=monitoring']).metadata.namespace, 'monitoring');
});

test('PrometheusRule: every alert has a severity, summary, description and a runbook_url pointing at its section of docs/runbook.md', (t) => {
  const helm = helmOrSkip(t);
  if (!helm) return;
  const objects = ok(helm, ['metrics.prometheusRule.enabled=true', 'metrics.podMonitor.enabled=true', 'metrics.prometheusRule.labels.release=kps']);
  const rule = find(objects, 'PrometheusRule', FULLNAME);
  assert.equal(rule.metadata.namespace, NS);
  assert.equal(rule.metadata.labels?.release, 'kps');
  const rules = alerts(objects);
  assert.deepEqual(rules.map((r) => r.alert).sort(), [...ALERT_NAMES].sort(), 'the documented alert set');
  const anchors = runbookAnchors();
  for (const r of rules) {
    assert.ok(['critical', 'warning', 'info'].includes(r.labels.severity), `${r.alert}: severity ${r.labels.severity}`);
    assert.ok(r.annotations.summary?.length > 10 && !r.annotations.summary.includes('{{'), `${r.alert}: a plain summary`);
    assert.ok(r.annotations.description?.length > 40, `${r.alert}: a description`);
    assert.equal(r.annotations.runbook_url, `docs/runbook.md#${r.alert.toLowerCase()}`);
    assert.ok(anchors.has(r.alert.toLowerCase()), `docs/runbook.md has a section "## ${r.alert}"`);
    assert.match(r.expr, /ghostwire|inject\.ghostwire\.dev|up\{/, `${r.alert}: expression about ghostwire`);
  }
  // Without the PodMonitor (and no watcherSelector) the rules cannot know the watchers' scrape job: no WatcherDown.
  const without = alerts(ok(helm, ['metrics.prometheusRule.enabled=true'])).map((r) => r.alert);
  assert.deepEqual(without.sort(), ALERT_NAMES.filter((a) => a !== 'GhostwireWatcherDown').sort());
});

test('PrometheusRule knobs: runbook base, extra labels, disabled alerts, selectors, thresholds', (t) => {
  const helm = helmOrSkip(t);
  if (!helm) return;
  const values = {
    metrics: {
      podMonitor: { enabled: true },
      prometheusRule: {
        enabled: true,
        runbookBaseUrl: 'https://docs.example.com/ghostwire/runbook',
        additionalRuleLabels: { team: 'platform', page: 'no' },
        disabledAlerts: ['GhostwireWorkloadConfigStale', 'GhostwireWebhookCallsFailing'],
        webhookSelector: 'job="ghostwire",cluster="eu-1"',
        watcherSelector: 'job=~"kubernetes-pods|ghostwire-watchers"',
        certificateExpiryDays: 30,
        watcherSyncStaleSeconds: 900,
        admissionErrorsPerSecond: 0.5,
        admissionLatencySeconds: 2,
        configStaleFor: '3h',
      },
    },
  };
  const rules = alerts(ok(helm, [], values));
  const by = new Map(rules.map((r) => [r.alert, r]));
  assert.ok(!by.has('GhostwireWorkloadConfigStale') && !by.has('GhostwireWebhookCallsFailing'), 'disabled alerts are not rendered');
  assert.equal(rules.length, ALERT_NAMES.length - 2);
  for (const r of rules) {
    assert.equal(r.labels.team, 'platform');
    assert.equal(r.labels.page, 'no');
    assert.equal(r.annotations.runbook_url, `https://docs.example.com/ghostwire/runbook#${r.alert.toLowerCase()}`);
  }
  assert.match(by.get('GhostwireAdmissionErrors').expr, /ghostwire_admission_requests_total\{job="ghostwire",cluster="eu-1",result="error"\}\[5m\]\)\) > 0\.5/);
  assert.match(by.get('GhostwireWebhookDown').expr, /up\{job="ghostwire",cluster="eu-1"\}/);
  assert.match(by.get('GhostwireWatcherDown').expr, /up\{job=~"kubernetes-pods\|ghostwire-watchers"\}/);
  assert.match(by.get('GhostwireWebhookCertificateExpiring').expr, /< 2592000$/);
  assert.match(by.get('GhostwireWatcherSyncStale').expr, /> 900$/);
  assert.match(by.get('GhostwireAdmissionLatencyHigh').expr, /> 2\n/);

  // Every alert disabled: an empty, valid rule list rather than a broken object.
  const none = find(ok(helm, [], { metrics: { podMonitor: { enabled: true }, prometheusRule: { enabled: true, disabledAlerts: [...ALERT_NAMES] } } }), 'PrometheusRule');
  assert.deepEqual(none.spec.groups, []);
});

test('values.schema.json: the monitoring values are described and hostile values are refused with the field named', (t) => {
  const schema = JSON.parse(readFileSync(repoPath('charts', 'ghostwire', 'values.schema.json'), 'utf8'));
  const metrics = schema.properties.metrics.properties;
  for (const k of ['serviceMonitor', 'podMonitor', 'prometheusRule', 'dashboard']) {
    assert.equal(metrics[k].additionalProperties, false, `metrics.${k} is closed`);
    for (const [name, prop] of Object.entries(metrics[k].properties as Record<string, any>)) {
      assert.ok(typeof prop.description === 'string' && prop.description.length > 5, `metrics.${k}.${name} has a description`);
    }
  }
  assert.deepEqual([...metrics.prometheusRule.properties.disabledAlerts.items.enum].sort(), [...ALERT_NAMES].sort());

  const helm = helmOrSkip(t);
  if (!helm) return;
  const cases: Array<[unknown, RegExp]> = [
    [{ metrics: { prometheusRule: { webhookSelector: 'job="x"}) or vector(1) #' } } }, /webhookSelector/],
    [{ metrics: { prometheusRule: { watcherSelector: 'job="a" or up' } } }, /watcherSelector/],
    [{ metrics: { prometheusRule: { additionalRuleLabels: { team: 7 } } } }, /additionalRuleLabels/],
    [{ metrics: { prometheusRule: { disabledAlerts: ['GhostwireTypo'] } } }, /disabledAlerts/],
    [{ metrics: { prometheusRule: { runbookBaseUrl: 'https://x/{{ .Values }}' } } }, /runbookBaseUrl/],
    [{ metrics: { prometheusRule: { certificateExpiryDays: 0 } } }, /certificateExpiryDays/],
    [{ metrics: { prometheusRule: { admissionLatencySeconds: 0 } } }, /admissionLatencySeconds/],
    [{ metrics: { prometheusRule: { configStaleFor: '1 hour' } } }, /configStaleFor/],
    [{ metrics: { serviceMonitor: { interval: '30 seconds' } } }, /interval/],
    [{ metrics: { serviceMonitor: { labels: { release: 'x'.repeat(64) } } } }, /labels/],
    [{ metrics: { podMonitor: { labels: { 'bad key': 'x' } } } }, /bad key/],
    [{ metrics: { podMonitor: { namespaces: ['Not_A_Namespace'] } } }, /namespaces/],
    [{ metrics: { podMonitor: { selector: { matchExpressions: [{ key: 'a', operator: 'Like' }] } } } }, /operator/],
    [{ metrics: { dashboard: { sidecarLabel: 'has space' } } }, /sidecarLabel/],
    [{ metrics: { dashboard: { sidecarLabelValue: 'x'.repeat(64) } } }, /sidecarLabelValue/],
    [{ metrics: { serviceMonitor: { enable: true } } }, /enable|additional/i],
  ];
  // --set passes decimals as strings: accepted as numbers, and a zero latency is refused by the template.
  assert.match(alerts(ok(helm, ['metrics.prometheusRule.enabled=true', 'metrics.prometheusRule.admissionLatencySeconds=0.25', 'metrics.prometheusRule.admissionErrorsPerSecond=0.002'])).find((r) => r.alert === 'GhostwireAdmissionErrors').expr, /> 0\.002$/);
  fails(helm, ['metrics.prometheusRule.enabled=true', 'metrics.prometheusRule.admissionLatencySeconds=0.0'], undefined, /metrics\.prometheusRule\.admissionLatencySeconds: 0\.0 is not allowed; allowed: a number of seconds above 0/);
  // Checked by the template, with the field, the value and what is allowed.
  for (const key of ['severity', 'alertname', 'bad-name', '0day']) {
    fails(helm, [], { metrics: { prometheusRule: { enabled: true, additionalRuleLabels: { [key]: 'x' } } } }, new RegExp(`metrics\\.prometheusRule\\.additionalRuleLabels: "${key}" is not allowed; allowed: Prometheus label names`));
  }
  for (const [values, detail] of cases) {
    const r = render(helm, [], values);
    assert.notEqual(r.status, 0, `${JSON.stringify(values)} must be rejected`);
    assert.match(r.stderr, /values don't meet the specifications of the schema/, `${JSON.stringify(values)}: schema error expected, got:\n${r.stderr}`);
    assert.match(r.stderr, detail, `${JSON.stringify(values)}: the error names the field:\n${r.stderr}`);
  }
});

test('dashboard ConfigMap: the chart\'s JSON verbatim, with the Grafana sidecar label (configurable) and annotations', (t) => {
  const helm = helmOrSkip(t);
  if (!helm) return;
  const json = readFileSync(repoPath('charts', 'ghostwire', 'dashboards', 'ghostwire.json'), 'utf8');
  const cm = find(ok(helm, ['metrics.dashboard.enabled=true']), 'ConfigMap', `${FULLNAME}-dashboard`);
  assert.equal(cm.metadata.namespace, NS);
  assert.equal(cm.metadata.labels?.grafana_dashboard, '1');
  assert.equal(cm.data['ghostwire.json'], json.trim());
  assert.deepEqual(JSON.parse(cm.data['ghostwire.json']), JSON.parse(json));
  assert.ok(Buffer.byteLength(JSON.stringify(cm)) < 256 * 1024, 'well under the 1 MiB object limit');

  const custom = find(ok(helm, [], { metrics: { dashboard: { enabled: true, namespace: 'monitoring', sidecarLabel: 'example.com/dashboard', sidecarLabelValue: 'ghostwire', annotations: { grafana_folder: 'Platform' }, labels: { grafana_dashboard: '0' } } } }), 'ConfigMap', `${FULLNAME}-dashboard`);
  assert.equal(custom.metadata.namespace, 'monitoring');
  assert.equal(custom.metadata.labels?.['example.com/dashboard'], 'ghostwire');
  assert.equal(custom.metadata.labels?.grafana_dashboard, '0', 'extra labels are added');
  assert.equal(custom.metadata.annotations?.grafana_folder, 'Platform');
  // The sidecar label cannot be overridden away by an extra label of the same key.
  const same = find(ok(helm, [], { metrics: { dashboard: { enabled: true, labels: { grafana_dashboard: '0' } } } }), 'ConfigMap', `${FULLNAME}-dashboard`);
  assert.equal(same.metadata.labels?.grafana_dashboard, '1');
});

test('docs/runbook.md: one section per alert, each saying what it means, how to check and how to fix', () => {
  const text = readFileSync(repoPath('docs', 'runbook.md'), 'utf8');
  const sections = text.split(/^## /m).slice(1).map((s) => ({ title: s.slice(0, s.indexOf('\n')).trim(), body: s }));
  assert.deepEqual(sections.map((s) => s.title).sort(), [...ALERT_NAMES].sort(), 'a section for every alert and no other');
  for (const s of sections) {
    for (const part of ['**What it means.**', '**How to check.**', '**How to fix.**']) assert.ok(s.body.includes(part), `${s.title}: ${part}`);
  }
  for (const name of ALERT_NAMES) assert.ok(text.includes(`[${name}](#${name.toLowerCase()})`), `the overview table links ${name}`);
});
