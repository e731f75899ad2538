// Injection by the API server itself: the generated admission policies installed on a real kube-apiserver (with
// controller-manager), no webhook anywhere. Every golden fixture of the webhook is created through it and stored
// with the parts `ghostwire inject` renders; re-applying changes nothing; updates, removal and reinvocation by
// another mutating webhook converge; the ReplicaSets and Pods controller-manager makes are left alone.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Defaults, builtinDefaults } from '../../src/config/defaults.js';
import { policyDefaultsProblems } from '../../src/policy/params.js';
import { loadCases } from '../helpers/injector-cases.js';
import { type ControlPlane, startControlPlane, waitFor } from './harness.js';
import { startOtherWebhook } from './other-webhook.js';
import { PARAMS, POLICY_NS, applyParams, collectionPath, differences, expected, installPolicy, request, yaml } from './policy-env.js';

let cp: ControlPlane;
const getJson = async (args: string[]) => JSON.parse((await cp.kubectl([...args, '-o', 'json'])).stdout);

const ROLLOUT_CRD = {
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

before(async () => {
  cp = await startControlPlane();
  for (const ns of ['shop', 'ml', 'hpc']) {
    await cp.kubectl(['create', 'namespace', ns]);
    await cp.kubectl(['label', 'namespace', ns, 'ghostwire.dev/injection=enabled']);
    await waitFor(`ServiceAccount ${ns}/default`, 60_000, async () => (await cp.kubectl(['-n', ns, 'get', 'serviceaccount', 'default'], { allowFail: true })).code === 0);
  }
  await cp.kubectl(['apply', '-f', '-'], { input: yaml(ROLLOUT_CRD) });
  await cp.kubectl(['wait', '--for=condition=Established', 'crd/rollouts.argoproj.io', '--timeout=30s']);
  await installPolicy(cp);
});

after(async () => {
  await cp?.stop();
});

/** The API server refuses objects the webhook's fixtures leave incomplete (documented in the test output). */
function completed(doc: any): { doc: any; note?: string } {
  const copy = structuredClone(doc);
  if (copy.spec?.selector?.matchLabels && copy.spec.template && !copy.spec.template.metadata?.labels) {
    copy.spec.template.metadata = { ...(copy.spec.template.metadata ?? {}), labels: copy.spec.selector.matchLabels };
    return { doc: copy, note: 'template labels added (the API server requires them to match the selector)' };
  }
  return { doc: copy };
}

test('every golden fixture of the webhook, created through the API server, is stored with the webhook\'s injected parts', async () => {
  const report: string[] = [];
  const failures: string[] = [];
  for (const c of loadCases()) {
    const defaults: Defaults = c.ctx.defaults;
    const refusedDefaults = policyDefaultsProblems(defaults, c.defaultsFile ?? 'built-in').errors;
    if (refusedDefaults.length > 0) {
      // Documented: a defaults document asking for tunnels is refused by `ghostwire policy` and by the API server.
      const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: PARAMS, namespace: POLICY_NS }, data: { tunnel: 'true' } };
      const r = await cp.kubectl(['apply', '-f', '-'], { input: yaml(cm), allowFail: true });
      assert.match(r.stderr, /tunnel: "true" is invalid; allowed: "false"/);
      report.push(`${c.name}: documented difference: its defaults ask for tunnels, refused (${refusedDefaults.map((e) => e.field).join(', ')})`);
      continue;
    }
    await applyParams(cp, defaults);
    for (const original of c.docs) {
      const { doc, note } = completed(original);
      const exp = expected(doc, defaults);
      const r = await request(cp, 'POST', collectionPath(doc), doc);
      const tunnel = JSON.stringify(doc).includes('"ghostwire.dev/tunnel":"true"');
      if (tunnel) {
        assert.equal(r.status, 422, `${c.name}: a tunnel workload is refused`);
        assert.match(String(r.body.message), /asks for a shadow tunnel \(ghostwire\.dev\/tunnel: "true"\), which injection by admission policy cannot give/);
        report.push(`${c.name}: documented difference: a tunnel workload is refused (the webhook ${exp.result} it)`);
        continue;
      }
      if (r.status !== 201) {
        failures.push(`${c.name}: the API server refused it: ${JSON.stringify(r.body?.message)}`);
        continue;
      }
      failures.push(...differences(r.body, exp).map((d) => `${c.name}: ${d}`));
      report.push(`${c.name}: ${exp.result}, same parts as the webhook${note ? `; ${note}` : ''}`);
    }
  }
  process.stderr.write(`[e2e] golden fixtures through the API server with the policies:\n${report.map((l) => `  ${l}`).join('\n')}\n`);
  assert.deepEqual(failures, []);
});

