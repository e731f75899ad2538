// The shadow lifecycle against the in-memory ShadowApi.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Secret } from '@kubernetes/client-node';
import { TUNNEL_STATUS_ANNOTATION } from '../../src/config/options.js';
import { refKey } from '../../src/kube/objects.js';
import { StatusWriteError, type Workload, workloadKey } from '../../src/shadow/api.js';
import { checkKeysSecret } from '../../src/shadow/keys-secret.js';
import { ShadowWorkQueue } from '../../src/shadow/queue.js';
import { ShadowReconciler } from '../../src/shadow/reconciler.js';
import { evaluateReadiness } from '../../src/shadow/readiness.js';
import { parseStatus } from '../../src/shadow/status.js';
import { generateWireGuardKeyPair, isWireGuardKey, wireGuardPublicKey } from '../../src/shadow/wireguard.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { FakeShadowApi, deploymentWorkload, nullLog, recordingLog } from '../helpers/fake-shadow-api.js';
import { TEST_TUNNEL_KEY, defaults } from '../helpers/shadow-fixtures.js';

const NS = 'shop';
const key = (kind: string, name: string): string => `${kind}/${NS}/${name}`;
const PLAIN_KEYS = [key('Deployment', 'shadow-web'), key('Ingress', 'shadow-web'), key('NetworkPolicy', 'shadow-web'), key('Service', 'shadow-web')].sort();
const MESH_KEYS = [key('ConfigMap', 'shadow-web-wg-config'), key('Deployment', 'shadow-web'), key('Ingress', 'shadow-web'), key('Secret', 'shadow-web-wg-keys'), key('Service', 'shadow-web')].sort();

function setup(options: { net?: Parameters<typeof defaults>[0]; annotations?: Record<string, string>; log?: typeof nullLog } = {}) {
  const api = new FakeShadowApi();
  const clock = new FakeClock();
  const w = api.addWorkload(deploymentWorkload('web', NS, options.annotations ?? { 'ghostwire.dev/tunnel': 'true' }));
  const reconciler = new ShadowReconciler({
    api,
    defaults: defaults(options.net),
    tunnelKey: TEST_TUNNEL_KEY,
    log: options.log ?? nullLog,
    clock,
    waitForChange: clock.waitForChange,
    instance: 'ghostwire-shadow-0',
  });
  // The reconciler works on what the informer would hand it: a copy of the stored workload.
  const reconcile = () => reconciler.reconcile(structuredClone(api.workload('Deployment', NS, 'web')));
  return { api, clock, w, reconciler, reconcile };
}

const status = (api: FakeShadowApi) => parseStatus(api.workload('Deployment', NS, 'web').metadata.annotations?.[TUNNEL_STATUS_ANNOTATION]);
const reasons = (api: FakeShadowApi) => api.events.map((e) => e.reason);
const setAnnotations = (api: FakeShadowApi, a: Record<string, string>) => {
  const w = api.workload('Deployment', NS, 'web');
  w.metadata.annotations = { ...(w.metadata.annotations ?? {}), ...a };
};

