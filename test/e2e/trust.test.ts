// Least privilege against a real kube-apiserver with the chart installed: what each ServiceAccount the chart creates
// may do (kubectl auth can-i), the shadow controller run under its own token with the chart's arguments (shadows
// only where namespaces opted in; a clear status elsewhere; exit within 2 s of SIGTERM), the same controller with
// credentials that allow everything (it still refuses system namespaces and its own), and forged AdmissionReviews
// over HTTPS that must not get an Event written.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:https';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type ChartEnv, GW_NS, deployment, startChartEnv } from './chart-env.js';
import { waitFor } from './harness.js';

let env: ChartEnv;
const TUNNEL = { 'ghostwire.dev/tunnel': 'true' };
const OPT_IN = 'ghostwire.dev/injection=enabled';
const SHADOW_SA = 'system:serviceaccount:ghostwire:ghostwire-shadow';
const WEBHOOK_SA = 'system:serviceaccount:ghostwire:ghostwire';

const exists = async (path: string) => (await env.cp.api('GET', path)).status === 200;
const shadowOf = (ns: string) => `/apis/apps/v1/namespaces/${ns}/deployments/shadow-web`;
const workload = async (ns: string) => (await env.cp.api('GET', `/apis/apps/v1/namespaces/${ns}/deployments/web`)).body;
const tunnelStatus = async (ns: string) => {
  const text = (await workload(ns))?.metadata?.annotations?.['ghostwire.dev/tunnel-status'];
  return text === undefined ? undefined : (JSON.parse(text) as { phase: string; reason?: string });
};
const eventsIn = async (ns: string, selector: string): Promise<any[]> => (await env.getJson(['-n', ns, 'get', 'events', '--field-selector', selector])).items;

before(async () => {
  env = await startChartEnv();
  for (const [ns, labelled] of [['shop', true], ['other', false], ['third', true]] as const) {
    await env.cp.kubectl(['create', 'namespace', ns]);
    if (labelled) await env.cp.kubectl(['label', 'namespace', ns, OPT_IN]);
  }
  await env.install([
    'shadow.enabled=true',
    'injectedNamespaces[0].name=shop', 'injectedNamespaces[0].serviceAccounts={orders-web}',
    'injectedNamespaces[1].name=other', 'injectedNamespaces[1].serviceAccounts={other-web}',
    'defaults.network.wildcardDNS=tunnel.example.com',
  ]);
  // Tunnel workloads everywhere (no ghostwire.dev/enabled: the webhook is not involved).
  for (const ns of ['shop', 'other', 'third', 'kube-system', GW_NS]) await env.apply(deployment('web', ns, TUNNEL));
});

after(async () => {
  await env?.stop();
});

test('kubectl auth can-i: each ServiceAccount of the chart holds exactly its namespaced rights', async () => {
  const cases: Array<[string, string, string, string | undefined, boolean]> = [
    // The shadow controller: its work in opted-in namespaces, nothing elsewhere, no cluster-wide Secrets.
    [SHADOW_SA, 'create', 'deployments', 'shop', true],
    [SHADOW_SA, 'get', 'secrets', 'shop', true],
    [SHADOW_SA, 'patch', 'deployments', 'other', true],
    [SHADOW_SA, 'patch', 'secrets', 'shop', false],
    [SHADOW_SA, 'create', 'events', 'shop', true],
    [SHADOW_SA, 'patch', 'events', 'shop', false],
    [SHADOW_SA, 'get', 'namespaces/shop', undefined, true],
    [SHADOW_SA, 'watch', 'namespaces/shop', undefined, true],
    [SHADOW_SA, 'get', 'namespaces/third', undefined, false],
    [SHADOW_SA, 'list', 'namespaces', undefined, false],
    [SHADOW_SA, 'get', 'configmaps/ghostwire-defaults', GW_NS, true],
    [SHADOW_SA, 'list', 'configmaps', GW_NS, false],
    ...['kube-system', GW_NS, 'third', 'default'].flatMap((ns): Array<[string, string, string, string, boolean]> => [
      [SHADOW_SA, 'get', 'secrets', ns, false],
      [SHADOW_SA, 'create', 'deployments', ns, false],
      [SHADOW_SA, 'create', 'services', ns, false],
      [SHADOW_SA, 'create', 'ingresses.networking.k8s.io', ns, false],
    ]),
    [SHADOW_SA, 'list', 'secrets', '*', false],
    [SHADOW_SA, 'list', 'deployments', '*', false],
    // The webhook: Events and reads of the admitted kinds in opted-in namespaces; its defaults by name.
    [WEBHOOK_SA, 'create', 'events', 'shop', true],
    [WEBHOOK_SA, 'get', 'deployments', 'shop', true],
    [WEBHOOK_SA, 'get', 'replicasets', 'other', true],
    [WEBHOOK_SA, 'patch', 'events', 'shop', false],
    [WEBHOOK_SA, 'get', 'secrets', 'shop', false],
    [WEBHOOK_SA, 'create', 'events', 'kube-system', false],
    [WEBHOOK_SA, 'create', 'events', 'third', false],
    [WEBHOOK_SA, 'get', 'deployments', 'kube-system', false],
    [WEBHOOK_SA, 'get', 'configmaps/ghostwire-defaults', GW_NS, true],
    [WEBHOOK_SA, 'watch', 'configmaps/ghostwire-defaults', GW_NS, true],
    [WEBHOOK_SA, 'list', 'configmaps', GW_NS, false],
    // Injected pods: only the named ServiceAccounts of the namespace.
    ['system:serviceaccount:shop:orders-web', 'watch', 'pods', 'shop', true],
    ['system:serviceaccount:shop:orders-web', 'list', 'services', 'shop', true],
    ['system:serviceaccount:shop:default', 'watch', 'pods', 'shop', false],
    ['system:serviceaccount:shop:default', 'get', 'pods', 'shop', false],
    ['system:serviceaccount:shop:orders-web', 'watch', 'pods', 'other', false],
  ];
  const wrong: string[] = [];
  for (const [as, verb, resource, ns, expected] of cases) {
    const scope = ns === undefined ? [] : ns === '*' ? ['--all-namespaces'] : ['-n', ns];
    const r = await env.cp.kubectl(['auth', 'can-i', verb, resource, ...scope, '--as', as], { allowFail: true });
    const got = r.stdout.trim() === 'yes';
    if (got !== expected) wrong.push(`${as} ${verb} ${resource} ${ns ?? '(cluster)'}: ${r.stdout.trim()} (expected ${expected ? 'yes' : 'no'})`);
  }
  assert.deepEqual(wrong, []);
});

