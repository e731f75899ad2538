// The Helm chart, rendered by the real helm binary (helm lint --strict, helm template) and checked object by object:
// the webhook's scope and failure behaviour, the certificate modes, RBAC, pod security, and the schema. Helm 4 renders
// for the object checks; lint, the schema, the kubeVersion range and the whole render are checked with Helm 3 too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { OPTION_LIST } from '../../src/config/options.js';
import { BUILTIN_NETWORK, DEFAULTS_DOCUMENT_KEYS, parseDefaults } from '../../src/config/defaults.js';
import { repoPath } from '../helpers/paths.js';
import { type K8sObject, bothHelmsOrSkip, helmOrSkip, parseManifests, runHelm } from '../helpers/helm.js';

const CHART = repoPath('charts', 'ghostwire');
const RELEASE = 'gw';
const NS = 'ghostwire-system';
const FULLNAME = 'gw-ghostwire';
const SYSTEM_NAMESPACES = ['kube-system', 'kube-public', 'kube-node-lease'];


function template(helm: string, set: string[] = [], expectOk = true, extra: string[] = []): { objects: K8sObject[]; stderr: string; status: number | null } {
  const args = ['template', RELEASE, CHART, '--namespace', NS, ...extra];
  for (const s of set) args.push('--set', s);
  const r = runHelm(helm, args);
  if (expectOk) assert.equal(r.status, 0, `helm template ${set.join(' ')} failed:\n${r.stderr}`);
  return { objects: r.status === 0 ? parseManifests(r.stdout) : [], stderr: r.stderr, status: r.status };
}

