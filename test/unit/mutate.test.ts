import { test } from 'node:test';
import assert from 'node:assert/strict';
import fastJsonPatch from 'fast-json-patch';
import { VERSION } from '../../src/version.js';
import { type MutateContext, mutate } from '../../src/admission/mutate.js';
import type { AdmissionRequest } from '../../src/admission/types.js';
import type { KubeObject } from '../../src/kube/objects.js';
import { builtinDefaults, parseDefaults } from '../../src/config/index.js';
import { requestFor } from '../../src/offline/inject-documents.js';
import { arrayOps, covers } from '../../src/inject/template.js';

const ctx: MutateContext = { defaults: builtinDefaults(), version: VERSION, tunnelKey: 'unit-test-key-0123456789' };

function deployment(templateMeta?: Record<string, unknown>, extra: Record<string, unknown> = {}): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'shop', annotations: { 'ghostwire.dev/enabled': 'true' } },
    spec: { template: { ...(templateMeta ? { metadata: templateMeta } : {}), spec: { containers: [{ name: 'app', image: 'app:1' }], ...extra } } },
  };
}

const apply = (obj: KubeObject, ops: unknown[]) => fastJsonPatch.applyPatch(obj, ops as fastJsonPatch.Operation[], true, false).newDocument as KubeObject;

test('a template without metadata, annotations, initContainers or volumes gets a valid patch', () => {
  const obj = deployment();
  const out = mutate(requestFor(obj, 'shop'), ctx);
  assert.equal(out.result, 'injected');
  const patched = apply(obj, out.patch);
  const tpl = (patched.spec as any).template;
  assert.deepEqual(tpl.spec.initContainers.map((c: any) => c.name), ['ghostwire-init']);
  assert.deepEqual(tpl.spec.containers.map((c: any) => c.name), ['app', 'ghostwire-watcher']);
  assert.deepEqual(tpl.spec.volumes.map((v: any) => v.name), ['ghostwire-shared']);
  assert.ok(tpl.metadata.annotations['ghostwire.dev/status']);
  assert.deepEqual(mutate(requestFor(patched, 'shop'), ctx).patch, []);
});

test('annotation keys with "/" are escaped as ~1 in patch paths', () => {
  const obj = deployment({ annotations: { 'a/b': 'c' } });
  const out = mutate(requestFor(obj, 'shop'), ctx);
  const paths = out.patch.map((p) => p.path);
  assert.ok(paths.includes('/spec/template/metadata/annotations/ghostwire.dev~1status'), paths.join(' '));
  assert.ok(paths.includes('/metadata/annotations/ghostwire.dev~1status'));
  // Applying must not create nested objects from the slash.
  const patched = apply(obj, out.patch);
  assert.equal(typeof (patched.spec as any).template.metadata.annotations['ghostwire.dev/status'], 'string');
});

test('init container goes last after the workload init containers; initFirst puts it first', () => {
  const obj = deployment({ annotations: {} }, { initContainers: [{ name: 'migrate', image: 'm' }, { name: 'seed', image: 's' }] });
  const last = apply(obj, mutate(requestFor(obj, 'shop'), ctx).patch);
  assert.deepEqual((last.spec as any).template.spec.initContainers.map((c: any) => c.name), ['migrate', 'seed', 'ghostwire-init']);
  (obj.spec as any).template.metadata.annotations['ghostwire.dev/initFirst'] = 'true';
  const first = apply(obj, mutate(requestFor(obj, 'shop'), ctx).patch);
  assert.deepEqual((first.spec as any).template.spec.initContainers.map((c: any) => c.name), ['ghostwire-init', 'migrate', 'seed']);
});

