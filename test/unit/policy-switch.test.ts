// Switching injector.mode from policy to webhook: the webhook takes a policy-injected workload over in place (its
// own status, the policy's ghostwire.dev/injected-by note dropped, containers untouched) and removes the note with
// everything else on enabled: "false". The memoised first-injection patch tells objects with the note apart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fastJsonPatch from 'fast-json-patch';
import { createMutationMemo } from '../../src/admission/memo.js';
import { type MutateContext, mutate } from '../../src/admission/mutate.js';
import { builtinDefaults } from '../../src/config/defaults.js';
import { POLICY_INJECTED_ANNOTATION, STATUS_ANNOTATION } from '../../src/config/options.js';
import type { KubeObject } from '../../src/kube/objects.js';
import { requestFor } from '../../src/offline/inject-documents.js';
import { VERSION } from '../../src/version.js';

const ctx: MutateContext = { defaults: builtinDefaults(), version: VERSION, tunnelKey: 'unit-test-key-0123456789' };
const apply = (obj: KubeObject, ops: unknown[]) => fastJsonPatch.applyPatch(structuredClone(obj), ops as fastJsonPatch.Operation[], true, false).newDocument as KubeObject;

function deployment(): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'shop', annotations: { 'ghostwire.dev/enabled': 'true' } },
    spec: { template: { metadata: { annotations: {} }, spec: { containers: [{ name: 'app', image: 'app:1' }] } } },
  };
}

/** What the policies store: the same parts, their identity in the status, and their note. */
function policyInjected(): KubeObject {
  const obj = apply(deployment(), mutate(requestFor(deployment(), 'shop'), ctx).patch);
  const tpl = (obj.spec as any).template.metadata.annotations;
  const status = JSON.stringify({ ...JSON.parse(tpl[STATUS_ANNOTATION]), configHash: 'policy:0123456789abcdef' });
  for (const ann of [tpl, obj.metadata!.annotations!]) Object.assign(ann, { [STATUS_ANNOTATION]: status, [POLICY_INJECTED_ANNOTATION]: 'admission policy, config policy:0123456789abcdef' });
  return obj;
}

test('the webhook takes a policy-injected workload over: its status, no policy note, the same containers', () => {
  const before = policyInjected();
  const out = mutate(requestFor(before, 'shop'), ctx);
  assert.equal(out.result, 'updated');
  const after = apply(before, out.patch);
  const tpl = (after.spec as any).template;
  assert.equal(tpl.metadata.annotations[POLICY_INJECTED_ANNOTATION], undefined);
  assert.equal(after.metadata!.annotations![POLICY_INJECTED_ANNOTATION], undefined);
  assert.match(JSON.parse(tpl.metadata.annotations[STATUS_ANNOTATION]).configHash, /^[0-9a-f]{16}$/);
  assert.deepEqual(tpl.spec, (before.spec as any).template.spec, 'containers and volume untouched');
  assert.deepEqual(mutate(requestFor(after, 'shop'), ctx).patch, [], 'and then it converges');
});

test('enabled: "false" on a policy-injected workload removes the note with everything else', () => {
  const before = policyInjected();
  before.metadata!.annotations!['ghostwire.dev/enabled'] = 'false';
  const after = apply(before, mutate(requestFor(before, 'shop'), ctx).patch);
  assert.deepEqual(Object.keys(after.metadata!.annotations!), ['ghostwire.dev/enabled']);
  assert.deepEqual((after.spec as any).template.metadata.annotations, {});
  assert.deepEqual((after.spec as any).template.spec.containers.map((c: any) => c.name), ['app']);
});

test('the memoised first-injection patch tells an object carrying the note apart from one without', () => {
  const memo = createMutationMemo();
  const memoCtx = { ...ctx, memo };
  const plain = deployment();
  const noted = deployment();
  noted.metadata!.annotations![POLICY_INJECTED_ANNOTATION] = 'admission policy, config policy:0';
  for (const obj of [plain, noted, plain, noted]) {
    const after = apply(obj, mutate(requestFor(obj, 'shop'), memoCtx).patch);
    assert.equal(after.metadata!.annotations![POLICY_INJECTED_ANNOTATION], undefined);
    assert.ok(after.metadata!.annotations![STATUS_ANNOTATION]);
  }
});
