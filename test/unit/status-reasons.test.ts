// Why an annotated workload is not injected (the webhook configuration as the API server applies it), how the
// webhook is found from the cluster, and the label selectors both rest on, with hostile values from the API.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { formatSelector, selectorMismatch } from '../../src/kube/label-selector.js';
import type { KubeObject } from '../../src/kube/objects.js';
import { notInjectedReason } from '../../src/status/reasons.js';
import { caBundleExpiry } from '../../src/status/webhook-health.js';
import { type AdmissionScope, chooseDeployment, chooseScope, excludedNamespaces, registers, serveFlags } from '../../src/status/webhook.js';
import { KINDS, isStandalone, owningWorkload, parseObjectArg } from '../../src/status/workloads.js';
import { repoPath } from '../helpers/paths.js';
import { webhookDeployment, workload } from '../helpers/status-cluster.js';

const kind = (k: string) => KINDS.find((x) => x.kind.kind === k)!;

const SELECTOR = {
  matchLabels: { 'ghostwire.dev/injection': 'enabled' },
  matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', 'ghostwire'] }],
};

function scope(extra: Partial<AdmissionScope> = {}): AdmissionScope {
  return {
    configuration: 'ghostwire',
    webhook: 'inject.ghostwire.dev',
    createdAt: '2026-02-01T00:00:00Z',
    failurePolicy: 'Fail',
    service: { namespace: 'ghostwire', name: 'ghostwire' },
    url: null,
    namespaceSelector: SELECTOR,
    objectSelector: { matchExpressions: [{ key: 'ghostwire.dev/component', operator: 'NotIn', values: ['webhook', 'shadow'] }] },
    rules: [
      { apiGroups: [''], resources: ['pods'], operations: ['CREATE'] },
      { apiGroups: ['apps'], resources: ['deployments', 'statefulsets'], operations: ['CREATE', 'UPDATE'] },
    ],
    caBundle: '',
    ...extra,
  };
}

test('label selectors: matchLabels, In, NotIn, Exists, DoesNotExist, and a reason in words for the first mismatch', () => {
  assert.equal(selectorMismatch(SELECTOR, { 'ghostwire.dev/injection': 'enabled', 'kubernetes.io/metadata.name': 'shop' }), undefined);
  assert.equal(selectorMismatch(SELECTOR, { 'kubernetes.io/metadata.name': 'shop' }), 'label ghostwire.dev/injection=enabled is missing');
  assert.equal(selectorMismatch(SELECTOR, { 'ghostwire.dev/injection': 'disabled' }), 'label ghostwire.dev/injection=enabled is "disabled"');
  assert.match(selectorMismatch(SELECTOR, { 'ghostwire.dev/injection': 'enabled', 'kubernetes.io/metadata.name': 'ghostwire' }) ?? '', /excludes/);
  const e = (operator: string, values?: string[]) => ({ matchExpressions: [{ key: 'k', operator, ...(values ? { values } : {}) }] });
  assert.equal(selectorMismatch(e('In', ['a', 'b']), { k: 'b' }), undefined);
  assert.match(selectorMismatch(e('In', ['a']), {}) ?? '', /missing/);
  assert.equal(selectorMismatch(e('Exists'), { k: '' }), undefined);
  assert.match(selectorMismatch(e('DoesNotExist'), { k: '' }) ?? '', /present/);
  assert.equal(selectorMismatch(undefined, {}), undefined, 'no selector: everything');
  assert.equal(selectorMismatch({}, {}), undefined, 'empty selector: everything');
  assert.equal(formatSelector(SELECTOR), 'ghostwire.dev/injection=enabled,kubernetes.io/metadata.name notin (kube-system,ghostwire)');
});