test('a changed config replaces ghostwire containers in place and never touches the workload containers', () => {
  const obj = deployment({ annotations: {} }, { initContainers: [{ name: 'migrate', image: 'm' }] });
  const once = apply(obj, mutate(requestFor(obj, 'shop'), ctx).patch);
  (once.spec as any).template.metadata.annotations['ghostwire.dev/natChain'] = 'OTHER_DNAT';
  const out = mutate(requestFor(once, 'shop', 'UPDATE'), ctx);
  assert.equal(out.result, 'updated');
  const twice = apply(once, out.patch);
  const spec = (twice.spec as any).template.spec;
  assert.deepEqual(spec.initContainers.map((c: any) => c.name), ['migrate', 'ghostwire-init']);
  assert.deepEqual(spec.containers.map((c: any) => c.name), ['app', 'ghostwire-watcher']);
  assert.equal(spec.volumes.length, 1);
  const chain = spec.containers[1].env.find((e: any) => e.name === 'GW_NAT_CHAIN');
  assert.equal(chain.value, 'OTHER_DNAT');
  assert.deepEqual(spec.containers[0], { name: 'app', image: 'app:1' });
  for (const op of out.patch) assert.ok(!op.path.endsWith('/containers/0') && !op.path.endsWith('/initContainers/0'), `touches a workload container: ${op.path}`);
});

test('duplicated ghostwire containers from another actor collapse to exactly one of each', () => {
  const obj = deployment({ annotations: {} });
  const once = apply(obj, mutate(requestFor(obj, 'shop'), ctx).patch);
  const spec = (once.spec as any).template.spec;
  spec.containers.push({ ...spec.containers[1] });
  spec.volumes.push({ name: 'ghostwire-shared', emptyDir: {} });
  const fixed = apply(once, mutate(requestFor(once, 'shop', 'UPDATE'), ctx).patch);
  const s = (fixed.spec as any).template.spec;
  assert.equal(s.containers.filter((c: any) => c.name === 'ghostwire-watcher').length, 1);
  assert.equal(s.volumes.filter((v: any) => v.name === 'ghostwire-shared').length, 1);
});

test('fields defaulted by the API server on injected containers do not trigger a new patch', () => {
  const obj = deployment({ annotations: {} });
  const once = apply(obj, mutate(requestFor(obj, 'shop'), ctx).patch);
  for (const c of [...(once.spec as any).template.spec.containers, ...(once.spec as any).template.spec.initContainers]) {
    c.terminationMessagePath = '/dev/termination-log';
    c.terminationMessagePolicy = 'File';
    for (const e of c.env ?? []) if (e.valueFrom) e.valueFrom.fieldRef.apiVersion = 'v1';
    if (c.readinessProbe) c.readinessProbe.successThreshold = 1;
  }
  assert.deepEqual(mutate(requestFor(once, 'shop', 'UPDATE'), ctx).patch, []);
});

test('turning injection off removes exactly what ghostwire added', () => {
  const obj = deployment({ annotations: {} }, { initContainers: [{ name: 'migrate', image: 'm' }], volumes: [{ name: 'data', emptyDir: {} }] });
  const once = apply(obj, mutate(requestFor(obj, 'shop'), ctx).patch);
  once.metadata!.annotations!['ghostwire.dev/enabled'] = 'false';
  const out = mutate(requestFor(once, 'shop', 'UPDATE'), ctx);
  assert.equal(out.result, 'removed');
  const back = apply(once, out.patch);
  const expected = structuredClone(obj);
  expected.metadata!.annotations!['ghostwire.dev/enabled'] = 'false';
  assert.deepEqual(back, expected);
});

test('skips carry a reason code: operations, system and own namespaces, disabled, owner-injected pods', () => {
  const obj = deployment();
  const del: AdmissionRequest = { ...requestFor(obj, 'shop'), operation: 'DELETE' };
  assert.equal(mutate(del, ctx).reason, 'operation');
  for (const ns of ['kube-system', 'kube-public', 'kube-node-lease']) {
    const o = structuredClone(obj);
    o.metadata!.namespace = ns;
    const out = mutate(requestFor(o, ns), ctx);
    assert.equal(out.reason, 'system-namespace');
    assert.deepEqual(out.patch, []);
    assert.equal(out.event?.reason, 'GhostwireSkipped', 'absence is visible: the workload asked for injection');
  }
  const own = structuredClone(obj);
  own.metadata!.namespace = 'ghostwire';
  assert.equal(mutate(requestFor(own, 'ghostwire'), { ...ctx, ownNamespace: 'ghostwire' }).reason, 'own-namespace');
  const off = deployment();
  delete off.metadata!.annotations;
  assert.equal(mutate(requestFor(off, 'shop'), ctx).reason, 'not-enabled');
  const cm: KubeObject = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', annotations: { 'ghostwire.dev/enabled': 'true' } } };
  assert.equal(mutate(requestFor(cm, 'shop'), ctx).reason, 'unsupported-kind');
  // A pod created from an injected template is left alone even though its own annotations differ.
  const injected = apply(obj, mutate(requestFor(obj, 'shop'), ctx).patch);
  const pod: KubeObject = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { generateName: 'web-abc-', namespace: 'shop', annotations: (injected.spec as any).template.metadata.annotations, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-abc', uid: 'u-1', controller: true }] },
    spec: (injected.spec as any).template.spec,
  };
  const podOut = mutate(requestFor(pod, 'shop'), ctx);
  assert.equal(podOut.reason, 'injected-by-owner');
  assert.deepEqual(podOut.patch, []);
});

