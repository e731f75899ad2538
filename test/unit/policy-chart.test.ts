// The chart in policy mode (injector.mode=policy), rendered by the real helm: the generated policies, named for the
// release and scoped like the webhook, a parameter ConfigMap from .Values.defaults, nothing of the webhook, and a
// clear failure where policy mode cannot serve (no MutatingAdmissionPolicy v1, tunnels, the webhook's monitor).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { parseDefaults } from '../../src/config/defaults.js';
import { OPTION_LIST } from '../../src/config/options.js';
import { parameterData } from '../../src/policy/params.js';
import { renderPolicy } from '../../src/policy/objects.js';
import { CHART_POLICY_FILE, chartPolicyFile } from '../../src/policy/output.js';
import { builtinDefaults } from '../../src/config/defaults.js';
import { VERSION } from '../../src/version.js';
import { repoPath } from '../helpers/paths.js';
import { type K8sObject, helmOrSkip, parseManifests, runHelm } from '../helpers/helm.js';

const CHART = repoPath('charts', 'ghostwire');
const NS = 'ghostwire-system';
const FULLNAME = 'gw-ghostwire';
const MAP_V1 = 'admissionregistration.k8s.io/v1/MutatingAdmissionPolicy';

function render(helm: string, set: string[], apiVersions = [MAP_V1]): { objects: K8sObject[]; status: number | null; stderr: string } {
  const args = ['template', 'gw', CHART, '--namespace', NS, ...apiVersions.flatMap((a) => ['--api-versions', a]), ...set.flatMap((s) => ['--set', s])];
  const r = runHelm(helm, args);
  return { objects: r.status === 0 ? parseManifests(r.stdout) : [], status: r.status, stderr: r.stderr };
}

test('charts/ghostwire/files/admission-policy.yaml is the generator\'s current output', () => {
  const file = repoPath(...CHART_POLICY_FILE);
  const want = chartPolicyFile(VERSION);
  if (process.env.UPDATE_GOLDEN === '1') writeFileSync(file, want);
  assert.ok(existsSync(file), `${CHART_POLICY_FILE.join('/')} is missing; run UPDATE_GOLDEN=1 npm run test:unit`);
  assert.ok(readFileSync(file, 'utf8') === want, `${CHART_POLICY_FILE.join('/')} is stale: run UPDATE_GOLDEN=1 npm run test:unit and review the diff`);
});

test('policy mode installs the policies and their parameters, and nothing of the webhook', (t) => {
  const helm = helmOrSkip(t);
  if (!helm) return;
  const { objects, status, stderr } = render(helm, ['injector.mode=policy', 'injectedNamespaces[0].name=shop', 'injectedNamespaces[0].serviceAccounts={orders-web}']);
  assert.equal(status, 0, stderr);
  const kinds = objects.map((o) => `${o.kind}/${o.metadata.name}`).sort();
  assert.deepEqual(kinds.filter((k) => /AdmissionPolicy|policy-defaults/.test(k)), [
    `ConfigMap/${FULLNAME}-policy-defaults`,
    `MutatingAdmissionPolicy/${FULLNAME}-inject`,
    `MutatingAdmissionPolicyBinding/${FULLNAME}-inject`,
    `ValidatingAdmissionPolicy/${FULLNAME}-defaults-check`,
    `ValidatingAdmissionPolicy/${FULLNAME}-validate`,
    `ValidatingAdmissionPolicy/${FULLNAME}-warn`,
    `ValidatingAdmissionPolicyBinding/${FULLNAME}-defaults-check`,
    `ValidatingAdmissionPolicyBinding/${FULLNAME}-validate`,
    `ValidatingAdmissionPolicyBinding/${FULLNAME}-warn`,
  ]);
  for (const kind of ['Deployment', 'Service', 'MutatingWebhookConfiguration', 'Secret', 'Certificate', 'Issuer', 'PodDisruptionBudget', 'ServiceAccount']) {
    assert.deepEqual(objects.filter((o) => o.kind === kind).map((o) => o.metadata.name), [], `no ${kind} in policy mode`);
  }
  // The injected pods still need their RBAC.
  assert.ok(objects.some((o) => o.kind === 'Role' && o.metadata.namespace === 'shop'));
});

test('the chart\'s policies are the generator\'s, named for the release and pointed at its ConfigMap', (t) => {
  const helm = helmOrSkip(t);
  if (!helm) return;
  const { objects } = render(helm, ['injector.mode=policy']);
  const generated = renderPolicy({ name: 'ghostwire', namespace: 'ghostwire', defaults: builtinDefaults(), version: VERSION, optInLabel: { key: 'ghostwire.dev/injection', value: 'enabled' } });
  for (const g of generated.filter((o) => o.kind !== 'ConfigMap')) {
    const name = (g.metadata as { name: string }).name.replace(/^ghostwire/, FULLNAME);
    const c = objects.find((o) => o.kind === g.kind && o.metadata.name === name);
    assert.ok(c, `${g.kind} ${name}`);
    const spec = structuredClone(c.spec);
    const want = structuredClone(g.spec as any);
    if (want.policyName) want.policyName = name;
    if (want.paramRef) Object.assign(want.paramRef, { name: `${FULLNAME}-policy-defaults`, namespace: NS });
    if (want.paramKind) want.matchConstraints.namespaceSelector.matchExpressions[0].values = ['kube-system', 'kube-public', 'kube-node-lease', NS];
    if (!want.paramKind && want.matchConstraints && !String(g.kind).endsWith('Binding')) {
      want.matchConstraints.resourceRules[0].resourceNames = [`${FULLNAME}-policy-defaults`];
      want.matchConstraints.namespaceSelector = { matchLabels: { 'kubernetes.io/metadata.name': NS } };
    }
    assert.deepEqual(spec, want, `${g.kind} ${name}`);
  }
});

