// The chart under failure and attack, rendered by the real helm: webhook entries that keep an outage contained,
// RBAC only where namespaces opted in (webhook, injected pods, shadow controller), no label that exempts a workload,
// and the optional NetworkPolicy. The e2e tier proves the same objects against a real API server
// (test/e2e/outage.test.ts, test/e2e/rbac.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { repoPath } from '../helpers/paths.js';
import { type K8sObject, helmOrSkip, parseManifests, runHelm } from '../helpers/helm.js';

const CHART = repoPath('charts', 'ghostwire');
const NS = 'ghostwire-system';
const FULLNAME = 'gw-ghostwire';
const SHOP = ['injectedNamespaces[0].name=shop', 'injectedNamespaces[0].serviceAccounts={orders-web}'];

function render(helm: string, set: string[] = []): { objects: K8sObject[]; stderr: string; status: number | null } {
  const r = runHelm(helm, ['template', 'gw', CHART, '--namespace', NS, ...set.flatMap((s) => ['--set', s])]);
  return { objects: r.status === 0 ? parseManifests(r.stdout) : [], stderr: r.stderr, status: r.status };
}

function ok(helm: string, set: string[] = []): K8sObject[] {
  const r = render(helm, set);
  assert.equal(r.status, 0, `helm template ${set.join(' ')}:\n${r.stderr}`);
  return r.objects;
}

function fails(helm: string, set: string[], message: RegExp): void {
  const r = render(helm, set);
  assert.notEqual(r.status, 0, `${set.join(' ')} must fail`);
  assert.match(r.stderr, message);
}

const all = (objects: K8sObject[], kind: string): K8sObject[] => objects.filter((o) => o.kind === kind);
const one = (objects: K8sObject[], kind: string, name: string, namespace?: string): K8sObject => {
  const hit = objects.find((o) => o.kind === kind && o.metadata.name === name && (namespace === undefined || o.metadata.namespace === namespace));
  assert.ok(hit, `no ${kind} ${namespace ?? ''}/${name}`);
  return hit;
};
const verbsOf = (role: K8sObject, group: string, resource: string): string[] =>
  role.rules.filter((r: any) => r.apiGroups.includes(group) && r.resources.includes(resource)).flatMap((r: any) => r.verbs).sort();
const boundTo = (objects: K8sObject[], account: string): K8sObject[] =>
  [...all(objects, 'RoleBinding'), ...all(objects, 'ClusterRoleBinding')].filter((b) => b.subjects.some((s: any) => s.kind === 'ServiceAccount' && s.name === account));
const grantsOf = (objects: K8sObject[], account: string): K8sObject[] =>
  boundTo(objects, account).map((b) => one(objects, b.roleRef.kind, b.roleRef.name, b.roleRef.kind === 'Role' ? b.metadata.namespace : undefined));