test('invalid annotations deny with every bad key named; warn mode injects with defaults and warns', () => {
  const obj = deployment({ annotations: { 'ghostwire.dev/jumpHook': 'FORWARD', 'ghostwire.dev/natChain': '-j ACCEPT' } });
  const denied = mutate(requestFor(obj, 'shop'), ctx);
  assert.equal(denied.allowed, false);
  assert.equal(denied.denial?.code, 400);
  assert.match(denied.denial!.message, /ghostwire\.dev\/jumpHook: "FORWARD" is invalid; allowed: "OUTPUT" or "PREROUTING"/);
  assert.match(denied.denial!.message, /ghostwire\.dev\/natChain: "-j ACCEPT" is invalid/);
  assert.match(denied.denial!.message, /Deployment shop\/web/);
  const warn = { ...ctx, defaults: parseDefaults('invalidAnnotations: warn\nallowedImages: [registry.example/gw]', 'test').defaults };
  const warned = mutate(requestFor(obj, 'shop'), warn);
  assert.equal(warned.allowed, true);
  assert.equal(warned.result, 'injected');
  assert.equal(warned.warnings.length, 2);
  const env = (apply(obj, warned.patch).spec as any).template.spec.containers[1].env;
  assert.equal(env.find((e: any) => e.name === 'GW_JUMP_HOOK').value, 'OUTPUT');
  assert.equal(env.find((e: any) => e.name === 'GW_NAT_CHAIN').value, 'CANARY_DNAT');
});

test('no annotation value reaches the rendered containers except through validated env values', () => {
  const hostile = '$(curl evil);`id`';
  const obj = deployment({ annotations: { 'ghostwire.dev/roleActive': hostile } });
  assert.equal(mutate(requestFor(obj, 'shop'), ctx).allowed, false);
  const warn = { ...ctx, defaults: parseDefaults('invalidAnnotations: warn\nallowedImages: [registry.example/gw]', 'test').defaults };
  const out = mutate(requestFor(obj, 'shop'), warn);
  assert.ok(!JSON.stringify(out.patch).includes('curl evil'));
});

test('the Event of a Pod with a controller points at the controller', () => {
  const pod: KubeObject = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { generateName: 'job-', namespace: 'shop', annotations: { 'ghostwire.dev/enabled': 'true' }, ownerReferences: [{ apiVersion: 'batch/v1', kind: 'Job', name: 'job', uid: 'uid-job', controller: true }] },
    spec: { containers: [{ name: 'c', image: 'c' }] },
  };
  const out = mutate(requestFor(pod, 'shop'), ctx);
  assert.equal(out.result, 'injected');
  assert.deepEqual(out.event?.regarding, { apiVersion: 'batch/v1', kind: 'Job', namespace: 'shop', name: 'job', uid: 'uid-job' });
});

test('covers ignores extra fields but not different values; arrayOps emits minimal ops', () => {
  assert.equal(covers({ a: 1, b: { c: 2, d: 3 } }, { b: { c: 2 } }), true);
  assert.equal(covers({ a: [1, 2] }, { a: [1] }), false);
  assert.equal(covers({ a: '1' }, { a: 1 }), false);
  const a = { name: 'a' };
  const b = { name: 'b' };
  const g = { name: 'g' };
  assert.deepEqual(arrayOps('/x', [a, b], [a, b, g]), [{ op: 'add', path: '/x/-', value: g }]);
  assert.deepEqual(arrayOps('/x', [a, b], [g, a, b]), [{ op: 'add', path: '/x/0', value: g }]);
  assert.deepEqual(arrayOps('/x', [a, b], [a, b]), []);
  assert.deepEqual(arrayOps('/x', undefined, [g]), [{ op: 'add', path: '/x', value: [g] }]);
  assert.deepEqual(arrayOps('/x', [g], []), [{ op: 'remove', path: '/x' }]);
});

