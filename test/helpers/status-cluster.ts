// A cluster as `ghostwire status` reads it, built with the webhook's own code: workloads injected by mutate() with
// the defaults of the time, their ReplicaSets, Jobs and Pods, the webhook's configuration, Deployment, replicas and
// defaults ConfigMap, and what each pod's /metrics answers (text from the real metric registries). Fixed uids,
// times and clock, so the report is the same on every run (the goldens under test/golden/status).
import { readFileSync } from 'node:fs';
import { VERSION } from '../../src/version.js';
import { type Defaults, parseDefaults } from '../../src/config/index.js';
import type { KubeObject } from '../../src/kube/objects.js';
import { injectDocuments } from '../../src/offline/inject-documents.js';
import { WatcherMetrics } from '../../src/runtime/watcher/metrics.js';
import { createWebhookMetrics } from '../../src/server/metrics.js';
import { type DefaultsResolution, defaultsFromConfigMap } from '../../src/status/defaults.js';
import type { DriftContext } from '../../src/status/drift.js';
import type { ProbeResult } from '../../src/status/model.js';
import type { Listed, ReportInput } from '../../src/status/report.js';
import { webhookStatus } from '../../src/status/webhook-health.js';
import { chooseScope } from '../../src/status/webhook.js';
import { KINDS } from '../../src/status/workloads.js';
import { repoPath } from './paths.js';

export const NOW = Date.parse('2026-03-01T12:00:00Z');
export const TUNNEL_KEY = 'status-golden-tunnel-key-0123456789';
const CA = Buffer.from(readFileSync(repoPath('test', 'fixtures', 'status', 'webhook-ca.crt'))).toString('base64');

const DOC_BEFORE = 'image: ghostwire:0.1.0\nnetwork:\n  wildcardDNS: tunnel.example.com\n';
/** The defaults in force now: the change after injection raised cpuLimit. */
export const DOC_NOW = `${DOC_BEFORE}cpuLimit: 300m\n`;

function defaults(doc: string): Defaults {
  const { defaults, errors } = parseDefaults(doc, 'fixture');
  if (errors.length > 0) throw new Error(JSON.stringify(errors));
  return defaults;
}
export const BEFORE = defaults(DOC_BEFORE);
export const CURRENT = defaults(DOC_NOW);

let uids = 0;
const uid = (): string => `00000000-0000-4000-8000-${String(++uids).padStart(12, '0')}`;
const at = (day: string): string => `2026-${day}T10:00:00Z`;

export function inject(object: KubeObject, with_: Defaults): KubeObject {
  const [r] = injectDocuments([object], { defaults: with_, version: VERSION, tunnelKey: TUNNEL_KEY }, String(object.metadata?.namespace));
  if (!r?.outcome || !['injected', 'updated'].includes(r.outcome.result)) throw new Error(`fixture ${object.metadata?.name} not injected: ${r?.outcome?.reason}`);
  return r.output as KubeObject;
}

export function workload(kind: string, namespace: string, name: string, opts: { annotations?: Record<string, string>; templateAnnotations?: Record<string, string>; role?: string; spec?: Record<string, unknown>; created?: string } = {}): KubeObject {
  const info = KINDS.find((k) => k.kind.kind === kind)!;
  const podTemplate = {
    metadata: { labels: { app: name, role: opts.role ?? 'active' }, ...(opts.templateAnnotations ? { annotations: opts.templateAnnotations } : {}) },
    spec: { containers: [{ name: 'app', image: `${name}:1`, ports: [{ name: 'http', containerPort: 8080 }] }], ...opts.spec },
  };
  const metadata = { name, namespace, uid: uid(), creationTimestamp: opts.created ?? at('02-10'), annotations: opts.annotations ?? { 'ghostwire.dev/enabled': 'true' } };
  if (kind === 'Pod') return { apiVersion: 'v1', kind, metadata: { ...metadata, labels: podTemplate.metadata.labels, annotations: { ...metadata.annotations, ...opts.templateAnnotations } }, spec: podTemplate.spec };
  const spec = kind === 'CronJob' ? { schedule: '0 * * * *', jobTemplate: { spec: { template: podTemplate } } } : { selector: { matchLabels: { app: name } }, template: podTemplate };
  return { apiVersion: info.apiVersion, kind, metadata, spec };
}

const templateOf = (o: KubeObject): any => (o.kind === 'CronJob' ? (o.spec as any).jobTemplate.spec.template : (o.spec as any).template);