test('plain tunnel: applies owned objects in order, waits for readiness, reports Ready with events', async () => {
  const { api, reconcile } = setup();
  const outcome = await reconcile();
  assert.deepEqual(outcome, { state: 'Ready', endpoint: 'web-shop.tunnel.example.com' });
  assert.deepEqual(api.keys(), PLAIN_KEYS);
  for (const k of PLAIN_KEYS) {
    assert.deepEqual(api.objects.get(k)!.metadata!.ownerReferences, [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: 'uid-shop-web', controller: true }]);
  }
  assert.deepEqual(
    api.calls.filter((c) => c.startsWith('apply')),
    ['apply NetworkPolicy/shop/shadow-web', 'apply Service/shop/shadow-web', 'apply Deployment/shop/shadow-web', 'apply Ingress/shop/shadow-web'],
  );
  assert.deepEqual(status(api), { phase: 'Ready', mode: 'plain', endpoint: 'web-shop.tunnel.example.com', hash: status(api)!.hash });
  assert.deepEqual(reasons(api), ['ShadowPending', 'ShadowReady']);
  const ready = api.events[1]!;
  assert.equal(ready.type, 'Normal');
  assert.deepEqual(ready.involvedObject, { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', namespace: NS, uid: 'uid-shop-web' });
  assert.equal(ready.source!.component, 'ghostwire-shadow');

  // Steady state: re-applies (idempotent), writes nothing, records nothing.
  const writes = api.calls.filter((c) => c.startsWith('patch')).length;
  assert.equal((await reconcile()).state, 'Ready');
  assert.equal(api.calls.filter((c) => c.startsWith('patch')).length, writes);
  assert.deepEqual(reasons(api), ['ShadowPending', 'ShadowReady']);
});

test('a failed apply in the middle removes exactly what that attempt created', async () => {
  const { api, reconcile, w } = setup();
  // A Service from an earlier attempt already exists (owned by the workload): it is not this attempt's.
  const preexisting = api.seed({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'shadow-web', namespace: NS, uid: 'svc-old', ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: w.metadata.uid, controller: true }] },
  } as never);
  api.failApply = (o) => (o.kind === 'Deployment' ? new Error('HTTP 422 Invalid: spec.template.spec.containers[0].image: Required value') : undefined);
  const outcome = await reconcile();
  assert.equal(outcome.state, 'Failed');
  assert.ok(outcome.state === 'Failed' && outcome.retry);
  assert.match(outcome.state === 'Failed' ? outcome.reason : '', /apply Deployment shop\/shadow-web failed: HTTP 422/);
  assert.deepEqual(api.keys(), [key('Service', 'shadow-web')], 'the NetworkPolicy it created is gone, the older Service stays');
  assert.equal(api.objects.get(key('Service', 'shadow-web'))!.metadata!.uid, preexisting.metadata!.uid);
  assert.deepEqual(api.calls.filter((c) => c.startsWith('delete')), ['delete NetworkPolicy/shop/shadow-web']);
  assert.equal(status(api)!.phase, 'Failed');
  assert.match(status(api)!.reason!, /HTTP 422/);
  assert.deepEqual(reasons(api), ['ShadowPending', 'ShadowFailed']);
  assert.equal(api.events[1]!.type, 'Warning');
});

test('an object stored before its apply failed (lost response) is also removed; nothing is left half-built', async () => {
  const { api, reconcile } = setup();
  api.failApplyAfterStore = (o) => (o.kind === 'Ingress' ? new Error('socket hang up') : undefined);
  const outcome = await reconcile();
  assert.equal(outcome.state, 'Failed');
  assert.deepEqual(api.keys(), []);
  assert.deepEqual(
    api.calls.filter((c) => c.startsWith('delete')),
    ['delete Ingress/shop/shadow-web', 'delete Deployment/shop/shadow-web', 'delete Service/shop/shadow-web', 'delete NetworkPolicy/shop/shadow-web'],
    'newest first, with the same names as creation',
  );
});

test('full mesh: keys Secret created once and reused by every retry; failed attempts keep it', async () => {
  const { api, reconcile } = setup({ annotations: { 'ghostwire.dev/tunnel': 'true', 'ghostwire.dev/fullMesh': 'true' } });
  let failures = 2;
  api.failApply = (o) => (o.kind === 'Deployment' && failures-- > 0 ? new Error('HTTP 500 InternalError') : undefined);
  assert.equal((await reconcile()).state, 'Failed');
  const first = structuredClone(api.objects.get(key('Secret', 'shadow-web-wg-keys'))) as V1Secret;
  assert.ok(first, 'the Secret survives the failed attempt');
  assert.deepEqual(api.keys(), [key('Secret', 'shadow-web-wg-keys')], 'everything else of the attempt was removed');
  assert.equal((await reconcile()).state, 'Failed');
  assert.equal((await reconcile()).state, 'Ready');
  assert.equal(api.secretCreations, 1);
  assert.deepEqual(api.objects.get(key('Secret', 'shadow-web-wg-keys')), first, 'same keys after three attempts');
  assert.deepEqual(api.keys(), MESH_KEYS);
  assert.equal(checkKeysSecret(first), undefined);
  const read = (k: string) => Buffer.from(first.data![k]!, 'base64').toString();
  assert.ok(isWireGuardKey(read('server-private-key')) && isWireGuardKey(read('client-private-key')));
  assert.equal(wireGuardPublicKey(read('client-private-key')), read('client-public-key'));
});