function find(objects: K8sObject[], kind: string, name?: string): K8sObject {
  const hit = objects.find((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  assert.ok(hit, `no ${kind}${name ? ` ${name}` : ''} in the render (have: ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')})`);
  return hit;
}

const all = (objects: K8sObject[], kind: string): K8sObject[] => objects.filter((o) => o.kind === kind);

/** The fail-closed entry (the second, best-effort entry is checked in chart-trust.test.ts). */
function webhookOf(objects: K8sObject[]): any {
  const mwc = find(objects, 'MutatingWebhookConfiguration', FULLNAME);
  assert.equal(mwc.webhooks[0].name, 'inject.ghostwire.dev');
  return mwc.webhooks[0];
}

/** Kubernetes label-selector semantics (matchLabels AND matchExpressions; NotIn matches a missing key). */
function selects(selector: any, labels: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(labels, e.key);
    const value = labels[e.key];
    const ok =
      e.operator === 'In' ? has && e.values.includes(value)
      : e.operator === 'NotIn' ? !has || !e.values.includes(value)
      : e.operator === 'Exists' ? has
      : e.operator === 'DoesNotExist' ? !has
      : (() => { throw new Error(`operator ${e.operator}`); })();
    if (!ok) return false;
  }
  return true;
}

const decode = (b64: string): string => Buffer.from(b64, 'base64').toString('utf8');

test('Chart.yaml: apiVersion v2, appVersion = package.json version', () => {
  const chart = parseYaml(readFileSync(repoPath('charts', 'ghostwire', 'Chart.yaml'), 'utf8')) as Record<string, string>;
  const pkg = JSON.parse(readFileSync(repoPath('package.json'), 'utf8')) as { version: string };
  assert.equal(chart.apiVersion, 'v2');
  assert.equal(chart.name, 'ghostwire');
  assert.equal(chart.appVersion, pkg.version);
});

const VARIANTS: string[][] = [
  [],
  ['certs.mode=certManager'],
  ['certs.mode=existingSecret', 'certs.existingSecret=my-tls', 'certs.caBundle=QUJD'],
  ['webhook.url=https://127.0.0.1:8443/mutate', 'certs.extraIPs={127.0.0.1}'],
  ['shadow.enabled=true', 'injectedNamespaces={shop}', 'injectedServiceAccounts={orders-web}'],
  ['networkPolicy.enabled=true', 'networkPolicy.apiServerCIDRs={10.0.0.0/28}'],
];

test('helm lint --strict is clean with Helm 3 and Helm 4 in every certificate mode, with the shadow controller and in url mode', (t) => {
  const helms = bothHelmsOrSkip(t);
  if (!helms) return;
  for (const { version, path } of helms) {
    for (const v of VARIANTS) {
      const r = runHelm(path, ['lint', '--strict', CHART, '--namespace', NS, ...v.flatMap((s) => ['--set', s])]);
      assert.equal(r.status, 0, `helm ${version} lint --strict ${v.join(' ')}:\n${r.stdout}${r.stderr}`);
      assert.match(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
      assert.doesNotMatch(r.stdout, /\[(WARNING|ERROR)\]/, `helm ${version} lint --strict ${v.join(' ')}`);
    }
  }
});

/**
 * A render without what is random per render (generated keys and certificates), in kind/name order: for comparing two
 * helms (Helm 4 sorts MutatingWebhookConfiguration into its install order, Helm 3 puts it with the kinds it does not know).
 */
function stable(objects: K8sObject[]): K8sObject[] {
  const key = (o: K8sObject) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
  return objects.map((o) => {
    const c = structuredClone(o);
    if (c.kind === 'Secret' && c.data) c.data = Object.fromEntries(Object.keys(c.data).map((k) => [k, '<generated>']));
    for (const w of c.webhooks ?? []) if (w.clientConfig?.caBundle) w.clientConfig.caBundle = '<generated>';
    return c;
  }).sort((a, b) => key(a).localeCompare(key(b)));
}

test('Helm 3 and Helm 4 render the same objects for every variant (so the checks below, made with Helm 4, hold for both)', (t) => {
  const helms = bothHelmsOrSkip(t);
  if (!helms) return;
  for (const v of [...VARIANTS, ['metrics.prometheusScrape=true', 'webhook.matchConditions.enabled=false', 'replicaCount=1']]) {
    const renders: K8sObject[][] = helms.map((h) => stable(template(h.path, v).objects));
    const [three, four] = renders;
    assert.ok(four && four.length > 5, `helm 4 rendered ${four?.length} objects`);
    assert.deepEqual(three, four, `helm 3 vs helm 4 render with ${v.join(' ') || 'the default values'}`);
  }
});

test('kubeVersion: both helms accept the supported releases 1.35-1.37 and refuse 1.34 (end of life) and 1.38 (not yet proven)', (t) => {
  const helms = bothHelmsOrSkip(t);
  if (!helms) return;
  for (const { version, path } of helms) {
    for (const ok of ['1.35.0', '1.36.3', '1.37.2']) {
      const r = template(path, [], false, ['--kube-version', ok]);
      assert.equal(r.status, 0, `helm ${version} template --kube-version ${ok}:\n${r.stderr}`);
    }
    for (const bad of ['1.34.4', '1.38.0']) {
      const r = template(path, [], false, ['--kube-version', bad]);
      assert.notEqual(r.status, 0, `helm ${version} must refuse Kubernetes ${bad}`);
      assert.match(r.stderr, new RegExp(`chart requires kubeVersion: >=1\\.35\\.0-0 <1\\.38\\.0-0 which is incompatible with Kubernetes v${bad.replace(/\./g, '\\.')}`), `helm ${version} ${bad}: ${r.stderr}`);
    }
    // Without --kube-version, helm assumes the Kubernetes release it was built against; that must be in range.
    assert.equal(template(path, [], false).status, 0, `helm ${version} template with its built-in Kubernetes version`);
  }
});

test('webhook configuration: fail closed, NoneOnDryRun, IfNeeded, 5 s, v1 reviews, Equivalent matching, service /mutate:443', (t) => {
  const helm = helmOrSkip(t);
  if (!helm) return;
  const { objects } = template(helm);
  const wh = webhookOf(objects);
  assert.equal(wh.name, 'inject.ghostwire.dev');
  assert.deepEqual(wh.admissionReviewVersions, ['v1']);
  assert.equal(wh.failurePolicy, 'Fail');
  assert.equal(wh.sideEffects, 'NoneOnDryRun');
  assert.equal(wh.reinvocationPolicy, 'IfNeeded');
  assert.equal(wh.timeoutSeconds, 5);
  assert.equal(wh.matchPolicy, 'Equivalent');
  assert.deepEqual(wh.clientConfig.service, { name: FULLNAME, namespace: NS, path: '/mutate', port: 443 });
  assert.equal(wh.clientConfig.url, undefined);

  // The Service the API server calls reaches the container's HTTPS port.
  const svc = find(objects, 'Service', FULLNAME);
  const dep = find(objects, 'Deployment', FULLNAME);
  const port = svc.spec.ports.find((p: any) => p.port === 443);
  assert.ok(port, 'Service port 443');
  const container = dep.spec.template.spec.containers[0];
  const target = container.ports.find((p: any) => p.name === port.targetPort || p.containerPort === port.targetPort);
  assert.equal(target?.containerPort, 8443);
  assert.ok(selects({ matchLabels: svc.spec.selector }, dep.spec.template.metadata.labels), 'Service selects the webhook pods');

  // Values override the knobs; the schema bounds them.
  const custom = webhookOf(template(helm, ['webhook.failurePolicy=Ignore', 'webhook.timeoutSeconds=3', 'webhook.reinvocationPolicy=Never']).objects);
  assert.equal(custom.failurePolicy, 'Ignore');
  assert.equal(custom.timeoutSeconds, 3);
  assert.equal(custom.reinvocationPolicy, 'Never');
});

test('scope: opt-in namespace label, system and release namespaces always excluded (ghostwire\'s own pods with them)', (t) => {
  const helm = helmOrSkip(t);
  if (!helm) return;
  const { objects } = template(helm, ['webhook.excludeNamespaces={legacy}']);
  const wh = webhookOf(objects);
  assert.deepEqual(wh.namespaceSelector.matchLabels, { 'ghostwire.dev/injection': 'enabled' });
  const names = wh.namespaceSelector.matchExpressions.find((e: any) => e.key === 'kubernetes.io/metadata.name');
  assert.equal(names?.operator, 'NotIn');
  for (const ns of [...SYSTEM_NAMESPACES, NS, 'legacy']) assert.ok(names.values.includes(ns), `${ns} excluded`);
  const ns = (name: string, optIn: boolean) => ({ 'kubernetes.io/metadata.name': name, ...(optIn ? { 'ghostwire.dev/injection': 'enabled' } : {}) });
  assert.equal(selects(wh.namespaceSelector, ns('shop', true)), true);
  assert.equal(selects(wh.namespaceSelector, ns('shop', false)), false);
  for (const n of [...SYSTEM_NAMESPACES, NS]) assert.equal(selects(wh.namespaceSelector, ns(n, true)), false, `${n} even when labelled`);

  // The webhook's own Deployment and pods (and the shadow controller's) run in the release namespace; no label
  // exempts anything (an objectSelector on ghostwire.dev/component exempted any workload that carried it).
  assert.equal(wh.objectSelector, undefined);

  // The opt-in label is configurable, and can be made optional (the exclusions stay).
  const open = webhookOf(template(helm, ['webhook.namespaceSelector.requireOptInLabel=false']).objects);
  assert.equal(open.namespaceSelector.matchLabels, undefined);
  assert.equal(selects(open.namespaceSelector, ns('shop', false)), true);
  assert.equal(selects(open.namespaceSelector, ns('kube-system', false)), false);
  const relabel = webhookOf(template(helm, ['webhook.namespaceSelector.optInLabel.key=example.com/mesh', 'webhook.namespaceSelector.optInLabel.value=on']).objects);
  assert.deepEqual(relabel.namespaceSelector.matchLabels, { 'example.com/mesh': 'on' });
});

test('rules: CREATE/UPDATE of every supported kind incl. argoproj.io rollouts; pods at CREATE by default', (t) => {
  const helm = helmOrSkip(t);
  if (!helm) return;
  const wh = webhookOf(template(helm).objects);
  const covered = (group: string, version: string, resource: string, op: string) =>
    wh.rules.some((r: any) => r.apiGroups.includes(group) && r.apiVersions.includes(version) && r.resources.includes(resource) && r.operations.includes(op));
  const kinds: Array<[string, string, string]> = [
    ['', 'v1', 'pods'],
    ['apps', 'v1', 'deployments'],
    ['apps', 'v1', 'statefulsets'],
    ['apps', 'v1', 'daemonsets'],
    ['apps', 'v1', 'replicasets'],
    ['batch', 'v1', 'jobs'],
    ['batch', 'v1', 'cronjobs'],
    ['argoproj.io', 'v1alpha1', 'rollouts'],
  ];
  for (const [g, v, r] of kinds) {
    assert.ok(covered(g, v, r, 'CREATE'), `${g}/${v} ${r} CREATE`);
    if (r !== 'pods') assert.ok(covered(g, v, r, 'UPDATE'), `${g}/${v} ${r} UPDATE`);
  }
  // A running Pod's containers are immutable: a patch on a Pod UPDATE could only get the update rejected.
  assert.equal(covered('', 'v1', 'pods', 'UPDATE'), false);
  for (const r of wh.rules) {
    assert.ok(!r.operations.includes('DELETE') && !r.operations.includes('*'), 'no DELETE or wildcard operations');
    assert.ok(!r.resources.includes('*') && !r.apiGroups.includes('*'), 'no wildcard resources');
    assert.equal(r.scope, 'Namespaced');
  }
  const withUpdate = webhookOf(template(helm, ['webhook.podOperations={CREATE,UPDATE}']).objects);
  assert.ok(withUpdate.rules.some((r: any) => r.resources.includes('pods') && r.operations.includes('UPDATE')));
  const noArgo = webhookOf(template(helm, ['webhook.argoRollouts=false']).objects);
  assert.ok(!noArgo.rules.some((r: any) => r.apiGroups.includes('argoproj.io')));
});

test('matchConditions: one guarded CEL expression on ghostwire.dev/enabled (and status) of object or template; can be turned off', (t) => {
  const helm = helmOrSkip(t);
  if (!helm) return;
  const wh = webhookOf(template(helm).objects);
  // The second condition (objects a controller makes never depend on the webhook) is checked in chart-trust.test.ts.
  assert.deepEqual(wh.matchConditions.map((c: any) => c.name), ['ghostwire-annotated', 'not-made-by-a-controller']);
  const expr: string = wh.matchConditions[0].expression;
  assert.match(expr, /^object != null && /, 'object is null for DELETE: guard it first');
  for (const path of ['object.metadata.annotations', 'object.spec.template.metadata.annotations', 'object.spec.jobTemplate.spec.template.metadata.annotations']) {
    assert.ok(expr.includes(`has(${path})`), `has(${path})`);
    assert.ok(expr.includes(`'ghostwire.dev/enabled' in ${path}`), `enabled in ${path}`);
    assert.ok(expr.includes(`'ghostwire.dev/status' in ${path}`), `status in ${path} (so removal of the opt-in converges)`);
  }
  // Every field access is under has(): no unguarded step into a field that may be missing.
  const accesses = expr.match(/object(\.[A-Za-z]+)+/g) ?? [];
  for (const a of accesses) {
    const parts = a.split('.');
    for (let i = 2; i <= parts.length; i++) {
      const prefix = parts.slice(0, i).join('.');
      assert.ok(expr.includes(`has(${prefix})`), `${prefix} is guarded by has()`);
    }
  }
  let depth = 0;
  for (const c of expr) {
    depth += c === '(' ? 1 : c === ')' ? -1 : 0;
    assert.ok(depth >= 0, 'balanced parentheses');
  }
  assert.equal(depth, 0, 'balanced parentheses');
  const off = webhookOf(template(helm, ['webhook.matchConditions.enabled=false']).objects);
  assert.equal(off.matchConditions, undefined);
});

test('certs.mode=helm: caBundle is the CA in the generated Secret, which signed a serving cert for the Service names', (t) => {
  const helm = helmOrSkip(t);
  if (!helm) return;
  const { objects } = template(helm, ['certs.extraIPs={127.0.0.1}', 'certs.extraDNSNames={webhook.local}', 'certs.helm.caRotation=2027-01']);
  const secret = find(objects, 'Secret', `${FULLNAME}-tls`);
  assert.equal(secret.type, 'kubernetes.io/tls');
  // Offline (no lookup) everything is generated; the trigger values are recorded so they act once.
  assert.equal(secret.metadata.annotations?.['ghostwire.dev/certificate-source'], 'generated');
  assert.equal(secret.metadata.annotations?.['ghostwire.dev/ca-rotation'], '2027-01');
  assert.equal(secret.metadata.annotations?.['ghostwire.dev/serving-cert-renewal'], '');
  const wh = webhookOf(objects);
  assert.equal(wh.clientConfig.caBundle, secret.data['ca.crt']);
  const ca = new X509Certificate(decode(secret.data['ca.crt']));
  const cert = new X509Certificate(decode(secret.data['tls.crt']));
  assert.equal(ca.ca, true);
  assert.ok(cert.verify(ca.publicKey), 'serving certificate signed by the bundled CA');
  assert.ok(cert.checkPrivateKey(createPrivateKey(decode(secret.data['tls.key']))), 'tls.key matches tls.crt');
  const sans = cert.subjectAltName ?? '';
  for (const dns of [FULLNAME, `${FULLNAME}.${NS}`, `${FULLNAME}.${NS}.svc`, `${FULLNAME}.${NS}.svc.cluster.local`, 'webhook.local']) {
    assert.ok(sans.split(', ').includes(`DNS:${dns}`), `SAN DNS:${dns} in ${sans}`);
  }
  assert.ok(sans.includes('IP Address:127.0.0.1'), `SAN IP 127.0.0.1 in ${sans}`);
  assert.ok(new Date(cert.validTo).getTime() > Date.now() + 300 * 86_400_000, 'valid for the configured days');

  // The pods mount exactly that Secret (certificate and key only, not the CA key).
  const dep = find(objects, 'Deployment', FULLNAME);
  const tlsVol = dep.spec.template.spec.volumes.find((v: any) => v.name === 'tls');
  assert.equal(tlsVol.secret.secretName, secret.metadata.name);
  assert.deepEqual(tlsVol.secret.items.map((i: any) => i.key).sort(), ['tls.crt', 'tls.key']);
  assert.equal(all(objects, 'Certificate').length, 0);
});

test('certs.mode=certManager: Issuer chain + Certificate, webhook annotated inject-ca-from, no caBundle in the chart', (t) => {
  const helm = helmOrSkip(t);
  if (!helm) return;
  const { objects } = template(helm, ['certs.mode=certManager', 'certs.extraIPs={127.0.0.1}']);
  const mwc = find(objects, 'MutatingWebhookConfiguration', FULLNAME);
  const serving = find(objects, 'Certificate', `${FULLNAME}-tls`);
  assert.equal(mwc.metadata.annotations?.['cert-manager.io/inject-ca-from'], `${NS}/${serving.metadata.name}`);
  assert.equal(serving.metadata.namespace, NS);
  assert.ok(!mwc.webhooks[0].clientConfig.caBundle, 'caBundle left to the cainjector');
  assert.ok(serving.spec.dnsNames.includes(`${FULLNAME}.${NS}.svc`));
  assert.deepEqual(serving.spec.ipAddresses, ['127.0.0.1']);
  assert.equal(serving.spec.privateKey.algorithm, 'RSA');
  // self-signed Issuer -> CA Certificate -> CA Issuer -> serving Certificate
  const caIssuer = find(objects, 'Issuer', serving.spec.issuerRef.name);
  const caCert = all(objects, 'Certificate').find((c) => c.spec.secretName === caIssuer.spec.ca.secretName);
  assert.ok(caCert?.spec.isCA, 'CA Certificate');
  assert.ok(find(objects, 'Issuer', caCert.spec.issuerRef.name).spec.selfSigned !== undefined);
  const dep = find(objects, 'Deployment', FULLNAME);
  assert.equal(dep.spec.template.spec.volumes.find((v: any) => v.name === 'tls').secret.secretName, serving.spec.secretName);
  assert.equal(all(objects, 'Secret').filter((s) => s.type === 'kubernetes.io/tls').length, 0, 'no Helm-generated TLS Secret');

  // A user issuer replaces the bootstrap chain.
  const own = template(helm, ['certs.mode=certManager', 'certs.certManager.issuerRef.name=corp', 'certs.certManager.issuerRef.kind=ClusterIssuer']).objects;
  assert.equal(all(own, 'Issuer').length, 0);
  assert.deepEqual(find(own, 'Certificate').spec.issuerRef, { name: 'corp', kind: 'ClusterIssuer' });
});

test('certs.mode=existingSecret: the given Secret and caBundle; both required', (t) => {
  const helm = helmOrSkip(t);
  if (!helm) return;
  const bundle = Buffer.from('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n').toString('base64');
  const { objects } = template(helm, ['certs.mode=existingSecret', 'certs.existingSecret=corp-webhook-tls', `certs.caBundle=${bundle}`]);
  assert.equal(webhookOf(objects).clientConfig.caBundle, bundle);
  const dep = find(objects, 'Deployment', FULLNAME);
  assert.equal(dep.spec.template.spec.volumes.find((v: any) => v.name === 'tls').secret.secretName, 'corp-webhook-tls');
  assert.equal(all(objects, 'Secret').filter((s) => s.type === 'kubernetes.io/tls').length, 0);
  const noSecret = template(helm, ['certs.mode=existingSecret', `certs.caBundle=${bundle}`], false);
  assert.notEqual(noSecret.status, 0);
  assert.match(noSecret.stderr, /certs\.existingSecret/);
  const noBundle = template(helm, ['certs.mode=existingSecret', 'certs.existingSecret=corp-webhook-tls'], false);
  assert.notEqual(noBundle.status, 0);
  assert.match(noBundle.stderr, /certs\.caBundle/);
});

test('webhook.url: clientConfig.url instead of the Service (out-of-cluster webhook for development and e2e)', (t) => {
  const helm = helmOrSkip(t);
  if (!helm) return;
  const { objects } = template(helm, ['webhook.url=https://127.0.0.1:18443/mutate', 'certs.extraIPs={127.0.0.1}']);
  const wh = webhookOf(objects);
  assert.equal(wh.clientConfig.url, 'https://127.0.0.1:18443/mutate');
  assert.equal(wh.clientConfig.service, undefined);
  const secret = find(objects, 'Secret', `${FULLNAME}-tls`);
  assert.equal(wh.clientConfig.caBundle, secret.data['ca.crt']);
  assert.ok(new X509Certificate(decode(secret.data['tls.crt'])).checkIP('127.0.0.1'), 'certificate valid for 127.0.0.1');
  const bad = template(helm, ['webhook.url=http://127.0.0.1:18443/mutate'], false);
  assert.notEqual(bad.status, 0, 'plain http is rejected by the schema');
});

test('RBAC: minimal and without wildcards (webhook, injected pods, shadow controller)', (t) => {
  const helm = helmOrSkip(t);
  if (!helm) return;
  const { objects } = template(helm, ['shadow.enabled=true', 'injectedNamespaces={shop}', 'injectedServiceAccounts={orders-web}']);
  const roles = [...all(objects, 'Role'), ...all(objects, 'ClusterRole')];
  assert.ok(roles.length >= 4);
  for (const role of roles) {
    for (const rule of role.rules) {
      for (const field of ['verbs', 'resources', 'apiGroups']) {
        assert.ok(!(rule[field] ?? []).includes('*'), `${role.kind} ${role.metadata.name}: no "*" in ${field}`);
      }
      assert.equal(rule.nonResourceURLs, undefined);
      assert.ok(!rule.verbs.some((v: string) => ['update', 'deletecollection', 'escalate', 'bind', 'impersonate'].includes(v)), `${role.metadata.name}: ${rule.verbs}`);
    }
  }
  const verbsOf = (role: K8sObject, group: string, resource: string): string[] =>
    role.rules.filter((r: any) => r.apiGroups.includes(group) && r.resources.includes(resource)).flatMap((r: any) => r.verbs).sort();

  // Webhook: its defaults ConfigMap in its own namespace (read-only, by name); Events and reads of the admitted
  // kinds only in the opted-in namespaces (details in chart-trust.test.ts).
  const role = find(objects, 'Role', FULLNAME);
  assert.equal(role.metadata.namespace, NS);
  assert.deepEqual(role.rules, [{ apiGroups: [''], resources: ['configmaps'], resourceNames: [`${FULLNAME}-defaults`], verbs: ['get', 'list', 'watch'] }]);
  assert.ok(!all(objects, 'ClusterRole').some((r) => r.metadata.name === FULLNAME), 'no cluster-wide role for the webhook');
  const events = all(objects, 'Role').find((r) => r.metadata.name === `${FULLNAME}-webhook`);
  assert.equal(events?.metadata.namespace, 'shop');
  assert.deepEqual(verbsOf(events!, '', 'events'), ['create']);
  for (const binding of [find(objects, 'RoleBinding', FULLNAME), find(objects, 'RoleBinding', `${FULLNAME}-webhook`)]) {
    assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: FULLNAME, namespace: NS }]);
  }

  // Injected pods: list/watch Services, get/watch Pods, Events on their own Pod, in their namespace only, for the
  // named ServiceAccounts.
  const injected = all(objects, 'Role').find((r) => r.metadata.name === `${FULLNAME}-injected`);
  assert.equal(injected?.metadata.namespace, 'shop');
  assert.deepEqual(verbsOf(injected!, '', 'services'), ['list', 'watch']);
  assert.deepEqual(verbsOf(injected!, '', 'pods'), ['get', 'watch']);
  assert.deepEqual(verbsOf(injected!, '', 'events'), ['create', 'patch']);
  assert.equal(injected!.rules.length, 3);
  const injectedBinding = all(objects, 'RoleBinding').find((r) => r.metadata.name === `${FULLNAME}-injected`);
  assert.deepEqual(injectedBinding?.subjects, [{ kind: 'ServiceAccount', name: 'orders-web', namespace: 'shop' }]);

  // Shadow controller: its own ServiceAccount and a Role in each opted-in namespace.
  const shadowRole = all(objects, 'Role').find((r) => r.metadata.name === `${FULLNAME}-shadow`);
  assert.equal(shadowRole?.metadata.namespace, 'shop');
  assert.deepEqual(verbsOf(shadowRole!, 'apps', 'deployments'), ['create', 'delete', 'get', 'list', 'patch', 'watch']);
  assert.deepEqual(verbsOf(shadowRole!, 'apps', 'statefulsets'), ['get', 'list', 'patch', 'watch']);
  assert.deepEqual(verbsOf(shadowRole!, 'networking.k8s.io', 'ingresses'), ['create', 'delete', 'get', 'patch']);
  assert.deepEqual(verbsOf(shadowRole!, 'discovery.k8s.io', 'endpointslices'), ['list', 'watch']);
  assert.deepEqual(verbsOf(shadowRole!, '', 'pods'), ['list', 'watch']);
  const shadowBinding = all(objects, 'RoleBinding').find((r) => r.metadata.name === `${FULLNAME}-shadow`);
  assert.deepEqual(shadowBinding?.subjects, [{ kind: 'ServiceAccount', name: `${FULLNAME}-shadow`, namespace: NS }]);
});