test('outage containment: objects a workload controller makes never reach the fail-closed entry; Pods of uninjected owners go to a separate Ignore entry', (t) => {
  const helm = helmOrSkip(t);
  if (!helm) return;
  const [mwc] = all(ok(helm), 'MutatingWebhookConfiguration');
  assert.deepEqual(mwc?.webhooks.map((w: any) => [w.name, w.failurePolicy]), [['inject.ghostwire.dev', 'Fail'], ['owner-not-injected.ghostwire.dev', 'Ignore']]);
  const [main, owned] = mwc!.webhooks;
  const notMade = main.matchConditions.find((c: any) => c.name === 'not-made-by-a-controller')?.expression as string;
  assert.ok(notMade, 'the fail-closed entry excludes controller-made objects');
  assert.match(notMade, /!has\(object\.metadata\.ownerReferences\) \|\|/);
  assert.match(notMade, /has\(o\.controller\) && o\.controller/);
  assert.match(notMade, /request\.kind\.kind != 'Pod'/, 'every controller-owned workload (skipped as controller-owned anyway)');
  for (const kind of ['ReplicaSet', 'StatefulSet', 'DaemonSet', 'Job']) assert.ok(notMade.includes(`'${kind}'`), `Pods of ${kind}s are made through their owner`);
  // Only Pods, only best effort, only when the owner asked for injection and was not injected.
  assert.deepEqual(owned.rules.map((r: any) => r.resources).flat(), ['pods']);
  assert.deepEqual(owned.rules[0].operations, ['CREATE']);
  const ownedExpr = owned.matchConditions.map((c: any) => c.expression).join(' && ');
  assert.match(ownedExpr, /'ghostwire\.dev\/enabled' in object\.metadata\.annotations && !\('ghostwire\.dev\/status' in object\.metadata\.annotations\)/);
  // Both entries see exactly the same namespaces and endpoint.
  for (const k of ['namespaceSelector', 'clientConfig', 'timeoutSeconds', 'sideEffects', 'admissionReviewVersions']) assert.deepEqual(owned[k], main[k], k);
  // A failurePolicy: Ignore install never turns the second entry into a dependency either; without matchConditions
  // the single entry is all there is (documented: an outage then blocks controllers too).
  const ignore = all(ok(helm, ['webhook.failurePolicy=Ignore']), 'MutatingWebhookConfiguration')[0]!;
  assert.deepEqual(ignore.webhooks.map((w: any) => w.failurePolicy), ['Ignore', 'Ignore']);
  const noCel = all(ok(helm, ['webhook.matchConditions.enabled=false']), 'MutatingWebhookConfiguration')[0]!;
  assert.deepEqual(noCel.webhooks.map((w: any) => w.name), ['inject.ghostwire.dev']);
});

test('no label exempts a workload: there is no objectSelector, ghostwire\'s own pods are out of scope through their namespace', (t) => {
  const helm = helmOrSkip(t);
  if (!helm) return;
  const objects = ok(helm, ['shadow.enabled=true', ...SHOP]);
  for (const w of all(objects, 'MutatingWebhookConfiguration')[0]!.webhooks) {
    assert.equal(w.objectSelector, undefined, `${w.name}: a ghostwire.dev/component label on any workload would exempt it`);
    const names = w.namespaceSelector.matchExpressions.find((e: any) => e.key === 'kubernetes.io/metadata.name');
    assert.ok(names.operator === 'NotIn' && names.values.includes(NS), 'the release namespace, where ghostwire\'s own pods run, is excluded');
  }
  for (const d of all(objects, 'Deployment')) assert.equal(d.metadata.namespace, NS);
});

test('injected-pod RBAC: only named ServiceAccounts; a namespace without any fails the render; "*" binds the whole namespace on purpose', (t) => {
  const helm = helmOrSkip(t);
  if (!helm) return;
  fails(helm, ['injectedNamespaces={shop}'], /injectedNamespaces: namespace "shop" names no ServiceAccount.*serviceAccounts: \["\*"\]/);
  fails(helm, ['injectedNamespaces[0].name=shop', 'injectedNamespaces[0].serviceAccounts={*,web}'], /cannot be combined/);
  const objects = ok(helm, [...SHOP, 'injectedNamespaces[1].name=team', 'injectedNamespaces[1].serviceAccounts={*}', 'injectedNamespaces[2]=pay', 'injectedServiceAccounts={pay-api}']);
  const binding = (ns: string) => one(objects, 'RoleBinding', `${FULLNAME}-injected`, ns).subjects.map((s: any) => `${s.kind}:${s.name}`);
  assert.deepEqual(binding('shop'), ['ServiceAccount:orders-web']);
  assert.deepEqual(binding('team'), ['Group:system:serviceaccounts:team']);
  assert.deepEqual(binding('pay'), ['ServiceAccount:pay-api']);
  // A namespace the webhook never injects gets no grant of any kind: the render fails instead.
  for (const ns of ['kube-system', 'kube-public', 'kube-node-lease', NS, 'legacy']) {
    fails(helm, [`injectedNamespaces[0].name=${ns}`, 'injectedNamespaces[0].serviceAccounts={a}', 'webhook.excludeNamespaces={legacy}'], new RegExp(`injectedNamespaces: "${ns}" is never injected`));
  }
});