test('no private key in any annotation, ConfigMap, event or log line', async () => {
  const rec = recordingLog();
  const { api, reconcile } = setup({ annotations: { 'ghostwire.dev/tunnel': 'true', 'ghostwire.dev/fullMesh': 'true' }, log: rec.log });
  api.failApply = (o) => (o.kind === 'Ingress' && api.calls.filter((c) => c.includes('Ingress')).length === 1 ? new Error('HTTP 500') : undefined);
  await reconcile();
  await reconcile();
  const secret = api.objects.get(key('Secret', 'shadow-web-wg-keys')) as V1Secret;
  const privates = ['server-private-key', 'client-private-key'].map((k) => Buffer.from(secret.data![k]!, 'base64').toString());
  const haystacks = [
    JSON.stringify(api.workload('Deployment', NS, 'web').metadata.annotations),
    JSON.stringify(api.workload('Deployment', NS, 'web').spec),
    JSON.stringify([...api.objects.values()].filter((o) => o.kind !== 'Secret')),
    JSON.stringify(api.events),
    rec.lines.join('\n'),
  ];
  for (const p of privates) {
    for (const h of haystacks) {
      assert.ok(!h.includes(p), 'private key leaked');
      assert.ok(!h.includes(Buffer.from(p).toString('base64')), 'base64 of a private key leaked');
    }
  }
  assert.ok(rec.lines.some((l) => l.includes('WireGuard keys created')), 'the log says what happened, without the keys');
});

test('readiness: a pod with an IP but not Ready does not count (timeout -> Failed, cleanup)', async () => {
  const { api, reconcile, clock } = setup({ annotations: { 'ghostwire.dev/tunnel': 'true', 'ghostwire.dev/tunnelTimeout': '30s' } });
  api.autoReady = false;
  const origApply = api.apply.bind(api);
  api.apply = async (o) => {
    const stored = await origApply(o);
    if (o.kind === 'Deployment') api.makeReady(api.objects.get(refKey({ apiVersion: 'apps/v1', kind: 'Deployment', namespace: NS, name: 'shadow-web' }))!, { podReady: false });
    return stored;
  };
  const outcome = await reconcile();
  assert.equal(outcome.state, 'Failed');
  assert.match(outcome.state === 'Failed' ? outcome.reason : '', /not ready after 30s: waiting for a Ready, non-terminating pod/);
  assert.ok(clock.waits.reduce((a, b) => a + b, 0) >= 30_000);
  assert.deepEqual(api.keys(), [], 'timeout cleanup uses the creation identity');
  assert.equal(status(api)!.phase, 'Failed');
});

test('readiness rules: terminating pods, old ReplicaSets, missing endpoints and stale status do not count', () => {
  const api = new FakeShadowApi();
  const deployment = api.seed({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'shadow-web', namespace: NS, uid: 'd1', generation: 2, labels: { 'app.kubernetes.io/name': 'ghostwire-shadow', 'app.kubernetes.io/instance': 'shadow-web' } },
  } as never);
  const names = { deployment: 'shadow-web', service: 'shadow-web' };
  const check = () => evaluateReadiness({ deployment: api.objects.get(key('Deployment', 'shadow-web')) as never, replicaSets: api.replicaSets, pods: api.pods, endpointSlices: api.endpointSlices }, names);

  api.makeReady(deployment);
  api.objects.set(key('Deployment', 'shadow-web'), deployment);
  assert.equal(check().ready, true, 'baseline: current pod Ready, endpoint ready');

  // Terminating pod.
  api.pods[0]!.metadata!.deletionTimestamp = new Date();
  assert.match(check().waitingFor.join(), /non-terminating pod/);
  api.pods[0]!.metadata!.deletionTimestamp = undefined;

  // The only Ready pod belongs to an old ReplicaSet (revision 1 while the Deployment is at 2).
  api.replicaSets[0]!.metadata!.annotations!['deployment.kubernetes.io/revision'] = '1';
  assert.match(check().waitingFor.join(), /the ReplicaSet of Deployment shadow-web revision 2/);
  api.replicaSets[0]!.metadata!.annotations!['deployment.kubernetes.io/revision'] = '2';

  // A pod of the current ReplicaSet name but another template hash (a stale pod) does not count.
  api.pods[0]!.metadata!.labels!['pod-template-hash'] = 'old';
  assert.match(check().waitingFor.join(), /Ready, non-terminating pod/);
  api.pods[0]!.metadata!.labels!['pod-template-hash'] = 'h2';

  // Endpoint not ready / absent.
  api.endpointSlices[0]!.endpoints![0]!.conditions = { ready: false };
  assert.match(check().waitingFor.join(), /ready endpoint of Service shadow-web/);
  api.endpointSlices[0]!.endpoints![0]!.conditions = { ready: true };

  // Deployment not Available / status for an older generation.
  (deployment as { status: { conditions: unknown[]; observedGeneration: number } }).status.conditions = [{ type: 'Available', status: 'False' }];
  assert.match(check().waitingFor.join(), /Available=True/);
  (deployment as { status: { conditions: unknown[]; observedGeneration: number } }).status = { conditions: [{ type: 'Available', status: 'True' }], observedGeneration: 1 };
  assert.match(check().waitingFor.join(), /status for generation 2 \(observed 1\)/);
  assert.equal(evaluateReadiness({ deployment: undefined, replicaSets: [], pods: [], endpointSlices: [] }, names).ready, false);
});