test('injected-pod RBAC: per-namespace ServiceAccounts narrow the binding', (t) => {
  const helm = helmOrSkip(t);
  if (!helm) return;
  const { objects } = template(helm, ['injectedNamespaces[0]=shop', 'injectedNamespaces[1].name=pay', 'injectedNamespaces[1].serviceAccounts={pay-web}', 'injectedServiceAccounts={orders-web,orders-worker}']);
  const bindingIn = (ns: string) => all(objects, 'RoleBinding').find((b) => b.metadata.namespace === ns);
  assert.deepEqual(bindingIn('shop')?.subjects.map((s: any) => `${s.kind}:${s.namespace}/${s.name}`), ['ServiceAccount:shop/orders-web', 'ServiceAccount:shop/orders-worker']);
  assert.deepEqual(bindingIn('pay')?.subjects.map((s: any) => `${s.kind}:${s.namespace}/${s.name}`), ['ServiceAccount:pay/pay-web']);
  assert.equal(all(template(helm).objects, 'Role').length, 1, 'no injected-pod RBAC unless asked for');
});

test('webhook pods: non-root 65532, read-only root, no capabilities, RuntimeDefault seccomp, HTTPS probes, args wired to the mounts', (t) => {
  const helm = helmOrSkip(t);
  if (!helm) return;
  const { objects } = template(helm, ['metrics.prometheusScrape=true']);
  const dep = find(objects, 'Deployment', FULLNAME);
  const pod = dep.spec.template.spec;
  assert.equal(dep.spec.replicas, 2);
  assert.equal(dep.spec.strategy.rollingUpdate.maxUnavailable, 0);
  assert.equal(pod.securityContext.runAsNonRoot, true);
  assert.equal(pod.securityContext.runAsUser, 65532);
  assert.equal(pod.securityContext.seccompProfile.type, 'RuntimeDefault');
  assert.equal(pod.serviceAccountName, FULLNAME);
  assert.equal(pod.containers.length, 1);
  const c = pod.containers[0];
  assert.equal(c.image, 'ghostwire:0.1.0');
  assert.deepEqual(c.command, ['ghostwire']);
  const sc = c.securityContext;
  assert.equal(sc.runAsNonRoot, true);
  assert.equal(sc.runAsUser, 65532);
  assert.equal(sc.readOnlyRootFilesystem, true);
  assert.equal(sc.allowPrivilegeEscalation, false);
  assert.equal(sc.privileged, false);
  assert.deepEqual(sc.capabilities, { drop: ['ALL'] });
  assert.equal(sc.seccompProfile.type, 'RuntimeDefault');
  assert.ok(c.resources.requests.cpu && c.resources.requests.memory && c.resources.limits.memory, 'resources set');
  for (const [probe, path] of [['readinessProbe', '/readyz'], ['livenessProbe', '/healthz']] as const) {
    assert.equal(c[probe].httpGet.path, path);
    assert.equal(c[probe].httpGet.scheme, 'HTTPS');
    assert.equal(c.ports.find((p: any) => p.name === c[probe].httpGet.port)?.containerPort, 8443);
  }

  // Flags: every file flag points into a mounted volume, the ConfigMap flag at the rendered ConfigMap.
  assert.equal(c.args[0], 'serve');
  const flags = new Map<string, string>(c.args.slice(1).map((a: string) => {
    const m = /^--([a-z-]+)=(.*)$/.exec(a);
    assert.ok(m, `flag ${a} uses --name=value`);
    return [m[1] as string, m[2] as string];
  }));
  assert.equal(flags.get('port'), '8443');
  assert.equal(flags.get('defaults-configmap'), `${NS}/${find(objects, 'ConfigMap', `${FULLNAME}-defaults`).metadata.name}`);
  assert.equal(flags.get('namespace'), '$(POD_NAMESPACE)');
  assert.deepEqual(c.env.find((e: any) => e.name === 'POD_NAMESPACE').valueFrom, { fieldRef: { fieldPath: 'metadata.namespace' } });
  const mountOf = (file: string) => {
    const m = c.volumeMounts.find((vm: any) => file.startsWith(`${vm.mountPath}/`));
    assert.ok(m, `${file} is under a mount`);
    const vol = pod.volumes.find((v: any) => v.name === m.name);
    return { vol, rel: file.slice(m.mountPath.length + 1) };
  };
  const cert = mountOf(flags.get('tls-cert')!);
  const key = mountOf(flags.get('tls-key')!);
  assert.equal(cert.vol.secret.secretName, `${FULLNAME}-tls`);
  assert.ok(cert.vol.secret.items.some((i: any) => i.path === cert.rel && i.key === 'tls.crt'));
  assert.ok(key.vol.secret.items.some((i: any) => i.path === key.rel && i.key === 'tls.key'));
  const tunnel = mountOf(flags.get('tunnel-key-file')!);
  const tunnelSecret = find(objects, 'Secret', `${FULLNAME}-tunnel-key`);
  assert.equal(tunnel.vol.secret.secretName, tunnelSecret.metadata.name);
  assert.ok(tunnel.vol.secret.items.some((i: any) => i.path === tunnel.rel && tunnelSecret.data[i.key] !== undefined));
  assert.match(decode(tunnelSecret.data.key), /^[A-Za-z0-9]{48}$/);
  for (const vm of c.volumeMounts) if (vm.name !== 'tmp') assert.equal(vm.readOnly, true);

  // Graceful drain fits in the grace period.
  assert.ok(pod.terminationGracePeriodSeconds > Number(flags.get('drain-delay')), 'terminationGracePeriodSeconds > drain delay');
  const tooShort = template(helm, ['drainDelaySeconds=30', 'terminationGracePeriodSeconds=20'], false);
  assert.notEqual(tooShort.status, 0);
  assert.match(tooShort.stderr, /terminationGracePeriodSeconds/);

  // HA: soft anti-affinity on the hostname; scrape annotations on request.
  const term = pod.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm;
  assert.equal(term.topologyKey, 'kubernetes.io/hostname');
  assert.ok(selects(term.labelSelector, dep.spec.template.metadata.labels));
  assert.equal(pod.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution, undefined);
  assert.equal(dep.spec.template.metadata.annotations['prometheus.io/scrape'], 'true');
  assert.equal(dep.spec.template.metadata.annotations['prometheus.io/scheme'], 'https');
  assert.equal(template(helm).objects.find((o) => o.kind === 'Deployment')?.spec.template.metadata.annotations, undefined);
});

