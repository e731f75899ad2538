// Drift: the webhook's own pipeline run on stored objects decides current / rollout needed / not injected / ...,
// for every kind, and survives whatever a stored object holds (odd annotations, huge objects, garbage status).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VERSION } from '../../src/version.js';
import { builtinDefaults, parseDefaults, type Defaults } from '../../src/config/index.js';
import type { KubeObject } from '../../src/kube/objects.js';
import { type DriftContext, TUNNEL_KEY_NEEDED, judgeWorkload } from '../../src/status/drift.js';
import { KINDS } from '../../src/status/workloads.js';
import { BEFORE, CURRENT, TUNNEL_KEY, inject, workload } from '../helpers/status-cluster.js';

const ctx = (defaults: Defaults = CURRENT, extra: Partial<DriftContext> = {}): DriftContext => ({ defaults, version: VERSION, tunnelKey: TUNNEL_KEY, tunnelKeyKnown: true, ownNamespace: 'ghostwire', ...extra });
const kindOf = (k: string) => KINDS.find((x) => x.kind.kind === k)!.kind;
const judge = (o: KubeObject, c: DriftContext = ctx()) => judgeWorkload(o, kindOf(String(o.kind)), c);
const statusOf = (o: KubeObject): any => JSON.parse(((o.spec as any).template ?? (o.spec as any).jobTemplate?.spec.template ?? o).metadata.annotations['ghostwire.dev/status']);

test('every kind injected with the current defaults is current, and its expected hash is the one its template runs', () => {
  for (const k of KINDS) {
    const o = inject(workload(k.kind.kind, 'shop', `w-${k.resource}`), CURRENT);
    const d = judge(o);
    assert.equal(d.state, 'current', `${k.kind.kind}: ${d.reason} ${d.detail}`);
    assert.equal(d.injected, true);
    assert.equal(d.enabled, true);
    assert.equal(d.sidecarMode, 'container');
    assert.equal(d.runningHash, statusOf(o).configHash);
    assert.equal(d.expectedHash, d.runningHash);
  }
});

test('a defaults change after injection: rollout needed with both hashes, unless the workload pins the changed key itself', () => {
  const plain = inject(workload('Deployment', 'shop', 'cart'), BEFORE);
  const pinned = inject(workload('Deployment', 'shop', 'orders', { annotations: { 'ghostwire.dev/enabled': 'true', 'ghostwire.dev/cpuLimit': '200m' } }), BEFORE);
  const d = judge(plain);
  assert.equal(d.state, 'rollout-needed');
  assert.equal(d.runningHash, statusOf(plain).configHash);
  assert.equal(d.expectedHash, judge(inject(workload('Deployment', 'shop', 'cart'), CURRENT)).runningHash, 'the expected hash is what a new injection writes');
  assert.notEqual(d.expectedHash, d.runningHash);
  assert.equal(judge(pinned).state, 'current');
  // And back: with the defaults it was injected with, it is current again.
  assert.equal(judge(plain, ctx(BEFORE)).state, 'current');
});

test('enabled but never injected: not-injected, with the hash an injection would give; not enabled: not-enabled', () => {
  const o = workload('Deployment', 'shop', 'early');
  const d = judge(o);
  assert.equal(d.state, 'not-injected');
  assert.equal(d.injected, false);
  assert.equal(d.expectedHash, judge(inject(o, CURRENT)).runningHash);
  assert.equal(judge(workload('Deployment', 'shop', 'plain', { annotations: {} })).state, 'not-enabled');
  assert.equal(judge(workload('Deployment', 'shop', 'off', { annotations: { 'ghostwire.dev/enabled': 'false' } })).state, 'not-enabled');
});

test('injected, then switched off: removal pending', () => {
  const o = inject(workload('Deployment', 'shop', 'retired'), CURRENT);
  o.metadata!.annotations!['ghostwire.dev/enabled'] = 'false';
  const d = judge(o);
  assert.equal(d.state, 'removal-pending');
  assert.equal(d.injected, true);
  assert.equal(d.enabled, false);
});