/** `ghostwire shadow run` with the arguments the chart gave the installed Deployment, local paths swapped in. */
async function chartShadowArgs(kubeconfig: string): Promise<string[]> {
  const dep = await env.getJson(['-n', GW_NS, 'get', 'deployment', 'ghostwire-shadow']);
  const args = (dep.spec.template.spec.containers[0].args as string[]).map((a) => (a.startsWith('--tunnel-key-file=') ? `--tunnel-key-file=${join(env.dir, 'tunnel.key')}` : a));
  assert.deepEqual(args.slice(0, 2), ['shadow', 'run']);
  return [...args, '--kubeconfig', kubeconfig];
}

test('shadow controller under its own token with the chart\'s arguments: a shadow only where the namespace opted in, a clear status where it did not, nothing elsewhere; SIGTERM exits within 2 s', async (t) => {
  const kubeconfig = await env.kubeconfigFor(GW_NS, 'ghostwire-shadow');
  const controller = env.spawnGhostwire(await chartShadowArgs(kubeconfig));
  try {
    await waitFor('the controller to watch', 30_000, async () => controller.log().includes('shadow controller watching'));
    await waitFor('the shadow in shop', 30_000, () => exists(shadowOf('shop')));
    const refused = await waitFor('the refusal status in other', 30_000, async () => {
      const s = await tunnelStatus('other');
      return s?.phase === 'Failed' ? s : undefined;
    });
    assert.match(refused.reason ?? '', /namespace other has not opted in \(label ghostwire\.dev\/injection=enabled missing\): ghostwire creates no shadow here/);
    const warned = await waitFor('the ShadowFailed event in other', 20_000, async () => {
      const ev = await eventsIn('other', 'involvedObject.name=web,reason=ShadowFailed');
      return ev.length > 0 ? ev : undefined;
    });
    assert.equal(warned[0].type, 'Warning');
    assert.equal(await exists(shadowOf('other')), false);
    for (const ns of ['third', 'kube-system', GW_NS]) {
      assert.equal(await exists(shadowOf(ns)), false, `no shadow in ${ns}`);
      assert.equal(await tunnelStatus(ns), undefined, `nothing written in ${ns}`);
    }
    // Every call it made was allowed by the chart's RBAC (namespaces by name, the defaults ConfigMap by name).
    assert.doesNotMatch(controller.log(), /forbidden|HTTP 403/i, controller.log().split('\n').filter((l) => /403|forbidden/i.test(l)).join('\n'));
    // The namespace opts in: the controller follows its labels and creates the shadow there.
    await env.cp.kubectl(['label', 'namespace', 'other', OPT_IN]);
    await waitFor('the shadow in other after its opt-in', 30_000, () => exists(shadowOf('other')));
  } finally {
    const { ms, code } = await controller.stop();
    t.diagnostic(`shadow run (own token, --defaults-configmap) exited ${ms} ms after SIGTERM with code ${code}`);
    assert.equal(code, 0, controller.log().split('\n').slice(-20).join('\n'));
    assert.ok(ms < 2000, `shadow run --defaults-configmap exited ${ms} ms after SIGTERM (at most 2000)`);
  }
});

