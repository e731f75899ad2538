// The shadow controller's scope: the webhook's exclusions and the namespaces that opted in, enforced in code before
// any read or write, whatever the credentials allow (the fake API below allows everything).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { TUNNEL_STATUS_ANNOTATION } from '../../src/config/options.js';
import { ShadowReconciler } from '../../src/shadow/reconciler.js';
import { type ShadowScope, parseOptInLabel, scopeProblems, scopeVerdict } from '../../src/shadow/scope.js';
import { parseStatus } from '../../src/shadow/status.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { FakeShadowApi, deploymentWorkload, nullLog } from '../helpers/fake-shadow-api.js';
import { CLI } from '../helpers/paths.js';
import { TEST_TUNNEL_KEY, defaults } from '../helpers/shadow-fixtures.js';

const OPT_IN = { key: 'ghostwire.dev/injection', value: 'enabled' };
const SCOPE: ShadowScope = { namespaces: ['shop', 'pay', 'kube-system'], ownNamespace: 'ghostwire', optInLabel: OPT_IN };
const LABELLED = { 'ghostwire.dev/injection': 'enabled' };

test('verdicts: system, own and unlisted namespaces are refused quietly; a listed namespace without the label loudly', () => {
  for (const ns of ['kube-system', 'kube-public', 'kube-node-lease', 'ghostwire', 'other']) {
    const v = scopeVerdict(SCOPE, ns, LABELLED);
    assert.equal(v.inScope, false, ns);
    assert.equal(!v.inScope && v.loud, false, `${ns}: nothing is written there`);
  }
  assert.deepEqual(scopeVerdict(SCOPE, 'shop', LABELLED), { inScope: true });
  const notOptedIn: Array<Record<string, string>> = [{}, { 'ghostwire.dev/injection': 'disabled' }];
  for (const labels of notOptedIn) {
    const v = scopeVerdict(SCOPE, 'pay', labels);
    assert.ok(!v.inScope && v.loud, JSON.stringify(labels));
    assert.match(v.reason, /namespace pay has not opted in \(label ghostwire\.dev\/injection=enabled missing\)/);
  }
  // Never seen (missing, or its labels not readable): fail closed, and say that it is not known.
  const unknown = scopeVerdict(SCOPE, 'pay', undefined);
  assert.ok(!unknown.inScope && unknown.loud);
  assert.match(unknown.reason, /namespace pay has not opted in \(its labels could not be read/);
  // Serving every namespace (development) keeps the exclusions; without an opt-in label any other namespace is in.
  const open: ShadowScope = { ownNamespace: 'ghostwire' };
  assert.equal(scopeVerdict(open, 'kube-system', undefined).inScope, false);
  assert.equal(scopeVerdict(open, 'ghostwire', undefined).inScope, false);
  assert.equal(scopeVerdict(open, 'anything', undefined).inScope, true);
});

test('configuration: a served system or own namespace, no namespace at all and malformed labels are refused', () => {
  assert.deepEqual(scopeProblems({ namespaces: ['shop'], ownNamespace: 'ghostwire' }), []);
  assert.match(scopeProblems(SCOPE).join(' '), /kube-system is a system namespace: the shadow controller never acts there/);
  assert.match(scopeProblems({ namespaces: ['ghostwire'], ownNamespace: 'ghostwire' }).join(' '), /ghostwire's own namespace/);
  assert.match(scopeProblems({ namespaces: [] }).join(' '), /no namespace to serve/);
  assert.deepEqual(parseOptInLabel('ghostwire.dev/injection=enabled'), OPT_IN);
  assert.deepEqual(parseOptInLabel('team='), { key: 'team', value: '' });
  for (const bad of ['', '=x', 'noequals', 'a b=c', 'k=v,x=y', 'k=$(id)', `${'a'.repeat(400)}=b`]) assert.equal(parseOptInLabel(bad), undefined, bad);
});

function setup(namespace: string, labels: Record<string, string> | undefined) {
  const api = new FakeShadowApi();
  const clock = new FakeClock();
  api.addWorkload(deploymentWorkload('web', namespace));
  // Every method of the port the reconciler calls, reads included.
  const used: string[] = [];
  const counted = new Proxy(api, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        used.push(String(prop));
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  const reconciler = new ShadowReconciler({
    api: counted,
    defaults: defaults(),
    tunnelKey: TEST_TUNNEL_KEY,
    log: nullLog,
    clock,
    waitForChange: clock.waitForChange,
    scope: (ns) => scopeVerdict(SCOPE, ns, labels),
  });
  const reconcile = () => reconciler.reconcile(structuredClone(api.workload('Deployment', namespace, 'web')));
  return { api, used, reconcile };
}

test('reconcile refuses outside the scope without a single API call, even with credentials that allow everything', async () => {
  for (const ns of ['kube-system', 'ghostwire', 'other']) {
    const { api, used, reconcile } = setup(ns, LABELLED);
    const out = await reconcile();
    assert.equal(out.state, 'Skipped', ns);
    assert.deepEqual(used, [], `${ns}: no read, no write`);
    assert.deepEqual(api.keys(), []);
    assert.deepEqual(api.events, []);
  }
});

test('a served namespace that has not opted in: no shadow, what the workload owned there removed, a Failed status and a Warning Event', async () => {
  const { api, reconcile } = setup('pay', {});
  // A shadow from before the opt-in was taken back.
  const w = api.workload('Deployment', 'pay', 'web');
  api.seed({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'shadow-web', namespace: 'pay', uid: 'svc-1', ownerReferences: [{ uid: w.metadata.uid, controller: true }] } });
  const out = await reconcile();
  assert.equal(out.state, 'Skipped');
  assert.ok(!api.calls.some((c) => c.startsWith('apply')), 'nothing applied');
  assert.deepEqual(api.keys(), [], 'the old shadow object is gone');
  const status = parseStatus(api.workload('Deployment', 'pay', 'web').metadata.annotations?.[TUNNEL_STATUS_ANNOTATION]);
  assert.equal(status?.phase, 'Failed');
  assert.match(status?.reason ?? '', /namespace pay has not opted in/);
  assert.deepEqual(api.events.map((e) => [e.type, e.reason]), [['Warning', 'ShadowFailed']]);
  assert.match(api.events[0]!.message, /has not opted in/);
  // Idempotent: a resync writes nothing new.
  const before = api.calls.filter((c) => c.startsWith('patch')).length;
  await reconcile();
  assert.equal(api.calls.filter((c) => c.startsWith('patch')).length, before);
  assert.equal(api.events.length, 1);
});

test('the same workload in an opted-in namespace gets its shadow', async () => {
  const { api, used, reconcile } = setup('shop', LABELLED);
  await reconcile();
  assert.ok(used.includes('get') && used.includes('apply'), 'the counting proxy sees the calls');
  assert.ok(api.keys().includes('Deployment/shop/shadow-web'));
});

test('ghostwire shadow run: a system or own namespace in --namespace, or a bad --opt-in-label, is a usage error (exit 2) naming it', () => {
  const run = (...args: string[]) => spawnSync(process.execPath, [CLI, 'shadow', 'run', '--allow-dev-key', ...args], { encoding: 'utf8', env: { ...process.env, KUBECONFIG: '/nonexistent' } });
  const sys = run('--namespace', 'shop,kube-system');
  assert.equal(sys.status, 2, sys.stderr);
  assert.match(sys.stderr, /--namespace: kube-system is a system namespace/);
  const own = run('--namespace', 'shop', '--namespace', 'gw', '--own-namespace', 'gw');
  assert.equal(own.status, 2, own.stderr);
  assert.match(own.stderr, /gw is ghostwire's own namespace/);
  const bad = run('--namespace', 'Shop;rm');
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--namespace: "Shop;rm" is not allowed/);
  const label = run('--namespace', 'shop', '--opt-in-label', 'x');
  assert.equal(label.status, 2);
  assert.match(label.stderr, /--opt-in-label: "x" is not allowed; allowed: KEY=VALUE/);
});
