// The webhook as the API server sees it: a real kube-apiserver verifies our certificate against the caBundle,
// applies our patch, validates the result, reinvokes us, and controller-manager stamps out Pods from what we wrote.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { CLI, repoPath } from '../helpers/paths.js';
import { type ControlPlane, freePort, startControlPlane, waitFor } from './harness.js';
import { startOtherWebhook } from './other-webhook.js';

const NS = 'shop';
const GW_NS = 'ghostwire';
let cp: ControlPlane;
let dir: string;
let webhook: ChildProcess | undefined;
let webhookLog = '';
let port: number;

const yaml = (...docs: unknown[]) => docs.map((d) => stringify(d)).join('---\n');
const getJson = async (args: string[]) => JSON.parse((await cp.kubectl([...args, '-o', 'json'])).stdout);

function deployment(name: string, annotations: Record<string, string> = { 'ghostwire.dev/enabled': 'true' }, ns = NS) {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: ns, annotations },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name, role: 'active' } },
        spec: { initContainers: [{ name: 'migrate', image: 'migrate:1' }], containers: [{ name: 'app', image: 'app:1', ports: [{ containerPort: 8080 }] }] },
      },
    },
  };
}

/** Only objects that carry our annotation (on the object or a pod template) are sent to the webhook. */
const ANNOTATED = [
  "(has(object.metadata.annotations) && 'ghostwire.dev/enabled' in object.metadata.annotations)",
  "(has(object.spec) && has(object.spec.template) && has(object.spec.template.metadata) && has(object.spec.template.metadata.annotations) && 'ghostwire.dev/enabled' in object.spec.template.metadata.annotations)",
  "(has(object.spec) && has(object.spec.jobTemplate) && has(object.spec.jobTemplate.spec.template.metadata) && has(object.spec.jobTemplate.spec.template.metadata.annotations) && 'ghostwire.dev/enabled' in object.spec.jobTemplate.spec.template.metadata.annotations)",
].join(' || ');