test('the memo changes nothing: identical outcomes and byte-identical patches for every golden case, twice', async () => {
  const { loadCases } = await import('../helpers/injector-cases.js');
  const { createMutationMemo } = await import('../../src/admission/memo.js');
  const { serializePatch } = await import('../../src/admission/response.js');
  for (const c of loadCases()) {
    const memoCtx = { ...c.ctx, memo: createMutationMemo() };
    for (const doc of c.docs) {
      const plain = mutate(requestFor(doc as KubeObject, 'default'), c.ctx);
      for (let i = 0; i < 2; i++) {
        const memo = mutate(requestFor(doc as KubeObject, 'default'), memoCtx);
        assert.deepEqual(memo, plain, `${c.name} pass ${i}`);
        assert.equal(serializePatch(memo.patch), JSON.stringify(plain.patch));
      }
    }
  }
});

test('a template as the API server stores it (empty env values dropped) converges without a patch', () => {
  const obj = deployment({ annotations: {} });
  const once = apply(obj, mutate(requestFor(obj, 'shop'), ctx).patch);
  const stored = JSON.parse(JSON.stringify(once, (k, v) => (k === 'value' && v === '' ? undefined : v)));
  assert.deepEqual(mutate(requestFor(stored, 'shop', 'UPDATE'), ctx).patch, []);
});

test('mounts added by other admission plugins (the ServiceAccount token) do not trigger a patch that removes them', () => {
  const pod: KubeObject = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'bare', namespace: 'shop', annotations: { 'ghostwire.dev/enabled': 'true' } }, spec: { containers: [{ name: 'c', image: 'c' }] } };
  const once = apply(pod, mutate(requestFor(pod, 'shop'), ctx).patch);
  const spec = once.spec as any;
  for (const c of [...spec.containers, ...spec.initContainers]) {
    c.volumeMounts = [...(c.volumeMounts ?? []), { name: 'kube-api-access-x1y2z', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true }];
  }
  spec.volumes.push({ name: 'kube-api-access-x1y2z', projected: { sources: [] } });
  // Re-invocation within the same CREATE.
  assert.deepEqual(mutate(requestFor(once, 'shop', 'CREATE'), ctx).patch, []);
});

test('Pod UPDATE is never patched (containers are immutable); workload UPDATE is', () => {
  const pod: KubeObject = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'bare', namespace: 'shop', annotations: { 'ghostwire.dev/enabled': 'true' } }, spec: { containers: [{ name: 'c', image: 'c' }] } };
  const out = mutate(requestFor(pod, 'shop', 'UPDATE'), ctx);
  assert.equal(out.reason, 'pod-update');
  assert.deepEqual(out.patch, []);
  assert.equal(mutate(requestFor(deployment(), 'shop', 'UPDATE'), ctx).result, 'injected');
});

