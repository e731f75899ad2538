// Outages stay contained, against a real kube-apiserver and kube-controller-manager with the chart installed: with
// the webhook stopped, injected workloads still scale and heal (their ReplicaSets and Pods never depend on the
// webhook), while annotated writes by users are still refused (never admitted uninjected). Also: turning on
// hostNetwork removes ghostwire's parts, and Pods of an owner that was never injected are injected best effort.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { type ChartEnv, type Proc, deployment, startChartEnv } from './chart-env.js';
import { waitFor } from './harness.js';

const NS = 'shop';
const LATE = 'late';
let env: ChartEnv;
let webhook: Proc | undefined;

const podsOf = async (ns: string, app: string): Promise<any[]> =>
  (await env.getJson(['-n', ns, 'get', 'pods', '-l', `app=${app}`])).items.filter((p: any) => !p.metadata.deletionTimestamp);
const names = (spec: any): string[] => [...(spec.initContainers ?? []), ...(spec.containers ?? [])].map((c: any) => c.name);
const injected = (pod: any): boolean => names(pod.spec).includes('ghostwire-init') && names(pod.spec).includes('ghostwire-watcher');

/** Wait for exactly `n` live Pods of the app, returned. */
const waitPods = (ns: string, app: string, n: number, extra: (pods: any[]) => boolean = () => true) =>
  waitFor(`${n} pods of ${ns}/${app}`, 60_000, async () => {
    const pods = await podsOf(ns, app);
    return pods.length === n && extra(pods) ? pods : undefined;
  });

before(async () => {
  env = await startChartEnv();
  await env.cp.kubectl(['create', 'namespace', NS]);
  await env.cp.kubectl(['label', 'namespace', NS, 'ghostwire.dev/injection=enabled']);
  await env.cp.kubectl(['create', 'namespace', LATE]);
  await env.install(['injectedNamespaces[0].name=shop', 'injectedNamespaces[0].serviceAccounts={default}']);
  webhook = await env.startWebhook(env.cp.kubeconfigPath);
  await waitFor('webhook configuration in effect', 30_000, async () => {
    const r = await env.cp.kubectl(['apply', '--dry-run=server', '-o', 'json', '-f', '-'], { input: env.yaml(deployment('probe', NS)), allowFail: true });
    return r.code === 0 && names(JSON.parse(r.stdout).spec.template.spec).includes('ghostwire-watcher');
  }, 500);
});

after(async () => {
  await env?.stop();
});

test('turning on hostNetwork for an injected workload removes ghostwire\'s parts, with a warning and a GhostwireRemoved Event', async () => {
  await env.apply(deployment('hostnet', NS));
  assert.ok(names((await env.getJson(['-n', NS, 'get', 'deploy', 'hostnet'])).spec.template.spec).includes('ghostwire-init'));
  const out = await env.cp.kubectl(['-n', NS, 'patch', 'deploy', 'hostnet', '--type=merge', '-p', '{"spec":{"template":{"spec":{"hostNetwork":true}}}}']);
  assert.match(out.stderr, /Warning: ghostwire removed ghostwire-init and ghostwire-watcher from Deployment shop\/hostnet: with hostNetwork: true/);
  const stored = await env.getJson(['-n', NS, 'get', 'deploy', 'hostnet']);
  assert.deepEqual(names(stored.spec.template.spec), ['app']);
  assert.equal(stored.spec.template.spec.hostNetwork, true);
  assert.equal(stored.spec.template.metadata.annotations?.['ghostwire.dev/status'], undefined);
  assert.equal(stored.metadata.annotations?.['ghostwire.dev/status'], undefined);
  // The rollout's new Pod (the old one stays: without a kubelet no Pod ever becomes ready).
  const pod = await waitFor('a hostNetwork Pod of hostnet', 60_000, async () => (await podsOf(NS, 'hostnet')).find((p) => p.spec.hostNetwork === true));
  assert.ok(!injected(pod), 'the new Pods run without uid-0 NET_ADMIN containers in the node\'s network namespace');
  await waitFor('GhostwireRemoved event', 20_000, async () => {
    const ev = await env.getJson(['-n', NS, 'get', 'events', '--field-selector', 'involvedObject.kind=Deployment,involvedObject.name=hostnet,reason=GhostwireRemoved']);
    return ev.items.length === 1 && ev.items[0].type === 'Warning';
  });
});