test('label selectors from the API are untrusted: wrong types, unknown operators, prototype keys never match by accident', () => {
  assert.equal(selectorMismatch('everything', {}), 'the selector is not an object');
  assert.match(selectorMismatch({ matchExpressions: [{ key: 'k', operator: 'Gt', values: ['1'] }] }, { k: '2' }) ?? '', /operator "Gt" is not a label selector operator/);
  assert.match(selectorMismatch({ matchExpressions: ['x'] }, {}) ?? '', /malformed/);
  assert.match(selectorMismatch({ matchExpressions: [{ key: 'constructor', operator: 'Exists' }] }, {}) ?? '', /missing/, 'an inherited property is not a label');
  assert.match(selectorMismatch({ matchExpressions: [{ key: 'k', operator: 'In', values: 'a' }] }, { k: 'a' }) ?? '', /wanted one of/, 'values must be a list');
  assert.match(selectorMismatch({ matchExpressions: [{ key: 'k', operator: 'x'.repeat(5000) }] }, {}) ?? '', /^operator "x{40}" is not/, 'clipped');
});

test('not injected: no webhook, kind not registered, namespace excluded or not opted in, objectSelector, created before the webhook, otherwise not admitted', () => {
  const dep = (extra: Partial<KubeObject['metadata']> = {}, ns = 'shop') => {
    const o = workload('Deployment', ns, 'w', { created: '2026-02-10T00:00:00Z' });
    Object.assign(o.metadata!, extra);
    return o;
  };
  const opted = { 'ghostwire.dev/injection': 'enabled' };
  const why = (o: KubeObject, k = 'Deployment', s: AdmissionScope | null = scope(), labels: Record<string, string> | null = opted) =>
    notInjectedReason(o, kind(k), { scope: s ?? undefined, namespaceLabels: labels ?? undefined });
  assert.equal(why(dep(), 'Deployment', null).code, 'no-webhook');
  assert.equal(why(workload('CronJob', 'shop', 'c'), 'CronJob').code, 'kind-not-registered');
  assert.match(why(workload('Rollout', 'shop', 'r'), 'Rollout').message, /does not register rollouts\.argoproj\.io for CREATE\/UPDATE/);
  assert.equal(why(dep({}, 'ghostwire')).code, 'namespace-excluded');
  const notOpted = why(dep(), 'Deployment', scope(), { team: 'x' });
  assert.equal(notOpted.code, 'namespace-not-opted-in');
  assert.match(notOpted.message, /namespace shop is not opted in: label ghostwire\.dev\/injection=enabled is missing/);
  assert.equal(why(dep({ labels: { 'ghostwire.dev/component': 'webhook' } })).code, 'object-selector');
  assert.equal(why(dep({ creationTimestamp: '2026-01-01T00:00:00Z' })).code, 'created-before-webhook');
  assert.equal(why(dep()).code, 'not-admitted');
  // The namespace's labels unknown (not readable): no claim about them, the next reason is given.
  assert.equal(why(dep(), 'Deployment', scope(), null).code, 'not-admitted');
  // Hostile timestamps are not dates: no claim about them either.
  assert.equal(why(dep({ creationTimestamp: 'yesterday' })).code, 'not-admitted');
  assert.equal(why(dep({ creationTimestamp: '2026-01-01T00:00:00Z' }), 'Deployment', scope({ createdAt: null })).code, 'not-admitted');
  // Wildcards register everything.
  assert.equal(why(workload('CronJob', 'shop', 'c'), 'CronJob', scope({ rules: [{ apiGroups: ['*'], resources: ['*'], operations: ['*'] }] })).code, 'not-admitted');
});

