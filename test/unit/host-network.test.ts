// hostNetwork and an injected workload: ghostwire's uid-0 NET_ADMIN containers would program the node's own nat
// table, so turning hostNetwork on removes ghostwire's parts, loudly, as `enabled: "false"` removes them quietly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fastJsonPatch from 'fast-json-patch';
import { VERSION } from '../../src/version.js';
import { type MutateContext, mutate } from '../../src/admission/mutate.js';
import type { KubeObject } from '../../src/kube/objects.js';
import { builtinDefaults } from '../../src/config/index.js';
import { requestFor } from '../../src/offline/inject-documents.js';

const ctx: MutateContext = { defaults: builtinDefaults(), version: VERSION, tunnelKey: 'unit-test-key-0123456789' };
const apply = (obj: KubeObject, ops: unknown[]) => fastJsonPatch.applyPatch(structuredClone(obj), ops as fastJsonPatch.Operation[], true, false).newDocument as KubeObject;

function deployment(): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'shop', annotations: { 'ghostwire.dev/enabled': 'true' } },
    spec: { template: { metadata: { annotations: { team: 'a' } }, spec: { initContainers: [{ name: 'migrate', image: 'm' }], containers: [{ name: 'app', image: 'app:1' }], volumes: [{ name: 'data', emptyDir: {} }] } } },
  };
}

const names = (o: KubeObject) => {
  const spec = (o.spec as any).template.spec;
  return [...(spec.initContainers ?? []), ...(spec.containers ?? [])].map((c: any) => c.name).concat((spec.volumes ?? []).map((v: any) => `vol:${v.name}`));
};

test('hostNetwork turned on for an injected workload removes ghostwire\'s containers, volume and status, with a warning and an Event', () => {
  const plain = deployment();
  const injected = apply(plain, mutate(requestFor(plain, 'shop'), ctx).patch);
  assert.ok(names(injected).includes('ghostwire-watcher'));
  (injected.spec as any).template.spec.hostNetwork = true;
  const out = mutate(requestFor(injected, 'shop', 'UPDATE'), ctx);
  assert.equal(out.allowed, true);
  assert.equal(out.result, 'removed');
  assert.equal(out.auditAnnotations['skip-reason'], 'host-network');
  const back = apply(injected, out.patch);
  const expected = structuredClone(plain);
  (expected.spec as any).template.spec.hostNetwork = true;
  assert.deepEqual(back, expected, 'exactly what ghostwire added is gone; the workload\'s own parts stay');
  assert.equal(out.warnings.length, 1);
  assert.match(out.warnings[0] as string, /hostNetwork: true/);
  assert.match(out.warnings[0] as string, /Deployment shop\/web/);
  assert.equal(out.event?.type, 'Warning');
  assert.equal(out.event?.reason, 'GhostwireRemoved');
  assert.equal(out.event?.message, out.warnings[0]);
  assert.deepEqual(out.event?.regarding, { apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'shop', name: 'web' });
  // Converged: the stripped workload is skipped loudly (never re-injected) and needs no further patch.
  const again = mutate(requestFor(back, 'shop', 'UPDATE'), ctx);
  assert.equal(again.reason, 'host-network');
  assert.deepEqual(again.patch, []);
});

test('hostNetwork on an injected bare Pod at CREATE: created without ghostwire\'s parts', () => {
  const pod: KubeObject = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'shop', annotations: { 'ghostwire.dev/enabled': 'true' } }, spec: { containers: [{ name: 'c', image: 'c:1' }] } };
  const injected = apply(pod, mutate(requestFor(pod, 'shop'), ctx).patch);
  (injected.spec as any).hostNetwork = true;
  const out = mutate(requestFor(injected, 'shop'), ctx);
  assert.equal(out.result, 'removed');
  const back = apply(injected, out.patch);
  assert.deepEqual((back.spec as any).containers.map((c: any) => c.name), ['c']);
  assert.ok(!JSON.stringify(back).includes('ghostwire-'), 'nothing of ghostwire is left');
});

test('turning injection off stays a quiet removal (no warning, no Event)', () => {
  const injected = apply(deployment(), mutate(requestFor(deployment(), 'shop'), ctx).patch);
  injected.metadata!.annotations!['ghostwire.dev/enabled'] = 'false';
  const out = mutate(requestFor(injected, 'shop', 'UPDATE'), ctx);
  assert.equal(out.result, 'removed');
  assert.equal(out.auditAnnotations['skip-reason'], 'not-enabled');
  assert.deepEqual(out.warnings, []);
  assert.equal(out.event, undefined);
});