test('status write failure is surfaced, never swallowed', async () => {
  const { api, reconcile } = setup();
  api.failStatusWrites = 1;
  await assert.rejects(reconcile(), (err: unknown) => err instanceof StatusWriteError && /cannot write ghostwire.dev\/tunnel-status/.test(err.message));
  assert.deepEqual(api.keys(), [], 'nothing applied before the Pending status could be recorded');
});

test('the work queue retries a status write failure with backoff until it succeeds', async () => {
  const { api, reconciler } = setup();
  api.failStatusWrites = 3;
  const rec = recordingLog();
  const controller = new ShadowWorkQueue({
    reconciler,
    lookup: (k) => (k === 'Deployment/shop/web' ? structuredClone(api.workload('Deployment', NS, 'web')) : undefined),
    log: rec.log,
    backoffBaseMs: 5,
    backoffMaxMs: 40,
  });
  controller.enqueue('Deployment/shop/web');
  for (let i = 0; i < 200 && status(api)?.phase !== 'Ready'; i++) await new Promise((r) => setTimeout(r, 5));
  await controller.idle();
  controller.stop();
  assert.equal(status(api)!.phase, 'Ready');
  assert.equal(rec.lines.filter((l) => l.startsWith('will retry: cannot write ghostwire.dev/tunnel-status')).length, 3);
  assert.deepEqual(
    rec.lines.filter((l) => l.startsWith('will retry')).map((l) => (JSON.parse(l.slice(l.indexOf('{'))) as { retryInMs: number }).retryInMs),
    [5, 10, 20],
    'exponential backoff',
  );
});

test('the work queue retries failed attempts and stops retrying permanent failures', async () => {
  const { api, reconciler } = setup();
  api.failApply = (o) => (o.kind === 'Ingress' && api.calls.filter((c) => c.includes('apply Ingress')).length <= 2 ? new Error('HTTP 503') : undefined);
  const controller = new ShadowWorkQueue({
    reconciler,
    lookup: () => structuredClone(api.workload('Deployment', NS, 'web')),
    log: nullLog,
    backoffBaseMs: 2,
  });
  controller.enqueue('Deployment/shop/web');
  for (let i = 0; i < 200 && status(api)?.phase !== 'Ready'; i++) await new Promise((r) => setTimeout(r, 5));
  assert.equal(status(api)!.phase, 'Ready');
  assert.deepEqual(
    reasons(api),
    ['ShadowPending', 'ShadowFailed', 'ShadowPending', 'ShadowFailed', 'ShadowPending', 'ShadowReady'],
    'two failed attempts, then success: one event per transition',
  );

  // A permanent failure (conflict with a foreign object): no retry timer.
  const other = api.addWorkload(deploymentWorkload('api', NS));
  api.seed({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'shadow-api', namespace: NS } } as never);
  const c2 = new ShadowWorkQueue({ reconciler, lookup: () => structuredClone(other), log: nullLog, backoffBaseMs: 2 });
  c2.enqueue(workloadKey(other));
  await c2.idle();
  assert.equal(c2.pendingRetries(), 0);
  assert.match(parseStatus(api.workload('Deployment', NS, 'api').metadata.annotations![TUNNEL_STATUS_ANNOTATION])!.reason!, /already exists and is not owned/);
  controller.stop();
  c2.stop();
});