test('webhook RBAC: no ClusterRole; Events create and get on the admitted kinds only in opted-in namespaces; the defaults ConfigMap by name', (t) => {
  const helm = helmOrSkip(t);
  if (!helm) return;
  const objects = ok(helm, [...SHOP, 'injectedNamespaces[1].name=pay', 'injectedNamespaces[1].serviceAccounts={pay-api}']);
  assert.equal(all(objects, 'ClusterRole').length + all(objects, 'ClusterRoleBinding').length, 0, 'nothing cluster-wide');
  const grants = grantsOf(objects, FULLNAME);
  assert.deepEqual(grants.map((r) => `${r.kind}:${r.metadata.namespace}`).sort(), ['Role:ghostwire-system', 'Role:pay', 'Role:shop']);
  const own = one(objects, 'Role', FULLNAME, NS);
  assert.deepEqual(own.rules, [{ apiGroups: [''], resources: ['configmaps'], resourceNames: [`${FULLNAME}-defaults`], verbs: ['get', 'list', 'watch'] }]);
  for (const ns of ['shop', 'pay']) {
    const role = one(objects, 'Role', `${FULLNAME}-webhook`, ns);
    assert.deepEqual(verbsOf(role, '', 'events'), ['create'], 'create only: no patch of other components\' Events');
    for (const [g, r] of [['', 'pods'], ['apps', 'deployments'], ['apps', 'statefulsets'], ['apps', 'daemonsets'], ['apps', 'replicasets'], ['batch', 'jobs'], ['batch', 'cronjobs'], ['argoproj.io', 'rollouts']] as const) {
      assert.deepEqual(verbsOf(role, g, r), ['get'], `${ns} ${g}/${r}`);
    }
    assert.ok(!role.rules.some((x: any) => x.resources.includes('secrets') || x.resources.includes('configmaps')));
  }
  // Without opted-in namespaces the webhook can read its defaults and nothing else.
  assert.deepEqual(grantsOf(ok(helm), FULLNAME).map((r) => `${r.kind}:${r.metadata.name}`), [`Role:${FULLNAME}`]);
});

test('shadow controller RBAC: Roles only in opted-in namespaces, namespace labels by name, no Secret patch, the scope in its arguments', (t) => {
  const helm = helmOrSkip(t);
  if (!helm) return;
  fails(helm, ['shadow.enabled=true'], /shadow\.enabled needs injectedNamespaces/);
  const SA = `${FULLNAME}-shadow`;
  const objects = ok(helm, ['shadow.enabled=true', ...SHOP, 'injectedNamespaces[1].name=pay', 'injectedNamespaces[1].serviceAccounts={pay-api}']);
  const grants = grantsOf(objects, SA);
  assert.deepEqual(grants.map((r) => `${r.kind}:${r.metadata.namespace ?? '(cluster)'}:${r.metadata.name}`).sort(), [
    `ClusterRole:(cluster):${SA}`,
    `Role:${NS}:${SA}-defaults`,
    `Role:pay:${SA}`,
    `Role:shop:${SA}`,
  ]);
  const cluster = one(objects, 'ClusterRole', SA);
  assert.deepEqual(cluster.rules, [{ apiGroups: [''], resources: ['namespaces'], resourceNames: ['shop', 'pay'], verbs: ['get', 'list', 'watch'] }]);
  assert.deepEqual(one(objects, 'Role', `${SA}-defaults`, NS).rules, [{ apiGroups: [''], resources: ['configmaps'], resourceNames: [`${FULLNAME}-defaults`], verbs: ['get', 'list', 'watch'] }]);
  for (const ns of ['shop', 'pay']) {
    const role = one(objects, 'Role', SA, ns);
    assert.deepEqual(verbsOf(role, '', 'secrets'), ['create', 'delete', 'get']);
    assert.deepEqual(verbsOf(role, '', 'events'), ['create']);
    assert.deepEqual(verbsOf(role, 'apps', 'deployments'), ['create', 'delete', 'get', 'list', 'patch', 'watch']);
    assert.deepEqual(verbsOf(role, 'networking.k8s.io', 'ingresses'), ['create', 'delete', 'get', 'patch']);
  }
  const args: string[] = one(objects, 'Deployment', SA).spec.template.spec.containers[0].args;
  for (const a of ['--namespace=shop,pay', `--own-namespace=${NS}`, '--opt-in-label=ghostwire.dev/injection=enabled']) assert.ok(args.includes(a), `${a} in ${args.join(' ')}`);
  // Without the opt-in label requirement there is no label to read: no ClusterRole at all.
  const open = ok(helm, ['shadow.enabled=true', ...SHOP, 'webhook.namespaceSelector.requireOptInLabel=false']);
  assert.equal(all(open, 'ClusterRole').length, 0);
  assert.ok(!one(open, 'Deployment', SA).spec.template.spec.containers[0].args.some((a: string) => a.startsWith('--opt-in-label')));
});