test('injected, then hostNetwork turned on: the webhook removes ghostwire, and the report says so with the reason', async () => {
  const o = inject(workload('Deployment', 'shop', 'net'), CURRENT);
  (o.spec as any).template.spec.hostNetwork = true;
  const d = judge(o);
  assert.equal(d.state, 'removal-pending');
  assert.equal(d.enabled, true);
  assert.match(d.detail ?? '', /hostNetwork/);
  const { buildReport } = await import('../../src/status/report.js');
  const { allWellFixture } = await import('../helpers/status-cluster.js');
  const input = (await allWellFixture()).input;
  const w = buildReport({ ...input, objects: [{ kind: KINDS.find((k) => k.kind.kind === 'Deployment')!, object: o }] }).workloads[0]!;
  assert.equal(d.reason, 'host-network');
  assert.equal(w.reason, 'host-network');
  assert.match(w.message ?? '', /^the webhook now removes ghostwire from it \(host-network: .*hostNetwork.*\); the next write does \(kubectl -n shop rollout restart deployment\/net\)$/);
});

test('invalid annotations: refused in deny mode naming the annotation; in warn mode injected with fallbacks and the warning kept', () => {
  const o = workload('Deployment', 'shop', 'typo', { annotations: { 'ghostwire.dev/enabled': 'true', 'ghostwire.dev/jumpHook': 'FORWARD' } });
  const denied = judge(o);
  assert.equal(denied.state, 'refused');
  assert.equal(denied.reason, 'invalid-annotations');
  assert.match(denied.detail ?? '', /ghostwire\.dev\/jumpHook: "FORWARD" is invalid/);
  const warn = parseDefaults('invalidAnnotations: warn\n', 'test').defaults;
  const warned = judge(o, ctx(warn));
  assert.equal(warned.state, 'not-injected');
  assert.ok(warned.warnings.some((w) => /jumpHook/.test(w)));
  const badEnabled = judge(workload('Deployment', 'shop', 'maybe', { annotations: { 'ghostwire.dev/enabled': 'yes please' } }));
  assert.equal(badEnabled.state, 'refused');
  assert.equal(judge(workload('Deployment', 'shop', 'maybe', { annotations: { 'ghostwire.dev/enabled': 'yes please' } }), ctx(warn)).state, 'refused');
});

test('never injected by policy: system namespace, the webhook namespace, hostNetwork, a Rollout with workloadRef', () => {
  const cases: Array<[KubeObject, string]> = [
    [workload('Deployment', 'kube-system', 'dns'), 'system-namespace'],
    [workload('Deployment', 'ghostwire', 'self'), 'own-namespace'],
    [workload('Deployment', 'shop', 'net', { spec: { hostNetwork: true } }), 'host-network'],
  ];
  for (const [o, reason] of cases) {
    const d = judge(o);
    assert.equal(d.state, 'skipped', reason);
    assert.equal(d.reason, reason);
  }
  const ref: KubeObject = { apiVersion: 'argoproj.io/v1alpha1', kind: 'Rollout', metadata: { name: 'ro', namespace: 'shop', annotations: { 'ghostwire.dev/enabled': 'true' } }, spec: { workloadRef: { kind: 'Deployment', name: 'web' } } };
  const d = judge(ref);
  assert.equal(d.state, 'skipped');
  assert.equal(d.reason, 'workload-ref');
  assert.match(d.detail ?? '', /annotate the referenced workload/);
});

test('a tunnel workload: compared with the tunnel key, unknown (and said why) without it', () => {
  const o = inject(workload('Deployment', 'shop', 'tunnel', { annotations: { 'ghostwire.dev/enabled': 'true', 'ghostwire.dev/tunnel': 'true' } }), CURRENT);
  assert.equal(judge(o).state, 'current');
  const blind = judge(o, ctx(CURRENT, { tunnelKey: 'some-other-key-0123456789', tunnelKeyKnown: false }));
  assert.equal(blind.state, 'unknown');
  assert.equal(blind.expectedHash, null);
  assert.equal(blind.detail, TUNNEL_KEY_NEEDED);
  // A wrong key that claims to be right gives a (false) rollout-needed: the key is what the hash covers.
  assert.equal(judge(o, ctx(CURRENT, { tunnelKey: 'some-other-key-0123456789' })).state, 'rollout-needed');
});