/** An object owned by `owner` (a ReplicaSet of a Deployment, a Job of a CronJob) carrying the owner's template. */
export function owned(kind: 'ReplicaSet' | 'Job', owner: KubeObject, name: string): KubeObject {
  const info = KINDS.find((k) => k.kind.kind === kind)!;
  return {
    apiVersion: info.apiVersion,
    kind,
    metadata: { name, namespace: owner.metadata?.namespace, uid: uid(), creationTimestamp: at('02-11'), ownerReferences: [{ apiVersion: String(owner.apiVersion), kind: String(owner.kind), name: String(owner.metadata?.name), uid: String(owner.metadata?.uid), controller: true }] },
    spec: { template: templateOf(owner) },
  };
}

/** A pod of `owner` from its template; Running with `ip`, or in `phase` without one. */
export function pod(owner: KubeObject, name: string, state: { ip?: string; phase?: string; role?: string; template?: any } = {}): KubeObject {
  const t = state.template ?? templateOf(owner);
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: owner.metadata?.namespace,
      uid: uid(),
      labels: { ...t.metadata?.labels, ...(state.role ? { role: state.role } : {}) },
      annotations: t.metadata?.annotations ?? {},
      ownerReferences: [{ apiVersion: String(owner.apiVersion), kind: String(owner.kind), name: String(owner.metadata?.name), uid: String(owner.metadata?.uid), controller: true }],
    },
    spec: t.spec,
    status: state.ip ? { phase: 'Running', podIP: state.ip } : { phase: state.phase ?? 'Pending' },
  };
}

/** What a watcher's /metrics says, from a real WatcherMetrics registry. */
export async function watcherText(o: { jump: 'preview' | 'active'; rules: Record<string, number>; syncAgo: number | null; errors?: Record<string, number>; podWatch?: boolean }): Promise<ProbeResult> {
  const m = new WatcherMetrics();
  m.jumpState.set({ state: 'preview' }, o.jump === 'preview' ? 1 : 0);
  m.jumpState.set({ state: 'active' }, o.jump === 'active' ? 1 : 0);
  for (const [service, n] of Object.entries(o.rules)) m.dnatRules.set({ service }, n);
  if (o.syncAgo !== null) m.lastSync.set(NOW / 1000 - o.syncAgo);
  for (const [type, n] of Object.entries(o.errors ?? {})) m.errors.inc({ type }, n);
  m.watchUp.set(o.podWatch === false ? 0 : 1);
  m.serviceWatchUp.set(1);
  return { ok: true, text: await m.registry.metrics() };
}

async function webhookText(certDaysLeft: number, defaultsValid: boolean): Promise<ProbeResult> {
  const m = createWebhookMetrics(false);
  m.certificateExpiry.set(NOW / 1000 + certDaysLeft * 86_400);
  m.defaultsValid.set(defaultsValid ? 1 : 0);
  return { ok: true, text: await m.registry.metrics() };
}

const mwc = (rules: string[][]): KubeObject => ({
  apiVersion: 'admissionregistration.k8s.io/v1',
  kind: 'MutatingWebhookConfiguration',
  metadata: { name: 'ghostwire', creationTimestamp: at('02-01') },
  webhooks: [
    {
      name: 'inject.ghostwire.dev',
      failurePolicy: 'Fail',
      clientConfig: { service: { namespace: 'ghostwire', name: 'ghostwire', path: '/mutate', port: 443 }, caBundle: CA },
      namespaceSelector: {
        matchLabels: { 'ghostwire.dev/injection': 'enabled' },
        matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', 'kube-public', 'kube-node-lease', 'ghostwire'] }],
      },
      objectSelector: { matchExpressions: [{ key: 'ghostwire.dev/component', operator: 'NotIn', values: ['webhook', 'shadow'] }] },
      rules: rules.map(([group, ...resources]) => ({ apiGroups: [group], apiVersions: ['v1'], resources, operations: ['CREATE', 'UPDATE'], scope: 'Namespaced' })),
    },
  ],
});

/** The chart's rules without argoRollouts. */
const RULES = [['', 'pods'], ['apps', 'deployments', 'statefulsets', 'daemonsets', 'replicasets'], ['batch', 'jobs', 'cronjobs']];

export function webhookDeployment(ready: number): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'ghostwire', namespace: 'ghostwire', uid: uid(), labels: { 'ghostwire.dev/component': 'webhook' } },
    spec: {
      replicas: 2,
      selector: { matchLabels: { 'app.kubernetes.io/name': 'ghostwire', 'app.kubernetes.io/component': 'webhook' } },
      template: {
        spec: {
          containers: [{
            name: 'webhook',
            command: ['ghostwire'],
            args: ['serve', '--port=8443', '--defaults-configmap=ghostwire/ghostwire-defaults', '--namespace=$(POD_NAMESPACE)'],
            env: [{ name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } }],
            ports: [{ name: 'https', containerPort: 8443 }],
          }],
        },
      },
    },
    status: { replicas: 2, readyReplicas: ready, availableReplicas: ready, updatedReplicas: 2 },
  };
}