test('PodDisruptionBudget: minAvailable 1 over the webhook pods; none for a single replica', (t) => {
  const helm = helmOrSkip(t);
  if (!helm) return;
  const { objects } = template(helm);
  const pdb = find(objects, 'PodDisruptionBudget', FULLNAME);
  assert.equal(pdb.apiVersion, 'policy/v1');
  assert.equal(pdb.spec.minAvailable, 1);
  assert.ok(selects(pdb.spec.selector, find(objects, 'Deployment', FULLNAME).spec.template.metadata.labels));
  assert.equal(all(template(helm, ['replicaCount=1']).objects, 'PodDisruptionBudget').length, 0);
});

test('defaults ConfigMap: config.yaml from .Values.defaults is a valid defaults document; image defaults to the chart image', (t) => {
  const helm = helmOrSkip(t);
  if (!helm) return;
  const plain = find(template(helm).objects, 'ConfigMap', `${FULLNAME}-defaults`);
  const base = parseDefaults(plain.data['config.yaml'], 'chart');
  assert.deepEqual(base.errors, []);
  assert.equal(base.defaults.config.image, 'ghostwire:0.1.0');
  const pinned = find(template(helm, ['image.repository=team/ghostwire', 'image.tag=1.2.3']).objects, 'ConfigMap', `${FULLNAME}-defaults`);
  assert.equal(parseDefaults(pinned.data['config.yaml'], 'chart').defaults.config.image, 'team/ghostwire:1.2.3');

  const rich = find(template(helm, [
    'defaults.invalidAnnotations=warn', 'defaults.jumpHook=PREROUTING', 'defaults.excludeCidrs={10.0.0.0/8,192.168.0.0/16}',
    'defaults.ipv6=true', 'defaults.pollInterval=5s', 'defaults.refreshInterval=10m', 'defaults.cpuLimit=1', 'defaults.memoryLimit=256Mi',
    'defaults.nativeSidecar=true', 'defaults.image=ghostwire:custom', 'defaults.network.enableTunnel=true', 'defaults.network.wildcardDNS=tunnel.example.com',
  ]).objects, 'ConfigMap', `${FULLNAME}-defaults`);
  const parsed = parseDefaults(rich.data['config.yaml'], 'chart');
  assert.deepEqual(parsed.errors, []);
  assert.equal(parsed.defaults.invalidAnnotations, 'warn');
  assert.equal(parsed.defaults.config.jumpHook, 'PREROUTING');
  assert.deepEqual(parsed.defaults.config.excludeCidrs, ['10.0.0.0/8', '192.168.0.0/16']);
  assert.equal(parsed.defaults.config.pollIntervalMs, 5000);
  assert.equal(parsed.defaults.config.image, 'ghostwire:custom');
  assert.equal(parsed.defaults.network.enableTunnel, true);
});