test('NetworkPolicy: off by default; on, port 8443 only from the API server CIDRs and the metrics namespaces, and only metrics scrapes into the shadow controller', (t) => {
  const helm = helmOrSkip(t);
  if (!helm) return;
  assert.equal(all(ok(helm, ['shadow.enabled=true', ...SHOP]), 'NetworkPolicy').length, 0);
  fails(helm, ['networkPolicy.enabled=true'], /networkPolicy\.enabled needs networkPolicy\.apiServerCIDRs/);
  const objects = ok(helm, ['networkPolicy.enabled=true', 'networkPolicy.apiServerCIDRs={10.0.0.0/28,fd00::/120}', 'shadow.enabled=true', ...SHOP]);
  const webhookPods = one(objects, 'Deployment', FULLNAME).spec.template.metadata.labels;
  const shadowPods = one(objects, 'Deployment', `${FULLNAME}-shadow`).spec.template.metadata.labels;
  const matches = (sel: Record<string, string>, labels: Record<string, string>) => Object.entries(sel).every(([k, v]) => labels[k] === v);
  const hook = one(objects, 'NetworkPolicy', FULLNAME, NS);
  assert.ok(matches(hook.spec.podSelector.matchLabels, webhookPods) && !matches(hook.spec.podSelector.matchLabels, shadowPods), 'selects exactly the webhook pods');
  assert.deepEqual(hook.spec.policyTypes, ['Ingress']);
  assert.deepEqual(hook.spec.ingress, [
    { from: [{ ipBlock: { cidr: '10.0.0.0/28' } }, { ipBlock: { cidr: 'fd00::/120' } }], ports: [{ protocol: 'TCP', port: 8443 }] },
    { from: [{ namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: ['monitoring'] }] } }], ports: [{ protocol: 'TCP', port: 8443 }] },
  ]);
  const shadow = one(objects, 'NetworkPolicy', `${FULLNAME}-shadow`, NS);
  assert.ok(matches(shadow.spec.podSelector.matchLabels, shadowPods) && !matches(shadow.spec.podSelector.matchLabels, webhookPods));
  assert.deepEqual(shadow.spec.policyTypes, ['Ingress']);
  // Its metrics port by name (the one its PodMonitor scrapes), from the metrics namespaces only.
  assert.deepEqual(shadow.spec.ingress, [
    { from: [{ namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: ['monitoring'] }] } }], ports: [{ protocol: 'TCP', port: 'metrics' }] },
  ]);
  const quiet = ok(helm, ['networkPolicy.enabled=true', 'networkPolicy.apiServerCIDRs={10.0.0.0/28}', 'networkPolicy.metricsNamespaces=null', 'shadow.enabled=true', ...SHOP]);
  assert.equal(one(quiet, 'NetworkPolicy', FULLNAME).spec.ingress.length, 1);
  assert.equal(one(quiet, 'NetworkPolicy', `${FULLNAME}-shadow`).spec.ingress, undefined, 'no metrics namespaces: nothing may connect');
  for (const bad of ['networkPolicy.apiServerCIDRs={10.0.0.0}', 'networkPolicy.apiServerCIDRs={0.0.0.0/0; rm}', 'networkPolicy.metricsNamespaces={Monitoring}', 'defaults.allowedImages={a b}']) {
    fails(helm, ['networkPolicy.enabled=true', bad], /values don't meet the specifications of the schema/);
  }
});