test('hostile status annotations: not JSON, not an object, a number for the hash, a megabyte of hash: no crash, bounded', () => {
  const base = inject(workload('Deployment', 'shop', 'odd'), CURRENT);
  const withStatus = (value: string) => {
    const o = structuredClone(base);
    (o.spec as any).template.metadata.annotations['ghostwire.dev/status'] = value;
    return judge(o);
  };
  for (const value of ['not json', '[1,2]', 'null', '"text"', '{"configHash":5}', '{}']) {
    const d = withStatus(value);
    assert.ok(['rollout-needed', 'not-injected', 'current'].includes(d.state), `${value}: ${d.state}`);
    assert.notEqual(d.state, 'current', `${value} cannot be current`);
  }
  const huge = withStatus(JSON.stringify({ configHash: 'f'.repeat(200_000), sidecarMode: 'evil\u001b[2J' }));
  assert.equal(huge.runningHash?.length, 64, 'hash clipped');
  assert.equal(huge.sidecarMode, null, 'only known sidecar modes are reported');
  assert.equal(huge.state, 'rollout-needed');
  // Past the webhook's limit for one annotation (256 KiB) the object is one the webhook refuses: said so.
  const over = withStatus(JSON.stringify({ configHash: 'f'.repeat(1_000_000) }));
  assert.equal(over.state, 'refused');
  assert.equal(over.reason, 'invalid-object');
  assert.ok((over.detail ?? '').length < 5000, 'the detail is clipped');
});

test('hostile objects: odd annotation keys and values, metadata of the wrong type, a huge template: judged, never thrown', () => {
  const odd = workload('Deployment', 'shop', 'odd', {
    annotations: { 'ghostwire.dev/enabled': 'true', 'ghostwire.dev/': 'x', 'ghostwire.dev/roleLabelKey': 'a'.repeat(10_000), 'ghostwire.dev/\u001b[31mred': 'y', 'ghostwire.dev/nativeSidecar': 'true\n' },
  });
  const d = judge(odd);
  assert.equal(d.state, 'refused');
  assert.ok((d.detail ?? '').length < 20_000);
  for (const meta of [null, 'text', 42, [], { annotations: 'no' }, { annotations: { 'ghostwire.dev/enabled': 42 } }]) {
    const o = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: meta, spec: { template: { spec: { containers: [] } } } } as unknown as KubeObject;
    assert.doesNotThrow(() => judge(o), `metadata ${JSON.stringify(meta)}`);
  }
  const big = workload('Deployment', 'shop', 'big');
  (big.spec as any).template.spec.containers = Array.from({ length: 5000 }, (_, i) => ({ name: `c${i}`, image: 'x:1', env: [{ name: 'A', value: 'v'.repeat(200) }] }));
  (big.metadata as any).annotations['other/blob'] = 'z'.repeat(200_000);
  const started = performance.now();
  const b = judge(big);
  assert.equal(b.state, 'not-injected');
  assert.ok(performance.now() - started < 10_000, 'judged');
  for (const spec of [undefined, null, 'x', { template: null }, { template: { spec: 'x' } }]) {
    const o = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'n', namespace: 'shop', annotations: { 'ghostwire.dev/enabled': 'true' } }, spec } as unknown as KubeObject;
    assert.doesNotThrow(() => judge(o), `spec ${JSON.stringify(spec)}`);
  }
});

test('built-in defaults when the ConfigMap is absent: the same answer as the webhook with no defaults document', () => {
  const o = inject(workload('Deployment', 'shop', 'b'), builtinDefaults());
  assert.equal(judge(o, ctx(builtinDefaults())).state, 'current');
});