test('the policies\' scope is the webhook\'s scope, whatever the scope values', (t) => {
  const helm = helmOrSkip(t);
  if (!helm) return;
  for (const scope of [[], ['webhook.namespaceSelector.requireOptInLabel=false'], ['webhook.excludeNamespaces={legacy,batch}', 'webhook.namespaceSelector.optInLabel.key=example.com/mesh']]) {
    const webhook: any = render(helm, scope).objects.find((o) => o.kind === 'MutatingWebhookConfiguration')!.webhooks[0];
    const policy: K8sObject[] = render(helm, ['injector.mode=policy', ...scope]).objects.filter((o) => o.spec?.paramKind);
    assert.equal(policy.length, 3);
    for (const p of policy) {
      assert.deepEqual(p.spec.matchConstraints.namespaceSelector, webhook.namespaceSelector, `${p.metadata.name} with ${scope.join(' ')}`);
      assert.deepEqual(p.spec.matchConstraints.objectSelector, webhook.objectSelector, p.metadata.name);
    }
  }
});

test('the parameter ConfigMap carries .Values.defaults as the webhook reads them, key by key', (t) => {
  const helm = helmOrSkip(t);
  if (!helm) return;
  const set = ['defaults.natChain=TEAM_DNAT', 'defaults.excludeCidrs={10.0.0.0/8,192.168.0.0/16}', 'defaults.ipv6=true', 'defaults.cpuLimit=1', 'defaults.invalidAnnotations=warn', 'defaults.refreshInterval=15m'];
  const webhookDoc = render(helm, set).objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === `${FULLNAME}-defaults`)!.data['config.yaml'];
  const parsed = parseDefaults(webhookDoc, 'config.yaml');
  assert.deepEqual(parsed.errors, []);
  const params = render(helm, ['injector.mode=policy', ...set]).objects.find((o) => o.kind === 'ConfigMap')!.data as Record<string, string>;
  const full: Record<string, string> = { ...Object.fromEntries(OPTION_LIST.map((o) => [o.key, o.format(parsed.defaults.config[o.field] as never)])), invalidAnnotations: parsed.defaults.invalidAnnotations };
  for (const [k, v] of Object.entries(params)) assert.equal(v, full[k], `${k}: the policy reads what the webhook reads`);
  // The generator writes the same, less what equals the built-in defaults.
  for (const [k, v] of Object.entries(parameterData(parsed.defaults))) assert.equal(params[k], v, k);
  assert.deepEqual(Object.keys(params).sort(), ['cpuLimit', 'excludeCidrs', 'image', 'invalidAnnotations', 'ipv6', 'natChain', 'refreshInterval']);
});

test('policy mode fails with a clear message where only the webhook can serve', (t) => {
  const helm = helmOrSkip(t);
  if (!helm) return;
  const cases: Array<[string[], string[], RegExp]> = [
    [['injector.mode=policy'], [], /needs MutatingAdmissionPolicy \(admissionregistration\.k8s\.io\/v1, GA in Kubernetes 1\.36\), which this cluster does not serve/],
    [['injector.mode=policy', 'shadow.enabled=true', 'injectedNamespaces[0].name=shop', 'injectedNamespaces[0].serviceAccounts={web}'], [MAP_V1], /cannot run shadow tunnels \(shadow\.enabled\)/],
    [['injector.mode=policy', 'networkPolicy.enabled=true', 'networkPolicy.apiServerCIDRs={10.0.0.1/32}'], [MAP_V1], /no webhook or shadow pods for networkPolicy to guard/],
    [['injector.mode=policy', 'defaults.tunnel=true'], [MAP_V1], /cannot give workloads a shadow tunnel by default/],
    [['injector.mode=policy', 'defaults.network.enableTunnel=true', 'defaults.network.wildcardDNS=t.example.com'], [MAP_V1], /cannot give workloads a shadow tunnel by default/],
    [['injector.mode=policy', 'metrics.serviceMonitor.enabled=true'], [MAP_V1], /runs no webhook for metrics\.serviceMonitor/],
    [['injector.mode=hook'], [MAP_V1], /injector\.mode|mode/],
  ];
  for (const [set, api, message] of cases) {
    const r = render(helm, set, api);
    assert.notEqual(r.status, 0, set.join(' '));
    assert.match(r.stderr, message, set.join(' '));
  }
});

test('helm lint --strict is clean in policy mode (lint renders `fail` as a note, not an error)', (t) => {
  const helm = helmOrSkip(t);
  if (!helm) return;
  for (const extra of [[], ['injectedNamespaces[0].name=shop', 'injectedNamespaces[0].serviceAccounts={web}', 'defaults.natChain=TEAM_DNAT']]) {
    const lint = runHelm(helm, ['lint', '--strict', CHART, '--namespace', NS, '--set', 'injector.mode=policy', ...extra.flatMap((s) => ['--set', s])]);
    assert.equal(lint.status, 0, lint.stdout + lint.stderr);
  }
});