test('with credentials that allow everything, the controller still never acts in system namespaces or its own', async (t) => {
  // Labels do not help either: the exclusions are not the opt-in.
  for (const ns of ['kube-system', GW_NS]) await env.cp.kubectl(['label', 'namespace', ns, OPT_IN, '--overwrite']);
  const controller = env.spawnGhostwire([
    'shadow', 'run', '--kubeconfig', env.cp.kubeconfigPath, '--defaults-configmap', `${GW_NS}/ghostwire-defaults`,
    '--tunnel-key-file', join(env.dir, 'tunnel.key'), '--own-namespace', GW_NS, '--opt-in-label', OPT_IN,
  ]);
  try {
    // Every namespace is served: third (labelled) now gets its shadow, which shows the controller is at work.
    await waitFor('the shadow in third', 30_000, () => exists(shadowOf('third')));
    for (const ns of ['kube-system', GW_NS]) {
      assert.equal(await exists(shadowOf(ns)), false, `no shadow in ${ns}`);
      assert.equal(await tunnelStatus(ns), undefined, `nothing written in ${ns}`);
    }
  } finally {
    const { ms, code } = await controller.stop();
    t.diagnostic(`shadow run (admin, --defaults-configmap) exited ${ms} ms after SIGTERM with code ${code}`);
    assert.equal(code, 0);
    assert.ok(ms < 2000, `exited ${ms} ms after SIGTERM`);
  }
});

function postReview(body: unknown): Promise<{ status: number; body: any }> {
  const payload = Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: env.port, path: '/mutate', method: 'POST', ca: readFileSync(join(env.dir, 'ca.crt')), headers: { 'content-type': 'application/json', 'content-length': payload.length } },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text.startsWith('{') ? JSON.parse(text) : text }));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

const review = (uid: string, ns: string, name: string, objectUid: string) => ({
  apiVersion: 'admission.k8s.io/v1',
  kind: 'AdmissionReview',
  request: {
    uid,
    kind: { group: 'apps', version: 'v1', kind: 'Deployment' },
    resource: { group: 'apps', version: 'v1', resource: 'deployments' },
    name,
    namespace: ns,
    operation: 'CREATE',
    object: { ...deployment(name, ns), metadata: { name, namespace: ns, uid: objectUid, annotations: { 'ghostwire.dev/enabled': 'true' } } },
  },
});

async function droppedEvents(): Promise<number> {
  const text = await new Promise<string>((resolve, reject) => {
    request({ host: '127.0.0.1', port: env.port, path: '/metrics', ca: readFileSync(join(env.dir, 'ca.crt')) }, (res) => {
      let t = '';
      res.on('data', (d: Buffer) => (t += d.toString()));
      res.on('end', () => resolve(t));
    }).on('error', reject).end();
  });
  return Number(/^ghostwire_events_dropped_total (\d+)/m.exec(text)?.[1] ?? 'NaN');
}

test('forged AdmissionReviews over HTTPS: an object that does not exist, a UID that is not the stored one, or a namespace out of reach records nothing', async () => {
  const webhook = await env.startWebhook(await env.kubeconfigFor(GW_NS, 'ghostwire'));
  try {
    // The genuine path, under the webhook's own token: an injected Deployment gets its Event.
    await waitFor('a real injection', 30_000, async () => (await env.cp.kubectl(['apply', '-f', '-'], { input: env.yaml(deployment('real', 'shop')), allowFail: true })).code === 0, 500);
    const real = await env.getJson(['-n', 'shop', 'get', 'deployment', 'real']);
    await waitFor('the genuine GhostwireInjected event', 20_000, async () => (await eventsIn('shop', 'involvedObject.name=real,reason=GhostwireInjected')).length > 0);
    const sys = (await workload('kube-system')).metadata;
    const before = await droppedEvents();
    for (const body of [
      review('f-1', 'shop', 'no-such-deployment', 'forged-uid-1'),
      review('f-2', 'shop', 'real', 'forged-uid-2'),
      review('f-3', 'kube-system', 'web', sys.uid),
    ]) {
      const r = await postReview(body);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.response.uid, body.request.uid);
    }
    // Given up on: the first after its read-back window, the second at once (UID mismatch), the third at once (403).
    await waitFor('three dropped events', 15_000, async () => (await droppedEvents()) === before + 3, 250);
    assert.deepEqual(await eventsIn('shop', 'involvedObject.name=no-such-deployment'), []);
    const onReal = await eventsIn('shop', 'involvedObject.name=real');
    assert.ok(onReal.length > 0);
    assert.deepEqual(onReal.filter((e) => e.involvedObject.uid !== real.metadata.uid).map((e) => e.involvedObject.uid), [], 'no Event carries the forged UID');
    assert.deepEqual((await eventsIn('kube-system', 'involvedObject.name=web')).filter((e) => /^Ghostwire/.test(e.reason)), []);
    assert.match(webhook.log(), /events not recorded in this namespace: no RBAC to read the objects there/);
  } finally {
    await webhook.stop();
  }
});