test('the webhook from the cluster: the configuration with a ghostwire.dev webhook, ambiguity said, rules and exclusions read', () => {
  const mwc = (name: string, webhooks: unknown) => ({ apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration', metadata: { name }, webhooks }) as KubeObject;
  const entry = { name: 'inject.ghostwire.dev', clientConfig: { service: { namespace: 'gw', name: 'gw' } }, namespaceSelector: SELECTOR, rules: [{ apiGroups: ['apps'], resources: ['deployments'], operations: ['UPDATE'] }] };
  const other = mwc('istio', [{ name: 'sidecar-injector.istio.io' }]);
  assert.equal(chooseScope([other]).scope, undefined);
  const c = chooseScope([other, mwc('ghostwire', [entry])]);
  assert.equal(c.scope?.configuration, 'ghostwire');
  assert.deepEqual(c.scope?.service, { namespace: 'gw', name: 'gw' });
  assert.deepEqual(c.others, []);
  assert.ok(registers(c.scope!, 'apps', 'deployments', ['CREATE', 'UPDATE']));
  assert.ok(!registers(c.scope!, 'apps', 'statefulsets', ['CREATE', 'UPDATE']));
  assert.deepEqual(excludedNamespaces(c.scope!), ['kube-system', 'ghostwire']);
  const two = chooseScope([mwc('b', [entry]), mwc('a', [entry])]);
  assert.equal(two.scope?.configuration, 'a');
  assert.deepEqual(two.others, ['b']);
  assert.equal(chooseScope([mwc('b', [entry]), mwc('a', [entry])], 'b').scope?.configuration, 'b', 'a named configuration wins');
  // Several ghostwire entries in one configuration: the injecting one decides, wherever it is listed.
  const narrow = { ...entry, name: 'owner-not-injected.ghostwire.dev', failurePolicy: 'Ignore' };
  assert.equal(chooseScope([mwc('ghostwire', [narrow, { ...entry, failurePolicy: 'Fail' }])]).scope?.webhook, 'inject.ghostwire.dev');
  // Hostile shapes: webhooks not a list, entries not objects, rules of the wrong types.
  for (const webhooks of [null, 'x', [null, 5, 'y'], [{ name: 5 }]]) assert.equal(chooseScope([mwc('x', webhooks)]).scope, undefined);
  const odd = chooseScope([mwc('odd', [{ name: 'x.ghostwire.dev', rules: [{ apiGroups: 'apps', resources: [1], operations: null }], clientConfig: 'nope' }])]).scope!;
  assert.deepEqual(odd.rules, [{ apiGroups: [], resources: [], operations: [] }]);
  assert.equal(odd.service, null);
});

test("the webhook's Deployment and its serve flags: --defaults-configmap in both spellings, $(POD_NAMESPACE) resolved", () => {
  const d = webhookDeployment(2);
  assert.deepEqual(serveFlags(d), {
    deployment: { namespace: 'ghostwire', name: 'ghostwire' },
    defaultsConfigMap: { namespace: 'ghostwire', name: 'ghostwire-defaults' },
    defaultsFile: null,
    ownNamespace: 'ghostwire',
  });
  const split = structuredClone(d);
  (split.spec as any).template.spec.containers[0].args = ['serve', '--defaults-configmap', 'other/cm', '--namespace', 'gw-system'];
  assert.deepEqual(serveFlags(split)?.defaultsConfigMap, { namespace: 'other', name: 'cm' });
  assert.equal(serveFlags(split)?.ownNamespace, 'gw-system');
  const file = structuredClone(d);
  (file.spec as any).template.spec.containers[0].args = ['serve', '--defaults=/etc/gw/config.yaml'];
  assert.equal(serveFlags(file)?.defaultsFile, '/etc/gw/config.yaml');
  assert.equal(serveFlags(file)?.defaultsConfigMap, null);
  const bad = structuredClone(d);
  (bad.spec as any).template.spec.containers[0].args = ['serve', '--defaults-configmap=a/b/c', '--namespace=$(UNKNOWN)'];
  assert.equal(serveFlags(bad)?.defaultsConfigMap, null, 'not NS/NAME');
  assert.equal(serveFlags(bad)?.ownNamespace, '$(UNKNOWN)');
  const notServe = structuredClone(d);
  (notServe.spec as any).template.spec.containers[0].args = ['shadow', 'run'];
  assert.equal(serveFlags(notServe), undefined);
  assert.equal(chooseDeployment([notServe, d], 'ghostwire'), d);
  assert.equal(chooseDeployment([notServe], 'ghostwire'), undefined);
  for (const spec of [null, 'x', { template: { spec: { containers: 'no' } } }]) assert.equal(serveFlags({ metadata: { name: 'x' }, spec } as unknown as KubeObject), undefined);
});

test('caBundle expiry: the earliest certificate; garbage says why', () => {
  const pem = readFileSync(repoPath('test', 'fixtures', 'status', 'webhook-ca.crt'), 'utf8');
  const one = caBundleExpiry(Buffer.from(pem).toString('base64'));
  assert.ok('notAfter' in one && one.notAfter > Date.parse('2030-01-01'));
  assert.deepEqual(caBundleExpiry(''), { error: 'no caBundle' });
  assert.deepEqual(caBundleExpiry(Buffer.from('hello').toString('base64')), { error: 'the caBundle holds no PEM certificate' });
  assert.deepEqual(caBundleExpiry(Buffer.from('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n').toString('base64')), { error: 'a certificate in the caBundle does not parse' });
  assert.deepEqual(caBundleExpiry('%%% not base64 %%%'), { error: 'the caBundle holds no PEM certificate' });
});

test('KIND/NAME as kubectl spells it; hostile values named, clipped and refused', () => {
  for (const [text, k, name] of [['deploy/orders', 'Deployment', 'orders'], ['Deployment/orders', 'Deployment', 'orders'], ['deployments.apps/orders', 'Deployment', 'orders'], ['sts/db-0', 'StatefulSet', 'db-0'], ['cj/report', 'CronJob', 'report'], ['rollouts.argoproj.io/web', 'Rollout', 'web'], ['po/debug.x', 'Pod', 'debug.x']] as const) {
    const r = parseObjectArg(text);
    assert.ok(!('error' in r), `${text}: ${JSON.stringify(r)}`);
    assert.equal(r.kind.kind.kind, k);
    assert.equal(r.name, name);
  }
  for (const [text, re] of [
    ['orders', /is not KIND\/NAME/],
    ['service/orders', /kind "service" is not one ghostwire injects/],
    ['deploy/', /name "" is not a Kubernetes object name/],
    ['deploy/UPPER', /is not a Kubernetes object name/],
    ['deploy/a/b', /is not a Kubernetes object name/],
    ['deploy/../../etc', /is not a Kubernetes object name/],
    [`deploy/${'a'.repeat(300)}`, /name "a{64}\.\.\." is not/],
    ['deploy/\u001b[2Jx', /\\u001b/],
  ] as const) {
    const r = parseObjectArg(text);
    assert.ok('error' in r, text);
    assert.match(r.error, re);
  }
});

test('owner chains: a Deployment pod through its ReplicaSet, a CronJob pod through its Job, a bare Pod is its own workload', () => {
  const dep = workload('Deployment', 'shop', 'web');
  const rs = { apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name: 'web-1', namespace: 'shop', uid: 'rs-1', ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: String(dep.metadata?.uid), controller: true }] } };
  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-1-x', namespace: 'shop', ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-1', uid: 'rs-1', controller: true }] } };
  const byUid = new Map([[String(dep.metadata?.uid), { kind: 'Deployment', object: dep }], ['rs-1', { kind: 'ReplicaSet', object: rs as KubeObject }]]);
  assert.deepEqual(owningWorkload(pod, byUid), { kind: 'Deployment', namespace: 'shop', name: 'web' });
  assert.deepEqual(owningWorkload({ metadata: { name: 'bare', namespace: 'shop' } }, byUid), { kind: 'Pod', namespace: 'shop', name: 'bare' });
  // An owner not listed: its reference, if it is a kind ghostwire knows; a Node (static pod) is not.
  assert.deepEqual(owningWorkload({ metadata: { name: 'p', namespace: 'shop', ownerReferences: [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db', uid: 'gone', controller: true }] } }, byUid), { kind: 'StatefulSet', namespace: 'shop', name: 'db' });
  assert.equal(owningWorkload({ metadata: { name: 'p', namespace: 'kube-system', ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: 'n1', uid: 'n', controller: true }] } }, byUid), undefined);
  // A cycle of owners ends.
  const a = { metadata: { name: 'a', uid: 'a', ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'b', uid: 'b', controller: true }] } };
  const b = { metadata: { name: 'b', uid: 'b', ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'a', uid: 'a', controller: true }] } };
  const loop = new Map([['a', { kind: 'ReplicaSet', object: a as KubeObject }], ['b', { kind: 'ReplicaSet', object: b as KubeObject }]]);
  assert.doesNotThrow(() => owningWorkload({ metadata: { name: 'p', ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'a', uid: 'a', controller: true }] } }, loop));
  assert.equal(isStandalone(rs as KubeObject, 'ReplicaSet'), false);
  assert.equal(isStandalone(dep, 'Deployment'), true);
  assert.equal(isStandalone(pod, 'Pod'), false);
});