test('a foreign object with a shadow name is never overwritten or deleted', async () => {
  const { api, reconcile } = setup();
  api.seed({ apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: 'shadow-web', namespace: NS, uid: 'theirs' } } as never);
  const outcome = await reconcile();
  assert.ok(outcome.state === 'Failed' && !outcome.retry);
  assert.deepEqual(api.calls.filter((c) => c.startsWith('apply') || c.startsWith('delete')), []);
  assert.equal(api.objects.get(key('Ingress', 'shadow-web'))!.metadata!.uid, 'theirs');
});

test('switching mode replaces the other mode\'s objects; turning the tunnel off removes everything', async () => {
  const { api, reconcile } = setup();
  await reconcile();
  assert.deepEqual(api.keys(), PLAIN_KEYS);
  setAnnotations(api, { 'ghostwire.dev/fullMesh': 'true' });
  assert.equal((await reconcile()).state, 'Ready');
  assert.deepEqual(api.keys(), MESH_KEYS, 'NetworkPolicy removed, ConfigMap and keys added');
  assert.equal(status(api)!.mode, 'full-mesh');
  setAnnotations(api, { 'ghostwire.dev/fullMesh': 'false' });
  assert.equal((await reconcile()).state, 'Ready');
  assert.deepEqual(api.keys(), PLAIN_KEYS, 'WireGuard ConfigMap and keys removed');
  setAnnotations(api, { 'ghostwire.dev/tunnel': 'false' });
  const off = await reconcile();
  assert.equal(off.state, 'Removed');
  assert.deepEqual(api.keys(), []);
  assert.equal(api.workload('Deployment', NS, 'web').metadata.annotations![TUNNEL_STATUS_ANNOTATION], undefined);
  assert.equal(reasons(api).at(-1), 'ShadowRemoved');
  // Nothing left to remove: no more events.
  const n = api.events.length;
  await reconcile();
  assert.equal(api.events.length, n);
});

test('configuration problems fail without touching the cluster', async () => {
  const noDns = setup({ net: { wildcardDNS: '' } });
  const a = await noDns.reconcile();
  assert.ok(a.state === 'Failed' && !a.retry);
  assert.match(noDns.api.workload('Deployment', NS, 'web').metadata.annotations![TUNNEL_STATUS_ANNOTATION]!, /Failed.*wildcardDNS is empty/);
  assert.deepEqual(noDns.api.calls.filter((c) => !c.startsWith('patch')), []);

  const badPorts = setup({ annotations: { 'ghostwire.dev/tunnel': 'true', 'ghostwire.dev/tunnelPorts': '99999' } });
  const b = await badPorts.reconcile();
  assert.ok(b.state === 'Failed' && /ghostwire.dev\/tunnelPorts/.test(b.reason));
});

test('enableTunnel in the defaults turns tunnels on; shadows and deleted workloads are skipped', async () => {
  const { api, reconciler } = setup({ net: { enableTunnel: true }, annotations: {} });
  const d = defaults({ enableTunnel: true });
  const r2 = new ShadowReconciler({ api, defaults: { ...d, config: { ...d.config, tunnel: true } }, tunnelKey: TEST_TUNNEL_KEY, log: nullLog, waitForChange: async () => {} });
  assert.equal((await r2.reconcile(structuredClone(api.workload('Deployment', NS, 'web')))).state, 'Ready');
  const shadow = api.objects.get(key('Deployment', 'shadow-web')) as unknown as Workload;
  assert.equal((await reconciler.reconcile({ ...shadow, apiVersion: 'apps/v1', kind: 'Deployment' })).state, 'Skipped');
  const deleting = structuredClone(api.workload('Deployment', NS, 'web'));
  deleting.metadata.deletionTimestamp = new Date();
  assert.equal((await reconciler.reconcile(deleting)).state, 'Skipped');
});