test('re-applying a fixture (kubectl apply, then server-side apply) is a no-op', async () => {
  await applyParams(cp, builtinDefaults());
  const file = loadCases().find((c) => c.name === 'deployment')!.file;
  await cp.kubectl(['-n', 'shop', 'delete', 'deployment', 'orders-web', '--ignore-not-found']);
  await cp.kubectl(['apply', '-f', file]);
  // controller-manager writes the status and its revision annotation (resourceVersion and generation move): compare
  // the spec and ghostwire's annotations, once the controller has written its revision.
  const state = async () => {
    const d = await getJson(['-n', 'shop', 'get', 'deployment', 'orders-web']);
    const own = Object.fromEntries(Object.entries(d.metadata.annotations ?? {}).filter(([k]) => k.startsWith('ghostwire.dev/')));
    return { annotations: own, spec: d.spec, revision: d.metadata.annotations?.['deployment.kubernetes.io/revision'] };
  };
  await waitFor('the Deployment controller\'s revision', 30_000, async () => (await state()).revision !== undefined);
  const first = await state();
  await cp.kubectl(['apply', '-f', file]);
  assert.deepEqual(await state(), first, 'kubectl apply of the same manifest changes nothing');
  await cp.kubectl(['apply', '--server-side', '--force-conflicts', '-f', file]);
  const ssa = await state();
  assert.deepEqual(ssa.spec, first.spec, 'taking the fields over by server-side apply keeps the parts');
  await cp.kubectl(['apply', '--server-side', '--force-conflicts', '-f', file]);
  assert.deepEqual(await state(), ssa, 'server-side apply of the same manifest changes nothing');
  const d = await getJson(['-n', 'shop', 'get', 'deployment', 'orders-web']);
  const spec = d.spec.template.spec;
  assert.deepEqual(spec.initContainers.map((c: any) => c.name), ['migrate', 'ghostwire-init']);
  assert.deepEqual(spec.containers.map((c: any) => c.name), ['web', 'ghostwire-watcher']);
  assert.deepEqual(spec.volumes.map((v: any) => v.name), ['config', 'ghostwire-shared']);
});

const base = () => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'steps', namespace: 'shop', annotations: { 'ghostwire.dev/enabled': 'true' } as Record<string, string> },
  spec: {
    selector: { matchLabels: { app: 'steps' } },
    template: { metadata: { labels: { app: 'steps' } }, spec: { initContainers: [{ name: 'migrate', image: 'm:1' }], containers: [{ name: 'web', image: 'w:1' }, { name: 'after', image: 'a:1' }] } },
  },
});

test('updating annotations converges step by step to what the webhook stores, removal on enabled: "false" included', async () => {
  const steps: Array<[string, Record<string, string>]> = [
    ['injected', {}],
    ['natChain changed', { 'ghostwire.dev/natChain': 'TEAM_DNAT' }],
    ['native sidecar', { 'ghostwire.dev/nativeSidecar': 'true' }],
    ['native, init first', { 'ghostwire.dev/nativeSidecar': 'true', 'ghostwire.dev/initFirst': 'true' }],
    ['back to a container', {}],
    ['resources', { 'ghostwire.dev/cpuRequest': '0.1', 'ghostwire.dev/memoryLimit': '1Gi' }],
    ['removed', { 'ghostwire.dev/enabled': 'false' }],
    ['injected again', {}],
  ];
  let stored: any;
  for (const [name, annotations] of steps) {
    const doc = base();
    Object.assign(doc.metadata.annotations, annotations);
    await cp.kubectl(['apply', '-f', '-'], { input: yaml(doc) });
    const got = await getJson(['-n', 'shop', 'get', 'deployment', 'steps']);
    // The webhook's answer for the same update: its pipeline on what was stored, with the new annotations.
    const previous = stored ? structuredClone(stored) : structuredClone(doc);
    if (stored) previous.metadata.annotations = { ...doc.metadata.annotations, ...(stored.metadata.annotations?.['ghostwire.dev/status'] ? { 'ghostwire.dev/status': stored.metadata.annotations['ghostwire.dev/status'] } : {}) };
    const exp = expected(previous, builtinDefaults());
    assert.deepEqual(differences(got, exp), [], name);
    stored = got;
  }
  assert.deepEqual(stored.spec.template.spec.containers.map((c: any) => c.name), ['web', 'after', 'ghostwire-watcher']);
});