function webhookConfiguration(name: string, url: string, caBundle: string, extra: Record<string, unknown> = {}) {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name },
    webhooks: [
      {
        name: `${name}.ghostwire.dev`,
        admissionReviewVersions: ['v1'],
        sideEffects: 'NoneOnDryRun',
        reinvocationPolicy: 'IfNeeded',
        timeoutSeconds: 5,
        failurePolicy: 'Fail',
        matchPolicy: 'Equivalent',
        clientConfig: { url, caBundle },
        matchConditions: [{ name: 'ghostwire-annotated', expression: ANNOTATED }],
        namespaceSelector: {
          matchExpressions: [
            { key: 'ghostwire.dev/injection', operator: 'In', values: ['enabled'] },
            { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', 'kube-public', 'kube-node-lease', GW_NS] },
          ],
        },
        rules: [
          { operations: ['CREATE', 'UPDATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] },
          { operations: ['CREATE', 'UPDATE'], apiGroups: ['apps'], apiVersions: ['v1'], resources: ['deployments', 'statefulsets', 'daemonsets', 'replicasets'] },
          { operations: ['CREATE', 'UPDATE'], apiGroups: ['batch'], apiVersions: ['v1'], resources: ['jobs', 'cronjobs'] },
          { operations: ['CREATE', 'UPDATE'], apiGroups: ['argoproj.io'], apiVersions: ['v1alpha1'], resources: ['rollouts'] },
        ],
        ...extra,
      },
    ],
  };
}

async function startWebhook(): Promise<void> {
  webhookLog = '';
  webhook = spawn(process.execPath, [
    CLI, 'serve', '--port', String(port), '--host', '127.0.0.1',
    '--tls-cert', join(dir, 'tls.crt'), '--tls-key', join(dir, 'tls.key'),
    '--defaults-configmap', `${GW_NS}/ghostwire-defaults`, '--namespace', GW_NS,
    '--kubeconfig', cp.kubeconfigPath, '--events', 'on', '--tls-reload-interval', '0.5', '--drain-delay', '0',
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  webhook.stdout!.on('data', (d: Buffer) => (webhookLog += d.toString()));
  webhook.stderr!.on('data', (d: Buffer) => (webhookLog += d.toString()));
  await waitFor('webhook listening', 20_000, async () => webhookLog.includes('ghostwire webhook listening'));
}

/** A dry-run create shows our patch once the API server has picked up the configuration. */
async function waitForInjection(): Promise<void> {
  await waitFor('webhook configuration in effect', 30_000, async () => {
    const r = await cp.kubectl(['apply', '--dry-run=server', '-o', 'json', '-f', '-'], { input: yaml(deployment('probe')), allowFail: true });
    return r.code === 0 && JSON.parse(r.stdout).spec.template.spec.containers.some((c: { name: string }) => c.name === 'ghostwire-watcher');
  }, 500);
}

async function eventsFor(kind: string, name: string, ns = NS): Promise<Array<{ reason: string; message: string }>> {
  const list = await getJson(['get', 'events', '-n', ns, '--field-selector', `involvedObject.kind=${kind},involvedObject.name=${name}`]);
  return list.items;
}

/** Serving files from the chart's own certificate Secret: key first, certificate second (a real rotation's order). */
async function copyChartCertificate(): Promise<void> {
  const secret = await getJson(['-n', GW_NS, 'get', 'secret', 'ghostwire-tls']);
  const field = (k: string) => Buffer.from(secret.data[k], 'base64').toString('utf8');
  writeFileSync(join(dir, 'ca.crt'), field('ca.crt'));
  writeFileSync(join(dir, 'tls.key'), field('tls.key'), { mode: 0o600 });
  writeFileSync(join(dir, 'tls.crt'), field('tls.crt'));
}

/** The chart with Helm 4 (the test's default helm); `--flag` arguments are passed through, the rest are --set values. */
const helmChart = async (verb: 'install' | 'upgrade', ...args: string[]) =>
  cp.helm([
    verb, 'ghostwire', repoPath('charts', 'ghostwire'), '-n', GW_NS, ...(verb === 'install' ? ['--create-namespace'] : ['--reuse-values']),
    ...args.flatMap((a) => (a.startsWith('--') ? [a] : ['--set', a])),
  ]);

before(async () => {
  cp = await startControlPlane();
  dir = mkdtempSync(join(tmpdir(), 'gw-e2e-webhook-'));
  port = await freePort();
  await cp.kubectl(['create', 'namespace', NS]);
  await cp.kubectl(['label', 'namespace', NS, 'ghostwire.dev/injection=enabled']);
  await cp.kubectl(['label', 'namespace', 'kube-system', 'ghostwire.dev/injection=enabled', '--overwrite']);
  // The chart as users install it, with the webhook pointed at the locally running server (url mode).
  await helmChart('install', `webhook.url=https://127.0.0.1:${port}/mutate`, 'certs.extraIPs={127.0.0.1}', 'defaults.invalidAnnotations=deny');
  await copyChartCertificate();
  await startWebhook();
  await waitForInjection();
});

after(async () => {
  webhook?.kill('SIGKILL');
  await cp?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('helm install (url mode): the webhook configuration carries the chart-generated CA and the API server accepts our certificate', async () => {
  const cfg = await getJson(['get', 'mutatingwebhookconfiguration', 'ghostwire']);
  const hook = cfg.webhooks[0];
  const secret = await getJson(['-n', GW_NS, 'get', 'secret', 'ghostwire-tls']);
  assert.equal(hook.clientConfig.caBundle, secret.data['ca.crt']);
  assert.equal(hook.clientConfig.url, `https://127.0.0.1:${port}/mutate`);
  assert.equal(hook.sideEffects, 'NoneOnDryRun');
  assert.equal(hook.reinvocationPolicy, 'IfNeeded');
  assert.equal(hook.timeoutSeconds, 5);
  assert.equal(hook.failurePolicy, 'Fail');
  // waitForInjection() in before() already saw a patch: the API server verified our certificate against it.
  assert.ok(webhookLog.includes('"result":"injected"'));
  const defaults = await getJson(['-n', GW_NS, 'get', 'configmap', 'ghostwire-defaults']);
  assert.match(defaults.data['config.yaml'], /invalidAnnotations: deny/);
});

test('annotated Deployment: stored object carries ghostwire-init last, the watcher, volume, env and status; its Pods are injected once', async () => {
  await cp.kubectl(['apply', '-f', '-'], { input: yaml(deployment('orders')) });
  const d = await getJson(['-n', NS, 'get', 'deployment', 'orders']);
  const spec = d.spec.template.spec;
  assert.deepEqual(spec.initContainers.map((c: { name: string }) => c.name), ['migrate', 'ghostwire-init']);
  assert.deepEqual(spec.containers.map((c: { name: string }) => c.name), ['app', 'ghostwire-watcher']);
  assert.deepEqual(spec.volumes.map((v: { name: string }) => v.name), ['ghostwire-shared']);
  const env = Object.fromEntries(spec.containers[1].env.map((e: { name: string; value?: string }) => [e.name, e.value ?? 'fieldRef']));
  assert.equal(env.GW_NAT_CHAIN, 'CANARY_DNAT');
  assert.equal(env.POD_NAME, 'fieldRef');
  const status = JSON.parse(d.spec.template.metadata.annotations['ghostwire.dev/status']);
  assert.equal(status.initContainer, 'ghostwire-init');
  assert.match(status.configHash, /^[0-9a-f]{16}$/);
  assert.ok(d.metadata.annotations['ghostwire.dev/status']);

  // controller-manager creates a ReplicaSet and a Pod from the template. With `enabled` on the template as well,
  // the ReplicaSet and the Pod carry it: they must not be injected twice, and are not even sent to the webhook.
  const tpl = deployment('orders-tpl', {});
  (tpl.spec.template.metadata as { annotations?: Record<string, string> }).annotations = { 'ghostwire.dev/enabled': 'true' };
  await cp.kubectl(['apply', '-f', '-'], { input: yaml(tpl) });
  for (const app of ['orders', 'orders-tpl']) {
    const pod = await waitFor(`a Pod of deployment ${app}`, 60_000, async () => (await getJson(['-n', NS, 'get', 'pods', '-l', `app=${app}`])).items[0]);
    const count = (name: string) => [...pod.spec.initContainers, ...pod.spec.containers].filter((c: { name: string }) => c.name === name).length;
    assert.equal(count('ghostwire-init'), 1, app);
    assert.equal(count('ghostwire-watcher'), 1, app);
    assert.equal(pod.spec.volumes.filter((v: { name: string }) => v.name === 'ghostwire-shared').length, 1, app);
  }
  // The ReplicaSet and the Pods are made by controllers from an injected template: the chart's matchConditions
  // keep them away from the webhook (an outage must never stop them; test/e2e/outage.test.ts).
  const made = webhookLog.split('\n').filter((l) => /"kind":"(ReplicaSet|Pod)"/.test(l) && l.includes('orders-tpl'));
  assert.deepEqual(made, [], 'the ReplicaSet and Pods of an injected Deployment never reach the webhook');
  const rs = await getJson(['-n', NS, 'get', 'replicasets', '-l', 'app=orders-tpl']);
  assert.equal(rs.items.length, 1, 'exactly one ReplicaSet: the Deployment recognises the one it made');
});

test('Argo Rollout (CRD installed in the test): the template is injected; workloadRef Rollouts get a warning', async () => {
  const crd = {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: 'rollouts.argoproj.io' },
    spec: {
      group: 'argoproj.io',
      names: { kind: 'Rollout', listKind: 'RolloutList', plural: 'rollouts', singular: 'rollout' },
      scope: 'Namespaced',
      versions: [{ name: 'v1alpha1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }],
    },
  };
  await cp.kubectl(['apply', '-f', '-'], { input: yaml(crd) });
  // Polled, not `kubectl wait`: that fails at once while a just-created CRD has no status.conditions yet.
  await waitFor('CRD rollouts.argoproj.io Established', 30_000, async () => {
    const r = await cp.api('GET', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/rollouts.argoproj.io');
    return r.status === 200 && (r.body.status?.conditions ?? []).some((c: { type: string; status: string }) => c.type === 'Established' && c.status === 'True');
  });
  const rollout = { ...deployment('payments'), apiVersion: 'argoproj.io/v1alpha1', kind: 'Rollout' };
  await waitFor('Rollout apply', 20_000, async () => (await cp.kubectl(['apply', '-f', '-'], { input: yaml(rollout), allowFail: true })).code === 0);
  const r = await getJson(['-n', NS, 'get', 'rollout', 'payments']);
  assert.deepEqual(r.spec.template.spec.containers.map((c: { name: string }) => c.name), ['app', 'ghostwire-watcher']);
  const ref = { apiVersion: 'argoproj.io/v1alpha1', kind: 'Rollout', metadata: { name: 'payments-ref', namespace: NS, annotations: { 'ghostwire.dev/enabled': 'true' } }, spec: { workloadRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'orders' } } };
  const out = await cp.kubectl(['apply', '-f', '-'], { input: yaml(ref) });
  assert.match(out.stderr, /Warning: ghostwire: Rollout uses spec.workloadRef .* annotate the referenced workload/);
});

test('kubectl describe shows the status annotation and the GhostwireInjected Event', async () => {
  const events = await waitFor('GhostwireInjected event on deployment orders', 20_000, async () => {
    const e = await eventsFor('Deployment', 'orders');
    return e.some((x) => x.reason === 'GhostwireInjected') ? e : undefined;
  });
  assert.ok(events.length >= 1);
  const describe = (await cp.kubectl(['-n', NS, 'describe', 'deployment', 'orders'])).stdout;
  // kubectl folds long annotation values onto the next line.
  assert.ok(/ghostwire\.dev\/status:\s+\{"version":/.test(describe), 'describe shows the status annotation');
  assert.ok(/Normal\s+GhostwireInjected\s+.*Injected init container ghostwire-init and sidecar ghostwire-watcher/.test(describe), 'describe shows the Event');
  // The API server's audit log carries our auditAnnotations, prefixed with the webhook's name.
  const audit = readFileSync(join(cp.dir, 'audit.log'), 'utf8').split('\n').filter((l) => l.includes('"deployments"') && l.includes('"orders"'));
  assert.ok(audit.some((l) => /"inject\.ghostwire\.dev\/injected":"true"/.test(l) && /"inject\.ghostwire\.dev\/config-hash":"[0-9a-f]{16}"/.test(l)), 'audit log has injected and config-hash');
});

test('kubectl apply --dry-run=server injects in the returned object but records no Event', async () => {
  const out = await cp.kubectl(['apply', '--dry-run=server', '-o', 'json', '-f', '-'], { input: yaml(deployment('dryrun-only')) });
  assert.ok(JSON.parse(out.stdout).spec.template.spec.containers.some((c: { name: string }) => c.name === 'ghostwire-watcher'));
  await new Promise((r) => setTimeout(r, 3000));
  assert.deepEqual(await eventsFor('Deployment', 'dryrun-only'), []);
  const line = webhookLog.split('\n').find((l) => l.includes('"name":"dryrun-only"'));
  assert.ok(line?.includes('"dryRun":true'), 'the webhook saw the dry run');
});

test('an invalid annotation is refused with a message naming it, printed by kubectl apply', async () => {
  const bad = deployment('broken', { 'ghostwire.dev/enabled': 'true', 'ghostwire.dev/jumpHook': 'FORWARD', 'ghostwire.dev/excludeCidrs': '10.0.0.0/33' });
  const out = await cp.kubectl(['apply', '-f', '-'], { input: yaml(bad), allowFail: true });
  assert.notEqual(out.code, 0);
  assert.match(out.stderr, /ghostwire\.dev\/jumpHook: "FORWARD" is invalid; allowed: "OUTPUT" or "PREROUTING"/);
  assert.match(out.stderr, /ghostwire\.dev\/excludeCidrs: "10\.0\.0\.0\/33" is invalid/);
  assert.equal((await cp.kubectl(['-n', NS, 'get', 'deployment', 'broken'], { allowFail: true })).code, 1, 'nothing was stored');
});

test('unannotated workloads and kube-system are untouched', async () => {
  await cp.kubectl(['apply', '-f', '-'], { input: yaml(deployment('plain', {})) });
  const plain = await getJson(['-n', NS, 'get', 'deployment', 'plain']);
  assert.deepEqual(plain.spec.template.spec.containers.map((c: { name: string }) => c.name), ['app']);
  assert.equal(plain.metadata.annotations?.['ghostwire.dev/status'], undefined);
  // kube-system is labelled for injection above, yet excluded by the selector and by the server itself.
  await cp.kubectl(['apply', '-f', '-'], { input: yaml(deployment('system-thing', undefined, 'kube-system')) });
  const sys = await getJson(['-n', 'kube-system', 'get', 'deployment', 'system-thing']);
  assert.deepEqual(sys.spec.template.spec.containers.map((c: { name: string }) => c.name), ['app']);
});

test('a second webhook mutating the same objects with reinvocation leaves exactly one copy of every ghostwire container', async (t) => {
  const other = await startOtherWebhook({ envOnEveryContainer: false });
  t.after(() => other.close());
  // Named to sort after "ghostwire", so it runs second and forces ghostwire's reinvocation.
  const cfg = webhookConfiguration('zz-other', other.url, other.caBundle);
  await cp.kubectl(['apply', '-f', '-'], { input: yaml(cfg) });
  t.after(async () => {
    await cp.kubectl(['delete', 'mutatingwebhookconfiguration', 'zz-other', '--ignore-not-found']);
  });
  const d = await waitFor('both webhooks applied', 30_000, async () => {
    const r = await cp.kubectl(['apply', '--dry-run=server', '-o', 'json', '-f', '-'], { input: yaml(deployment('reinvoked')) });
    const names = JSON.parse(r.stdout).spec.template.spec.containers.map((c: { name: string }) => c.name);
    return names.includes('other-sidecar') && names.includes('ghostwire-watcher') ? JSON.parse(r.stdout) : undefined;
  }, 500);
  const all = [...d.spec.template.spec.initContainers, ...d.spec.template.spec.containers].map((c: { name: string }) => c.name);
  assert.deepEqual(all.sort(), ['app', 'ghostwire-init', 'ghostwire-watcher', 'migrate', 'other-sidecar']);
  assert.ok(other.calls() > 0);
  const reinvocations = webhookLog.split('\n').filter((l) => l.includes('"name":"reinvoked"')).length;
  assert.ok(reinvocations >= 2, `ghostwire was reinvoked after the other webhook (${reinvocations} admissions)`);
});

test('changing the defaults ConfigMap changes the next injection without a restart; an invalid version keeps the last good one; Helm 4 reports the hand edit as a conflict', async () => {
  const pid = webhook!.pid;
  await helmChart('upgrade', 'defaults.image=registry.example/ghostwire:9.9.9', 'defaults.natChain=TEAM_DNAT');
  const injected = await waitFor('new defaults in effect', 20_000, async () => {
    const r = await cp.kubectl(['apply', '--dry-run=server', '-o', 'json', '-f', '-'], { input: yaml(deployment('after-cm')) });
    const w = JSON.parse(r.stdout).spec.template.spec.containers.find((c: { name: string }) => c.name === 'ghostwire-watcher');
    return w?.image === 'registry.example/ghostwire:9.9.9' ? w : undefined;
  }, 300);
  assert.equal(injected.env.find((e: { name: string }) => e.name === 'GW_NAT_CHAIN').value, 'TEAM_DNAT');
  // An invalid version is rejected with a logged error; the previous one stays in force.
  await cp.kubectl(['-n', GW_NS, 'create', 'configmap', 'ghostwire-defaults', '--from-literal=config.yaml=natChain: "bad chain"\n', '--dry-run=client', '-o', 'yaml'])
    .then((r) => cp.kubectl(['apply', '-f', '-'], { input: r.stdout }));
  await waitFor('rejection logged', 20_000, async () => webhookLog.includes('defaults ConfigMap rejected'));
  const r = await cp.kubectl(['apply', '--dry-run=server', '-o', 'json', '-f', '-'], { input: yaml(deployment('after-bad-cm')) });
  const w = JSON.parse(r.stdout).spec.template.spec.containers.find((c: { name: string }) => c.name === 'ghostwire-watcher');
  assert.equal(w.env.find((e: { name: string }) => e.name === 'GW_NAT_CHAIN').value, 'TEAM_DNAT');
  assert.equal(webhook!.pid, pid, 'same process');

  // Helm 4 applies server-side: the next upgrade refuses to overwrite the field kubectl now owns, naming both;
  // --force-conflicts takes it back (what docs/install.md tells users who edited the ConfigMap by hand).
  const conflict = await cp.helm(['upgrade', 'ghostwire', repoPath('charts', 'ghostwire'), '-n', GW_NS, '--reuse-values'], { allowFail: true });
  assert.notEqual(conflict.code, 0);
  assert.match(conflict.stderr, /conflict with "kubectl-client-side-apply" using v1: \.data\.config\.yaml/);
  await helmChart('upgrade', '--force-conflicts');
  const cm = await getJson(['-n', GW_NS, 'get', 'configmap', 'ghostwire-defaults', '--show-managed-fields']);
  assert.match(cm.data['config.yaml'], /natChain: TEAM_DNAT/, "the chart's defaults are back");
  const owners = cm.metadata.managedFields.filter((f: { fieldsV1?: { 'f:data'?: Record<string, unknown> } }) => f.fieldsV1?.['f:data']?.['f:config.yaml']);
  assert.deepEqual(owners.map((f: { manager: string; operation: string }) => `${f.manager}/${f.operation}`), ['helm/Apply'], 'helm owns config.yaml again');
});

test('rotating the serving certificate (helm upgrade renews it, the files change mid-traffic): admissions keep succeeding', async () => {
  const before = readFileSync(join(dir, 'tls.crt'), 'utf8');
  let ok = 0;
  let failed = 0;
  let rotated = false;
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (!rotated && ok >= 3) {
      await helmChart('upgrade', 'certs.helm.servingCertRenewal=e2e-1');
      await copyChartCertificate();
      rotated = true;
    }
    const r = await cp.kubectl(['apply', '--dry-run=server', '-o', 'json', '-f', '-'], { input: yaml(deployment(`rot-${ok}`)), allowFail: true });
    if (r.code === 0 && JSON.parse(r.stdout).spec.template.spec.containers.some((c: { name: string }) => c.name === 'ghostwire-watcher')) ok++;
    else failed++;
  }
  assert.ok(rotated);
  assert.notEqual(readFileSync(join(dir, 'tls.crt'), 'utf8'), before, 'the chart issued a new serving certificate');
  assert.equal(failed, 0, `${failed} admissions failed around the rotation`);
  assert.ok(ok >= 6, `admissions after rotation (${ok})`);
  await waitFor('reload logged', 5000, async () => webhookLog.includes('serving certificate reloaded'));
});

test('the webhook is fail-closed in scope: with it down, annotated objects in opted-in namespaces are refused, others pass', async () => {
  webhook!.kill('SIGTERM');
  await new Promise((r) => webhook!.once('exit', r));
  const refused = await cp.kubectl(['apply', '-f', '-'], { input: yaml(deployment('while-down')), allowFail: true });
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /failed calling webhook/);
  const other = await cp.kubectl(['apply', '-f', '-'], { input: yaml(deployment('other-ns', { 'ghostwire.dev/enabled': 'true' }, 'default')) });
  assert.equal(other.code, 0, 'namespaces outside the scope are unaffected');
  const unannotated = await cp.kubectl(['apply', '-f', '-'], { input: yaml(deployment('unannotated-while-down', {})) });
  assert.equal(unannotated.code, 0, 'objects without the annotation are not sent to the webhook at all (matchConditions)');
  await startWebhook();
  await waitForInjection();
});

test('a bare Pod keeps the ServiceAccount token mount on the injected containers through reinvocation', async () => {
  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'bare', namespace: NS, annotations: { 'ghostwire.dev/enabled': 'true' } }, spec: { containers: [{ name: 'c', image: 'c:1' }] } };
  await cp.kubectl(['apply', '-f', '-'], { input: yaml(pod) });
  const stored = await getJson(['-n', NS, 'get', 'pod', 'bare']);
  for (const c of [...stored.spec.initContainers, ...stored.spec.containers]) {
    const mounts = (c.volumeMounts ?? []).map((m: { mountPath: string }) => m.mountPath);
    assert.ok(mounts.includes('/var/run/secrets/kubernetes.io/serviceaccount'), `${c.name} has the API token mount: ${mounts.join(', ')}`);
  }
  assert.deepEqual(stored.spec.containers.map((c: { name: string }) => c.name), ['c', 'ghostwire-watcher']);
});