test('values.schema.json: draft-07, closed at the top, and its defaults block lists exactly the keys the code accepts', () => {
  const schema = JSON.parse(readFileSync(repoPath('charts', 'ghostwire', 'values.schema.json'), 'utf8'));
  assert.equal(schema.$schema, 'http://json-schema.org/draft-07/schema#');
  assert.equal(schema.additionalProperties, false);
  const values = parseYaml(readFileSync(repoPath('charts', 'ghostwire', 'values.yaml'), 'utf8')) as Record<string, unknown>;
  assert.deepEqual(Object.keys(schema.properties).sort(), Object.keys(values).sort(), 'every value has a schema entry and vice versa');
  const d = schema.properties.defaults;
  assert.equal(d.additionalProperties, false);
  assert.deepEqual(Object.keys(d.properties).sort(), [...OPTION_LIST.map((o) => o.key), ...DEFAULTS_DOCUMENT_KEYS].sort());
  assert.deepEqual(Object.keys(d.properties.network.properties).sort(), Object.keys(BUILTIN_NETWORK).sort());
  assert.deepEqual(d.properties.invalidAnnotations.enum, ['deny', 'warn']);
  assert.deepEqual(d.properties.jumpHook.enum, ['OUTPUT', 'PREROUTING']);
  assert.deepEqual(schema.properties.webhook.properties.failurePolicy.enum, ['Fail', 'Ignore']);
  assert.deepEqual(schema.properties.certs.properties.mode.enum, ['helm', 'certManager', 'existingSecret']);
  assert.equal(schema.properties.webhook.properties.timeoutSeconds.maximum, 30);
});