test('events are best effort: a failed event write does not fail the reconcile', async () => {
  const rec = recordingLog();
  const { api, reconcile } = setup({ log: rec.log });
  api.failEvents = true;
  assert.equal((await reconcile()).state, 'Ready');
  assert.ok(rec.lines.some((l) => l.startsWith('cannot record event: HTTP 403')));
});

test('WireGuard keys: X25519, 32 raw bytes in base64, public key derivable', () => {
  const k = generateWireGuardKeyPair();
  assert.ok(isWireGuardKey(k.privateKey) && isWireGuardKey(k.publicKey));
  assert.equal(wireGuardPublicKey(k.privateKey), k.publicKey);
  assert.notEqual(generateWireGuardKeyPair().privateKey, k.privateKey);
  const raw = Buffer.from(k.privateKey, 'base64');
  assert.equal(raw[0]! & 7, 0, 'clamped like wg genkey');
  assert.equal(raw[31]! & 0xc0, 0x40);
  // RFC 7748 test vector (Alice).
  const alice = Buffer.from('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a', 'hex').toString('base64');
  assert.equal(Buffer.from(wireGuardPublicKey(alice), 'base64').toString('hex'), '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
});

test('the queue abandons a running attempt only when the workload\'s inputs change', async () => {
  const { workloadFingerprint } = await import('../../src/shadow/queue.js');
  const base = deploymentWorkload();
  const same = structuredClone(base);
  same.metadata.annotations = { ...same.metadata.annotations, 'deployment.kubernetes.io/revision': '2', [TUNNEL_STATUS_ANNOTATION]: '{"phase":"Ready"}' };
  assert.equal(workloadFingerprint(same), workloadFingerprint(base), 'other controllers\' and our own annotations do not count');
  // The API server bumps a Deployment's generation on every annotation change, our own status write included;
  // replicas do not change what a reconcile does either.
  same.metadata.generation = 7;
  same.spec = { ...structuredClone(base.spec), replicas: 3 } as Workload['spec'];
  assert.equal(workloadFingerprint(same), workloadFingerprint(base), 'generation and replicas do not count');
  const ports = structuredClone(base);
  ports.spec!.template!.spec!.containers[0]!.ports!.push({ containerPort: 9090, name: 'admin' });
  assert.notEqual(workloadFingerprint(ports), workloadFingerprint(base), 'template ports count');
  const templateAnnotation = structuredClone(base);
  templateAnnotation.spec!.template!.metadata!.annotations = { 'ghostwire.dev/fullMesh': 'true' };
  assert.notEqual(workloadFingerprint(templateAnnotation), workloadFingerprint(base), 'template ghostwire.dev/ annotations count');
  const changed = structuredClone(base);
  changed.metadata.annotations = { ...changed.metadata.annotations, 'ghostwire.dev/fullMesh': 'true' };
  assert.notEqual(workloadFingerprint(changed), workloadFingerprint(base));

  let current: Workload = base;
  const runs: string[] = [];
  const reconciler = {
    reconcile: (w: Workload, signal?: AbortSignal) =>
      new Promise<{ state: 'Aborted' } | { state: 'Ready'; endpoint: string }>((resolve) => {
        runs.push(w.metadata.annotations?.['ghostwire.dev/fullMesh'] ?? 'unset');
        if (w.metadata.annotations?.['ghostwire.dev/fullMesh'] === 'true') return resolve({ state: 'Ready', endpoint: 'x' });
        signal?.addEventListener('abort', () => resolve({ state: 'Aborted' }));
      }),
  };
  const controller = new ShadowWorkQueue({ reconciler, lookup: () => structuredClone(current), log: nullLog });
  controller.enqueue('Deployment/shop/web');
  await new Promise((r) => setTimeout(r, 5));
  current = same;
  controller.enqueue('Deployment/shop/web'); // status/revision only: keeps running
  await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(runs, ['unset']);
  current = changed;
  controller.enqueue('Deployment/shop/web'); // new config: abandon and rerun
  await controller.idle();
  assert.deepEqual(runs, ['unset', 'true']);
  controller.stop();
});

test('a stale cached copy does not repeat status writes or Events (the live object is read first)', async () => {
  const { api, reconciler } = setup();
  const stale = structuredClone(api.workload('Deployment', NS, 'web'));
  assert.equal((await reconciler.reconcile(structuredClone(stale))).state, 'Ready');
  const writes = api.calls.filter((c) => c.startsWith('patch')).length;
  const events = api.events.length;
  // The informer has not caught up: the copy still has no status annotation.
  assert.equal((await reconciler.reconcile(structuredClone(stale))).state, 'Ready');
  assert.equal(api.calls.filter((c) => c.startsWith('patch')).length, writes);
  assert.equal(api.events.length, events);
  // A workload that is gone (or replaced under the same name) is skipped.
  api.workloads.delete('Deployment/shop/web');
  assert.equal((await reconciler.reconcile(structuredClone(stale))).state, 'Skipped');
});

const WEB = 'Deployment/shop/web';
const until = async (what: string, cond: () => boolean, ms = 3000): Promise<void> => {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
};

test("our own status write does not abandon the running attempt (a Deployment's generation moves with its annotations)", async () => {
  const { api, reconciler } = setup();
  const outcomes: string[] = [];
  const controller = new ShadowWorkQueue({
    reconciler: {
      reconcile: async (w, signal) => {
        const outcome = await reconciler.reconcile(w, signal);
        outcomes.push(outcome.state);
        return outcome;
      },
    },
    lookup: (k) => (k === WEB ? structuredClone(api.workload('Deployment', NS, 'web')) : undefined),
    log: nullLog,
  });
  // The informer delivers each status write while the attempt is still running.
  api.onChange = (k) => controller.enqueue(k);
  controller.enqueue(WEB);
  await controller.idle();
  controller.stop();
  assert.ok(api.workload('Deployment', NS, 'web').metadata.generation! > 1, 'the status writes moved the generation');
  assert.equal(outcomes[0], 'Ready', `outcomes: ${outcomes.join(', ')}`);
  assert.ok(!outcomes.includes('Aborted'));
  assert.deepEqual(reasons(api), ['ShadowPending', 'ShadowReady']);
});

test("a failed attempt's own status write and cleanup do not wake its retry before the backoff", async () => {
  const { api, reconciler } = setup();
  api.failApply = (o) => (o.kind === 'Ingress' ? new Error('HTTP 403 Forbidden: exceeded quota') : undefined);
  const controller = new ShadowWorkQueue({
    reconciler,
    lookup: (k) => (k === WEB ? structuredClone(api.workload('Deployment', NS, 'web')) : undefined),
    log: nullLog,
    backoffBaseMs: 400,
  });
  // Informer events arrive a moment after the write, usually once the attempt is over.
  api.onChange = (k) => setImmediate(() => controller.enqueue(k));
  controller.enqueue(WEB);
  await until('Failed', () => status(api)?.phase === 'Failed');
  await new Promise((r) => setTimeout(r, 100));
  await controller.idle();
  assert.equal(api.calls.filter((c) => c.startsWith('apply Ingress')).length, 1, 'one attempt before the backoff');
  assert.deepEqual(reasons(api), ['ShadowPending', 'ShadowFailed']);
  assert.equal(controller.pendingRetries(), 1);
  controller.enqueue(WEB); // a resync with the same inputs waits for the retry too
  assert.equal(controller.pendingRetries(), 1);

  api.failApply = () => undefined;
  await until('Ready after the backoff', () => status(api)?.phase === 'Ready');
  assert.deepEqual(reasons(api), ['ShadowPending', 'ShadowFailed', 'ShadowPending', 'ShadowReady']);
  controller.stop();
});

test('a permanent failure is not retried by its own status writes, only when the workload changes', async () => {
  const { api, reconciler } = setup();
  const foreign = api.seed({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'shadow-web', namespace: NS } } as never);
  const controller = new ShadowWorkQueue({
    reconciler,
    lookup: (k) => (k === WEB ? structuredClone(api.workload('Deployment', NS, 'web')) : undefined),
    log: nullLog,
    backoffBaseMs: 5,
  });
  api.onChange = (k) => setImmediate(() => controller.enqueue(k));
  controller.enqueue(WEB);
  await until('Failed', () => status(api)?.phase === 'Failed');
  await new Promise((r) => setTimeout(r, 100));
  await controller.idle();
  assert.deepEqual(reasons(api), ['ShadowPending', 'ShadowFailed'], 'no Pending/Failed loop');
  assert.equal(controller.pendingRetries(), 0);
  controller.enqueue(WEB); // same inputs (a resync): still parked
  await controller.idle();
  assert.deepEqual(reasons(api), ['ShadowPending', 'ShadowFailed']);

  // The conflict is resolved and the workload changes: reconciled again.
  api.objects.delete(key('Service', 'shadow-web'));
  assert.equal(foreign.metadata?.name, 'shadow-web');
  setAnnotations(api, { 'ghostwire.dev/tunnelTimeout': '2m' });
  controller.enqueue(WEB);
  await until('Ready', () => status(api)?.phase === 'Ready');
  assert.deepEqual(reasons(api), ['ShadowPending', 'ShadowFailed', 'ShadowPending', 'ShadowReady']);
  controller.stop();
});