test('Pods of an owner that was never injected (it predates the opt-in) are injected best effort while the webhook answers', async () => {
  // Created while its namespace had not opted in: the Deployment and its first Pod are not injected.
  await env.apply(deployment('legacy', LATE, {}, { 'ghostwire.dev/enabled': 'true' }));
  const [first] = await waitPods(LATE, 'legacy', 1);
  assert.ok(!injected(first));
  await env.cp.kubectl(['label', 'namespace', LATE, 'ghostwire.dev/injection=enabled']);
  // One more Pod at a time until the API server applies the new namespace label to its webhook selection.
  await waitFor('a new Pod of legacy injected by the owner-not-injected entry', 60_000, async () => {
    const pods = await podsOf(LATE, 'legacy');
    if (pods.some(injected)) return true;
    await env.cp.kubectl(['-n', LATE, 'scale', 'deploy', 'legacy', `--replicas=${pods.length + 1}`]);
    return false;
  }, 1000);
});

test('webhook stopped: an injected Deployment scales to 3 and a deleted Pod is replaced; user writes of annotated workloads are refused', async (t) => {
  await env.apply(deployment('victim', NS));
  const [pod0] = await waitPods(NS, 'victim', 1);
  assert.ok(injected(pod0));

  const { ms, code } = await webhook!.stop();
  assert.equal(code, 0, `the webhook exited cleanly (${ms} ms)`);
  // Scaling goes through the scale subresource; the Deployment controller then updates the ReplicaSet and the
  // ReplicaSet controller creates Pods: none of those writes may need the webhook.
  const scaled = Date.now();
  await env.cp.kubectl(['-n', NS, 'scale', 'deploy', 'victim', '--replicas=3']);
  const three = await waitPods(NS, 'victim', 3);
  t.diagnostic(`webhook down: scaled to 3 Pods in ${Date.now() - scaled} ms`);
  assert.ok(three.every(injected), 'Pods made while the webhook is down carry the injection of their template');
  const rs = (await env.getJson(['-n', NS, 'get', 'replicasets', '-l', 'app=victim'])).items;
  assert.equal(rs.length, 1);
  assert.equal(rs[0].spec.replicas, 3);
  const gone = three[0].metadata.name as string;
  const deleted = Date.now();
  await env.cp.kubectl(['-n', NS, 'delete', 'pod', gone, '--wait=false']);
  const healed = await waitPods(NS, 'victim', 3, (pods) => !pods.some((p) => p.metadata.name === gone));
  t.diagnostic(`webhook down: deleted Pod replaced in ${Date.now() - deleted} ms`);
  assert.ok(healed.every(injected));
  const failed = (await env.getJson(['-n', NS, 'get', 'events', '--field-selector', 'reason=FailedCreate'])).items;
  assert.deepEqual(failed.map((e: any) => e.message), [], 'no FailedCreate: nothing called the webhook');

  // An owner that was never injected: its Pods are created as they are (failurePolicy Ignore).
  const before = (await podsOf(LATE, 'legacy')).length;
  await env.cp.kubectl(['-n', LATE, 'scale', 'deploy', 'legacy', `--replicas=${before + 1}`]);
  await waitPods(LATE, 'legacy', before + 1);

  // What users write is still fail-closed: no annotated workload is admitted uninjected.
  const created = await env.cp.kubectl(['apply', '-f', '-'], { input: env.yaml(deployment('while-down', NS)), allowFail: true });
  assert.notEqual(created.code, 0);
  assert.match(created.stderr, /failed calling webhook "inject\.ghostwire\.dev"/);
  const edited = await env.cp.kubectl(['-n', NS, 'set', 'env', 'deploy/victim', 'X=1'], { allowFail: true });
  assert.notEqual(edited.code, 0, 'a template change of an injected workload waits for the webhook');
  assert.match(edited.stderr, /failed calling webhook/);
  const bare = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'bare', namespace: NS, annotations: { 'ghostwire.dev/enabled': 'true' } }, spec: { containers: [{ name: 'c', image: 'c:1' }] } };
  assert.notEqual((await env.cp.kubectl(['apply', '-f', '-'], { input: env.yaml(bare), allowFail: true })).code, 0, 'a bare annotated Pod is refused');
  // Unannotated workloads and other namespaces are unaffected.
  await env.apply(deployment('plain', NS, {}));
  await env.apply(deployment('elsewhere', 'default'));
});