const configMap = (doc: string): KubeObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'ghostwire-defaults', namespace: 'ghostwire', resourceVersion: '4711' }, data: { 'config.yaml': doc } });

export interface Fixture {
  objects: Listed[];
  probes: Map<string, ProbeResult>;
  input: ReportInput;
  /** Everything an API server would hold for this fixture: the objects, the webhook's, the namespaces. */
  stored: KubeObject[];
}

/** The webhook's objects and the namespaces as an API server stores them. */
function clusterObjects(ready: number, replicaIps: Array<string | undefined>): KubeObject[] {
  const deployment = webhookDeployment(ready);
  const labels = (deployment.spec as any).selector.matchLabels;
  const replicas = replicaIps.map((ip, i) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: `ghostwire-6d8f7-${['abcde', 'fghij'][i]}`, namespace: 'ghostwire', uid: uid(), labels },
    spec: (deployment.spec as any).template.spec,
    status: ip ? { phase: 'Running', podIP: ip } : { phase: 'Pending' },
  }));
  const ns = (name: string, l: Record<string, string>) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { 'kubernetes.io/metadata.name': name, ...l } } });
  return [mwc(RULES), deployment, ...replicas, configMap(DOC_NOW), ns('shop', { 'ghostwire.dev/injection': 'enabled' }), ns('legacy', { team: 'billing' }), ns('ghostwire', {})];
}

function listed(objects: KubeObject[]): Listed[] {
  return objects.map((object) => ({ kind: KINDS.find((k) => k.kind.kind === object.kind)!, object }));
}

function reportInput(objects: KubeObject[], probes: Map<string, ProbeResult>, replicas: Array<{ name: string; probe: ProbeResult | undefined }>, ready: number, namespaces: string[] | 'all', resolution: DefaultsResolution): ReportInput {
  const deployment = webhookDeployment(ready);
  const choice = chooseScope([mwc(RULES)]);
  const drift: DriftContext | undefined = resolution.defaults && { defaults: resolution.defaults, version: VERSION, tunnelKey: 'stand-in-key-0123456789', tunnelKeyKnown: false, ownNamespace: 'ghostwire' };
  return {
    scope: { namespaces, object: null },
    objects: listed(objects),
    namespaceLabels: new Map<string, Record<string, string> | undefined>([['shop', { 'ghostwire.dev/injection': 'enabled' }], ['legacy', { team: 'billing' }], ['ghostwire', {}]]),
    admission: choice.scope,
    webhook: webhookStatus({ choice, deployment, lookedFor: 'label ghostwire.dev/component=webhook', defaults: resolution, replicas, now: NOW, certWarnDays: 14 }),
    drift,
    driftUnknown: 'the defaults in force are unknown',
    probes,
    incomplete: [],
    now: NOW,
    options: { syncStaleSeconds: 300 },
  };
}