test("an abandoned attempt's objects are taken over by the next attempt: its failure removes them too", async () => {
  const { api, reconciler } = setup();
  // Attempt 1 applies everything, then the workload's inputs change and it is abandoned while waiting.
  api.autoReady = false;
  const abort = new AbortController();
  api.failApply = (o) => {
    if (o.kind === 'Ingress') abort.abort();
    return undefined;
  };
  const first = await reconciler.reconcile(structuredClone(api.workload('Deployment', NS, 'web')), abort.signal);
  assert.equal(first.state, 'Aborted');
  assert.deepEqual(api.keys(), PLAIN_KEYS);

  // Attempt 2 (new inputs) finds them in place; its Ingress apply is rejected: nothing half-built stays.
  setAnnotations(api, { 'ghostwire.dev/tunnelPorts': '9090' });
  api.failApply = (o) => (o.kind === 'Ingress' ? new Error('HTTP 403 Forbidden: exceeded quota') : undefined);
  const second = await reconciler.reconcile(structuredClone(api.workload('Deployment', NS, 'web')));
  assert.ok(second.state === 'Failed' && second.retry);
  assert.deepEqual(api.keys(), [], 'the objects of the abandoned attempt were removed with the failed one');
  assert.deepEqual(
    api.calls.filter((c) => c.startsWith('delete')),
    ['delete Ingress/shop/shadow-web', 'delete Deployment/shop/shadow-web', 'delete Service/shop/shadow-web', 'delete NetworkPolicy/shop/shadow-web'],
    'newest first',
  );

  // Taken over once: a later success forgets them, so they are never deleted by a later failure.
  api.failApply = () => undefined;
  api.autoReady = true;
  assert.equal((await reconciler.reconcile(structuredClone(api.workload('Deployment', NS, 'web')))).state, 'Ready');
  api.failApply = (o) => (o.kind === 'Ingress' ? new Error('HTTP 503') : undefined);
  setAnnotations(api, { 'ghostwire.dev/tunnelPorts': '9091' });
  assert.equal((await reconciler.reconcile(structuredClone(api.workload('Deployment', NS, 'web')))).state, 'Failed');
  assert.deepEqual(api.keys(), PLAIN_KEYS, 'objects that existed before the attempt stay');
});

test('a configuration that cannot be rendered removes what an abandoned attempt created', async () => {
  const { api, reconciler } = setup();
  api.autoReady = false;
  const abort = new AbortController();
  api.failApply = (o) => {
    if (o.kind === 'Ingress') abort.abort();
    return undefined;
  };
  assert.equal((await reconciler.reconcile(structuredClone(api.workload('Deployment', NS, 'web')), abort.signal)).state, 'Aborted');
  setAnnotations(api, { 'ghostwire.dev/tunnelPorts': 'not-a-port' });
  const outcome = await reconciler.reconcile(structuredClone(api.workload('Deployment', NS, 'web')));
  assert.ok(outcome.state === 'Failed' && !outcome.retry && /cannot render/.test(outcome.reason));
  assert.deepEqual(api.keys(), []);
});