test('values.schema.json rejects bad values: helm 3 and helm 4 template fail with a schema error', (t) => {
  const helms = bothHelmsOrSkip(t);
  if (!helms) return;
  const cases: Array<[string, RegExp]> = [
    ['webhook.failurePolicy=Sometimes', /failurePolicy.*(Fail|one of)/],
    ['webhook.timeoutSeconds=31', /timeoutSeconds/],
    ['certs.mode=selfSigned', /mode/],
    ['defaults.jumpHook=INPUT', /jumpHook/],
    ['defaults.invalidAnnotations=ignore', /invalidAnnotations/],
    ['defaults.notAKey=1', /notAKey|additional/i],
    ['replicaCount=0', /replicaCount/],
    ['surprise=1', /surprise|additional/i],
  ];
  for (const { version, path } of helms) {
    for (const [set, detail] of cases) {
      const r = template(path, [set], false);
      assert.notEqual(r.status, 0, `helm ${version}: ${set} must be rejected`);
      assert.match(r.stderr, /values don't meet the specifications of the schema/, `helm ${version}: ${set}: schema error expected, got:\n${r.stderr}`);
      assert.match(r.stderr, detail, `helm ${version}: ${set}: the error names the value:\n${r.stderr}`);
    }
  }
});

test('shadow controller: off by default; behind shadow.enabled its own Deployment, ServiceAccount and hardened pod', (t) => {
  const helm = helmOrSkip(t);
  if (!helm) return;
  const off = template(helm).objects;
  assert.ok(!off.some((o) => o.metadata.name.includes('shadow')), 'nothing shadow-related by default');
  const { objects } = template(helm, ['shadow.enabled=true', 'injectedNamespaces={shop}', 'injectedServiceAccounts={orders-web}']);
  const dep = find(objects, 'Deployment', `${FULLNAME}-shadow`);
  assert.equal(dep.spec.strategy.type, 'Recreate');
  const pod = dep.spec.template.spec;
  assert.equal(pod.serviceAccountName, `${FULLNAME}-shadow`);
  find(objects, 'ServiceAccount', `${FULLNAME}-shadow`);
  const c = pod.containers[0];
  assert.deepEqual(c.command, ['ghostwire']);
  assert.deepEqual(c.args.slice(0, 2), ['shadow', 'run']);
  // The same ConfigMap the webhook follows, followed live (no checksum restart, no mounted copy).
  assert.ok(c.args.includes(`--defaults-configmap=${NS}/${FULLNAME}-defaults`), c.args.join(' '));
  assert.ok(c.args.includes('--tunnel-key-file=/etc/ghostwire/tunnel/key'));
  assert.ok(!pod.volumes.some((v: any) => v.name === 'defaults'));
  const role = find(objects, 'Role', `${FULLNAME}-shadow-defaults`);
  assert.deepEqual(role.rules, [{ apiGroups: [''], resources: ['configmaps'], resourceNames: [`${FULLNAME}-defaults`], verbs: ['get', 'list', 'watch'] }]);
  assert.deepEqual(find(objects, 'RoleBinding', `${FULLNAME}-shadow-defaults`).subjects, [{ kind: 'ServiceAccount', name: `${FULLNAME}-shadow`, namespace: NS }]);
  assert.equal(c.securityContext.readOnlyRootFilesystem, true);
  assert.deepEqual(c.securityContext.capabilities, { drop: ['ALL'] });
  assert.equal(pod.securityContext.runAsUser, 65532);
});