test('one memo across differently shaped objects never hands one object another object\'s patch', async () => {
  const { createMutationMemo } = await import('../../src/admission/memo.js');
  // The images must be ones the administrator allows (allowedImages), else both are simply denied.
  const allowing = { ...ctx, defaults: parseDefaults('allowedImages: [reg.example/]', 'test').defaults };
  const memoCtx = { ...allowing, memo: createMutationMemo() };
  const variants: KubeObject[] = [
    deployment(),
    deployment({}),
    deployment({ annotations: {} }),
    deployment({ annotations: { x: 'y' } }, { initContainers: [{ name: 'a', image: 'a' }] }),
    deployment({ annotations: {} }, { initContainers: [{ name: 'a', image: 'a' }, { name: 'b', image: 'b' }], volumes: [{ name: 'v', emptyDir: {} }] }),
    deployment({ annotations: { 'ghostwire.dev/initFirst': 'true' } }, { initContainers: [{ name: 'a', image: 'a' }] }),
    { ...deployment(), metadata: { name: 'web', namespace: 'shop' }, spec: { template: { metadata: { annotations: { 'ghostwire.dev/enabled': 'true' } }, spec: { containers: [{ name: 'a', image: 'a' }, { name: 'b', image: 'b' }] } } } },
    { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'shop', annotations: { 'ghostwire.dev/enabled': 'true' } }, spec: { containers: [{ name: 'c', image: 'c' }] } },
    { apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name: 'cj', namespace: 'shop', annotations: { 'ghostwire.dev/enabled': 'true' } }, spec: { jobTemplate: { spec: { template: { spec: { containers: [{ name: 'c', image: 'c' }] } } } } } },
  ];
  for (let round = 0; round < 2; round++) {
    for (const [i, v] of variants.entries()) {
      const expected = mutate(requestFor(v, 'shop'), ctx);
      const got = mutate(requestFor(v, 'shop'), memoCtx);
      assert.deepEqual(got.patch, expected.patch, `variant ${i}, round ${round}`);
      assert.equal(JSON.stringify(apply(v, got.patch)), JSON.stringify(apply(v, expected.patch)));
    }
  }
});

test('the response body is exactly the JSON of the AdmissionReview', async () => {
  const { admissionReviewBody, toAdmissionResponse, toAdmissionReview } = await import('../../src/admission/response.js');
  const { createMutationMemo } = await import('../../src/admission/memo.js');
  // The images must be ones the administrator allows (allowedImages), else both are simply denied.
  const allowing = { ...ctx, defaults: parseDefaults('allowedImages: [reg.example/]', 'test').defaults };
  const memoCtx = { ...allowing, memo: createMutationMemo() };
  for (const obj of [deployment(), { ...deployment(), kind: 'ConfigMap' }]) {
    for (let i = 0; i < 2; i++) {
      const out = mutate(requestFor(obj as KubeObject, 'shop'), memoCtx);
      const body = JSON.parse(admissionReviewBody('uid-1', out));
      assert.deepEqual(body, JSON.parse(JSON.stringify(toAdmissionReview(toAdmissionResponse('uid-1', out)))));
    }
  }
});

test('a controller-owned workload (a Deployment\'s ReplicaSet) is never patched: its owner would stop recognising it', () => {
  const rs = deployment({ annotations: { 'ghostwire.dev/enabled': 'true', 'ghostwire.dev/tunnel': 'true' } });
  rs.kind = 'ReplicaSet';
  rs.metadata!.ownerReferences = [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: 'u', controller: true }];
  const out = mutate(requestFor(rs, 'shop'), ctx);
  assert.equal(out.reason, 'controller-owned');
  assert.deepEqual(out.patch, []);
});

test('clearing a value that renders as an empty env var updates the containers (not only the status)', () => {
  const obj = deployment({ annotations: { 'ghostwire.dev/excludeCidrs': '10.0.0.0/8', 'ghostwire.dev/namespace': 'other' } });
  const once = apply(obj, mutate(requestFor(obj, 'shop'), ctx).patch);
  const stored = JSON.parse(JSON.stringify(once, (k, v) => (k === 'value' && v === '' ? undefined : v)));
  delete stored.spec.template.metadata.annotations['ghostwire.dev/excludeCidrs'];
  delete stored.spec.template.metadata.annotations['ghostwire.dev/namespace'];
  const after = apply(stored, mutate(requestFor(stored, 'shop', 'UPDATE'), ctx).patch);
  for (const c of [after.spec as any].flatMap((s) => [...s.template.spec.initContainers, s.template.spec.containers[1]])) {
    const env = Object.fromEntries(c.env.map((e: any) => [e.name, e.value]));
    assert.ok(env.GW_EXCLUDE_CIDRS === '' || env.GW_EXCLUDE_CIDRS === undefined, `${c.name}: GW_EXCLUDE_CIDRS=${env.GW_EXCLUDE_CIDRS}`);
    assert.ok(env.GW_NAMESPACE === '' || env.GW_NAMESPACE === undefined, `${c.name}: GW_NAMESPACE=${env.GW_NAMESPACE}`);
  }
});