/** Every case of the report in one cluster (the "cluster" goldens). */
export async function clusterFixture(): Promise<Fixture> {
  uids = 0;
  const orders = inject(workload('Deployment', 'shop', 'orders', { role: 'preview' }), CURRENT);
  const ordersRs = owned('ReplicaSet', orders, 'orders-7d9f8c');
  const cart = inject(workload('Deployment', 'shop', 'cart'), BEFORE);
  const cartRs = owned('ReplicaSet', cart, 'cart-5c4b7a');
  const ledger = inject(workload('StatefulSet', 'shop', 'ledger', { templateAnnotations: { 'ghostwire.dev/nativeSidecar': 'true' } }), CURRENT);
  const report = inject(workload('CronJob', 'shop', 'report'), CURRENT);
  const reportJob = owned('Job', report, 'report-29011');
  const debug = inject(workload('Pod', 'shop', 'debug'), CURRENT);
  (debug as any).status = { phase: 'Running', podIP: '10.244.1.40' };
  const retired = inject(workload('Deployment', 'shop', 'retired'), CURRENT);
  retired.metadata!.annotations!['ghostwire.dev/enabled'] = 'false';
  const tunnel = inject(workload('Deployment', 'shop', 'tunnel', { annotations: { 'ghostwire.dev/enabled': 'true', 'ghostwire.dev/tunnel': 'true' } }), CURRENT);
  const objects: KubeObject[] = [
    orders, ordersRs, pod(ordersRs, 'orders-7d9f8c-a1b2c', { ip: '10.244.1.11' }), pod(ordersRs, 'orders-7d9f8c-d3e4f', { ip: '10.244.1.12', role: 'active' }),
    // Left over from earlier rollouts: one with the config before the defaults change, one from before injection.
    pod(ordersRs, 'orders-5b6c7d-m4n5b', { ip: '10.244.1.13', template: templateOf(inject(workload('Deployment', 'shop', 'orders', { role: 'preview' }), BEFORE)) }),
    pod(ordersRs, 'orders-4a3b2c-v6c7x', { ip: '10.244.1.14', template: templateOf(workload('Deployment', 'shop', 'orders', { role: 'preview' })) }),
    cart, cartRs, pod(cartRs, 'cart-5c4b7a-x9y8z', { ip: '10.244.1.21' }),
    ledger, pod(ledger, 'ledger-0', { phase: 'Pending' }),
    workload('Deployment', 'shop', 'early', { created: at('01-15') }), pod(workload('Deployment', 'shop', 'early'), 'early-6f5e4d-q1w2e', { phase: 'Pending' }),
    report, reportJob, pod(reportJob, 'report-29011-k8j7h', { phase: 'Succeeded' }),
    workload('Rollout', 'shop', 'checkout'),
    workload('Deployment', 'shop', 'netdebug', { spec: { hostNetwork: true } }),
    workload('Deployment', 'shop', 'typo', { annotations: { 'ghostwire.dev/enabled': 'true', 'ghostwire.dev/jumpHook': 'FORWARD' } }),
    retired, debug, tunnel,
    workload('Deployment', 'shop', 'plain', { annotations: {} }),
    workload('Deployment', 'legacy', 'billing'),
  ];
  const probes = new Map<string, ProbeResult>([
    ['shop/orders-7d9f8c-a1b2c', await watcherText({ jump: 'preview', rules: { api: 2, payments: 1 }, syncAgo: 4 })],
    ['shop/orders-5b6c7d-m4n5b', await watcherText({ jump: 'preview', rules: { api: 2, payments: 1 }, syncAgo: 6 })],
    ['shop/orders-7d9f8c-d3e4f', { ok: false, error: 'HTTP 503 ServiceUnavailable: error trying to reach service: dial tcp 10.244.1.12:8081: connect: connection refused' }],
    ['shop/cart-5c4b7a-x9y8z', await watcherText({ jump: 'preview', rules: { api: 2 }, syncAgo: 900, podWatch: false, errors: { api_watch: 12 } })],
    ['shop/debug', await watcherText({ jump: 'active', rules: { api: 2 }, syncAgo: 2, errors: { events: 3 } })],
  ]);
  const replicas = [
    { name: 'ghostwire-6d8f7-abcde', probe: await webhookText(10, true) },
    { name: 'ghostwire-6d8f7-fghij', probe: undefined },
  ];
  const resolution = defaultsFromConfigMap(configMap(DOC_NOW), { namespace: 'ghostwire', name: 'ghostwire-defaults' });
  return { objects: listed(objects), probes, input: reportInput(objects, probes, replicas, 1, 'all', resolution), stored: [...objects, ...clusterObjects(1, ['10.244.0.2', undefined])] };
}

/** One healthy workload with a healthy webhook (the "all-well" golden, exit code 0). */
export async function allWellFixture(): Promise<Fixture> {
  uids = 100;
  const orders = inject(workload('Deployment', 'shop', 'orders', { role: 'preview' }), CURRENT);
  const rs = owned('ReplicaSet', orders, 'orders-7d9f8c');
  const objects = [orders, rs, pod(rs, 'orders-7d9f8c-a1b2c', { ip: '10.244.1.11' })];
  const probes = new Map<string, ProbeResult>([['shop/orders-7d9f8c-a1b2c', await watcherText({ jump: 'preview', rules: { api: 2 }, syncAgo: 3 })]]);
  const replicas = [
    { name: 'ghostwire-6d8f7-abcde', probe: await webhookText(300, true) },
    { name: 'ghostwire-6d8f7-fghij', probe: await webhookText(300, true) },
  ];
  const resolution = defaultsFromConfigMap(configMap(DOC_NOW), { namespace: 'ghostwire', name: 'ghostwire-defaults' });
  return { objects: listed(objects), probes, input: reportInput(objects, probes, replicas, 2, ['shop'], resolution), stored: [...objects, ...clusterObjects(2, ['10.244.0.2', '10.244.0.3'])] };
}