test('another mutating webhook that reinvokes: exactly one copy of every ghostwire part', async (t) => {
  const other = await startOtherWebhook({ envOnEveryContainer: true });
  t.after(() => other.close());
  const cfg = {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name: 'other-injector' },
    webhooks: [{
      name: 'other.example.com', admissionReviewVersions: ['v1'], sideEffects: 'None', reinvocationPolicy: 'IfNeeded', timeoutSeconds: 5, failurePolicy: 'Fail',
      clientConfig: { url: other.url, caBundle: other.caBundle },
      objectSelector: { matchLabels: { 'other-injector': 'enabled' } },
      rules: [{ operations: ['CREATE', 'UPDATE'], apiGroups: ['apps'], apiVersions: ['v1'], resources: ['deployments'] }],
    }],
  };
  await cp.kubectl(['apply', '-f', '-'], { input: yaml(cfg) });
  t.after(async () => {
    await cp.kubectl(['delete', 'mutatingwebhookconfiguration', 'other-injector', '--ignore-not-found']);
  });
  const doc: any = base();
  doc.metadata.name = 'reinvoked';
  doc.metadata.labels = { 'other-injector': 'enabled' };
  const d = await waitFor('both injectors applied', 30_000, async () => {
    const r = await request(cp, 'POST', `${collectionPath(doc)}?dryRun=All`, doc);
    const names = r.body?.spec?.template.spec.containers?.map((c: { name: string }) => c.name) ?? [];
    return names.includes('other-sidecar') && names.includes('ghostwire-watcher') ? r.body : undefined;
  }, 500);
  const all = [...d.spec.template.spec.initContainers, ...d.spec.template.spec.containers].map((c: { name: string }) => c.name);
  assert.deepEqual(all.sort(), ['after', 'ghostwire-init', 'ghostwire-watcher', 'migrate', 'other-sidecar', 'web']);
  assert.deepEqual(d.spec.template.spec.volumes.map((v: { name: string }) => v.name), ['ghostwire-shared']);
  const watcher = d.spec.template.spec.containers.find((c: { name: string }) => c.name === 'ghostwire-watcher');
  assert.equal(watcher.env.filter((e: { name: string }) => e.name === 'GW_NAT_CHAIN').length, 1, 'one copy of each variable');
  assert.ok(other.calls() > 0);
});

test('controller-manager\'s ReplicaSets and Pods of a policy-injected Deployment carry one copy of each part', async () => {
  const doc: any = base();
  doc.metadata.name = 'made';
  doc.spec.selector.matchLabels = { app: 'made' };
  doc.spec.template.metadata = { labels: { app: 'made' }, annotations: { 'ghostwire.dev/enabled': 'true' } };
  await cp.kubectl(['apply', '-f', '-'], { input: yaml(doc) });
  const pod = await waitFor('a Pod of deployment made', 60_000, async () => (await getJson(['-n', 'shop', 'get', 'pods', '-l', 'app=made'])).items[0]);
  const count = (name: string) => [...pod.spec.initContainers, ...pod.spec.containers].filter((c: { name: string }) => c.name === name).length;
  assert.equal(count('ghostwire-init'), 1);
  assert.equal(count('ghostwire-watcher'), 1);
  // The ServiceAccount admission plugin ran again after the policy: ghostwire's containers carry the API token.
  for (const c of pod.spec.containers.filter((x: { name: string }) => x.name.startsWith('ghostwire-'))) {
    assert.ok(c.volumeMounts.some((m: { mountPath: string }) => m.mountPath === '/var/run/secrets/kubernetes.io/serviceaccount'), c.name);
  }
  const rs = await getJson(['-n', 'shop', 'get', 'replicasets', '-l', 'app=made']);
  assert.equal(rs.items.length, 1, 'the Deployment recognises its ReplicaSet (the policy left it alone)');
});