test('quantities the API server stores canonically ("0.5" as "500m") do not trigger a patch', () => {
  const obj = deployment({ annotations: { 'ghostwire.dev/cpuLimit': '0.5', 'ghostwire.dev/memoryLimit': '1024Mi' } });
  const once = apply(obj, mutate(requestFor(obj, 'shop'), ctx).patch);
  for (const c of [...(once.spec as any).template.spec.initContainers, (once.spec as any).template.spec.containers[1]]) {
    c.resources.limits = { cpu: '500m', memory: '1Gi' };
  }
  assert.deepEqual(mutate(requestFor(once, 'shop', 'UPDATE'), ctx).patch, []);
  // A real change is still a change.
  (once.spec as any).template.spec.containers[1].resources.limits.cpu = '400m';
  assert.notDeepEqual(mutate(requestFor(once, 'shop', 'UPDATE'), ctx).patch, []);
});

test('memo keys cannot be forged by annotation values: a NUL or separator in a value never aliases another object', async () => {
  const { createMutationMemo } = await import('../../src/admission/memo.js');
  // The images must be ones the administrator allows (allowedImages), else both are simply denied.
  const allowing = { ...ctx, defaults: parseDefaults('allowedImages: [reg.example/]', 'test').defaults };
  const memoCtx = { ...allowing, memo: createMutationMemo() };
  const attacker = deployment({ annotations: {} });
  attacker.metadata!.annotations = { 'ghostwire.dev/enabled': 'true', 'ghostwire.dev/image': 'reg.example/gw:1\u0000|ghostwire.dev/enabled=true' };
  mutate(requestFor(attacker, 'team-b'), memoCtx);
  const victim = deployment({ annotations: { 'ghostwire.dev/enabled': 'true' } });
  victim.metadata!.annotations = { 'ghostwire.dev/enabled': 'true', 'ghostwire.dev/image': 'reg.example/gw:1' };
  const expected = mutate(requestFor(victim, 'team-a'), allowing);
  const got = mutate(requestFor(victim, 'team-a'), memoCtx);
  assert.equal(expected.result, 'injected');
  assert.deepEqual(got, expected);
});

test('hostNetwork pods are skipped with a warning and an Event: the rules would apply to the whole node', () => {
  const obj = deployment({ annotations: {} }, { hostNetwork: true });
  const out = mutate(requestFor(obj, 'shop'), ctx);
  assert.equal(out.reason, 'host-network');
  assert.deepEqual(out.patch, []);
  assert.match(out.warnings[0] ?? '', /hostNetwork/);
  assert.equal(out.event?.reason, 'GhostwireSkipped');
});

test('tunnels are only rendered for the kinds the shadow controller keeps', () => {
  const defaults = parseDefaults('network:\n  wildcardDNS: tunnel.example.com\n', 'test').defaults;
  const job: KubeObject = { apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'j', namespace: 'shop', annotations: { 'ghostwire.dev/enabled': 'true', 'ghostwire.dev/tunnel': 'true' } }, spec: { template: { spec: { containers: [{ name: 'c', image: 'c', ports: [{ containerPort: 80 }] }] } } } };
  const out = mutate(requestFor(job, 'shop'), { ...ctx, defaults });
  assert.equal(out.result, 'injected');
  assert.ok(!JSON.stringify(out.patch).includes('tunnel-endpoint'));
  assert.match(out.warnings.join(' '), /tunnels are kept for Deployments, StatefulSets and DaemonSets/);
});

test('null fields in a hand-made review do not throw', () => {
  const obj = deployment({ annotations: null as never }, { initContainers: null, volumes: null });
  const out = mutate(requestFor(obj, 'shop'), { ...ctx, memo: undefined });
  assert.equal(out.allowed, true);
});

test('warn mode: an invalid template value falls back to the object\'s value, the layer below', () => {
  const warn = { ...ctx, defaults: parseDefaults('invalidAnnotations: warn\nallowedImages: [registry.example/gw]', 'test').defaults };
  const obj = deployment({ annotations: { 'ghostwire.dev/image': 'bad image' } });
  obj.metadata!.annotations!['ghostwire.dev/image'] = 'registry.example/gw:1';
  const out = mutate(requestFor(obj, 'shop'), warn);
  const patched = apply(obj, out.patch);
  assert.equal((patched.spec as any).template.spec.containers[1].image, 'registry.example/gw:1');
});