test('kubectl describe shows the status annotation and its config identity; the audit log says what happened', async () => {
  const describe = (await cp.kubectl(['-n', 'shop', 'describe', 'deployment', 'orders-web'])).stdout;
  // kubectl cuts long annotation values: the status shows what was injected, injected-by the config identity.
  assert.match(describe, /ghostwire\.dev\/injected-by:\s+admission policy, config policy:[0-9a-f]{16}/);
  assert.match(describe, /ghostwire\.dev\/status:\s+\{"version":"[^"]+","initContainer":"ghostwire-init","sidecar":"ghostwire-watcher","sidecarMode":"container"/);
  const d = await getJson(['-n', 'shop', 'get', 'deployment', 'orders-web']);
  const id = /config (policy:[0-9a-f]{16})/.exec(describe)![1];
  assert.equal(JSON.parse(d.spec.template.metadata.annotations['ghostwire.dev/status']).configHash, id, 'the same identity as the status annotation');
  const audit = readFileSync(join(cp.dir, 'audit.log'), 'utf8').split('\n').filter((l) => l.includes('"deployments"') && l.includes('"orders-web"'));
  assert.ok(audit.some((l) => /ghostwire-warn\/injected":"true"/.test(l) && /ghostwire-warn\/reason":"injected"/.test(l)), 'the warning policy\'s audit annotations are in the audit log');
});

test('no webhook runs: no MutatingWebhookConfiguration of ghostwire exists', async () => {
  const hooks = await getJson(['get', 'mutatingwebhookconfigurations']);
  assert.deepEqual(hooks.items.map((h: any) => h.metadata.name).filter((n: string) => n.includes('ghostwire')), []);
});

test('the defaults: an invalid edit is refused naming the key; a missing ConfigMap refuses enabled workloads loudly', async () => {
  const bad = await cp.kubectl(['-n', POLICY_NS, 'patch', 'configmap', PARAMS, '--type', 'merge', '-p', '{"data":{"natChain":"bad chain","fooBar":"x"}}'], { allowFail: true });
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /ghostwire: invalid defaults in ConfigMap ghostwire\/ghostwire-policy-defaults: fooBar: "" is invalid; allowed: a known key: .*natChain: "bad chain" is invalid; allowed: an iptables chain name/);
  await cp.kubectl(['-n', POLICY_NS, 'delete', 'configmap', PARAMS]);
  const doc: any = base();
  doc.metadata.name = 'no-params';
  const refused = await waitFor('refusal without parameters', 20_000, async () => {
    const r = await request(cp, 'POST', `${collectionPath(doc)}?dryRun=All`, doc);
    return r.status >= 400 ? String(r.body?.message) : undefined;
  }, 250);
  assert.match(refused, /no params found for policy binding with `Deny` parameterNotFoundAction/);
  // Measured: the API server resolves parameters before matchConditions, so in opted-in namespaces even workloads
  // that did not ask are refused (docs/install.md says so); outside them nothing changes.
  const plain: any = base();
  plain.metadata = { name: 'plain', namespace: 'shop' };
  const inScope = await request(cp, 'POST', `${collectionPath(plain)}?dryRun=All`, plain);
  assert.match(String(inScope.body?.message), /no params found/);
  plain.metadata.namespace = 'default';
  assert.equal((await request(cp, 'POST', `${collectionPath(plain)}?dryRun=All`, plain)).status, 201, 'namespaces out of scope are unaffected');
  await applyParams(cp, builtinDefaults());
});

test('switching from the webhook: a workload it injected is taken over in place (same parts, the policy\'s status and note)', async () => {
  const doc: any = base();
  doc.metadata.name = 'taken-over';
  // What the webhook stored: its pipeline's output, applied as the manifest.
  const webhookOutput = expected(doc, builtinDefaults()).output;
  await cp.kubectl(['apply', '-f', '-'], { input: yaml(webhookOutput) });
  const got = await getJson(['-n', 'shop', 'get', 'deployment', 'taken-over']);
  const spec = got.spec.template.spec;
  assert.deepEqual(spec.initContainers.map((c: any) => c.name), ['migrate', 'ghostwire-init']);
  assert.deepEqual(spec.containers.map((c: any) => c.name), ['web', 'after', 'ghostwire-watcher']);
  assert.deepEqual(differences(got, expected(doc, builtinDefaults())), [], 'the policy\'s status and note, the webhook\'s parts');
});

test('hostNetwork turned on for an injected workload removes ghostwire\'s parts, with the webhook\'s warning', async () => {
  const doc: any = base();
  doc.metadata.name = 'host-net';
  await cp.kubectl(['apply', '-f', '-'], { input: yaml(doc) });
  // The Deployment controller writes the status right after the create: a PUT of an older resourceVersion is a
  // 409 Conflict, so read again and retry, as any client of the API does.
  let update: any;
  let exp: ReturnType<typeof expected>;
  let r: Awaited<ReturnType<typeof request>>;
  for (let attempt = 1; ; attempt++) {
    update = structuredClone(await getJson(['-n', 'shop', 'get', 'deployment', 'host-net']));
    update.spec.template.spec.hostNetwork = true;
    exp = expected(update, builtinDefaults());
    r = await request(cp, 'PUT', `${collectionPath(update)}/host-net`, update);
    if (r.status !== 409 || attempt === 5) break;
  }
  assert.equal(exp.result, 'removed');
  assert.equal(r.status, 200, JSON.stringify(r.body?.message));
  assert.deepEqual(differences(r.body, exp), []);
  assert.deepEqual(r.warnings.filter((w) => w.includes('ghostwire-warn')).map((w) => w.replace(/^.*?: ghostwire/, 'ghostwire')), exp.warnings);
  assert.deepEqual(r.body.spec.template.spec.containers.map((c: any) => c.name), ['web', 'after']);
});
