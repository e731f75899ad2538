// The warnings the warning policy writes are the webhook's own words: each template, filled in, equals what
// admission/mutate.ts says for the same object. (test/e2e/policy.test.ts then compares the API server's warnings.)
import { test } from 'node:test';
import fastJsonPatch from 'fast-json-patch';
import assert from 'node:assert/strict';
import { type MutateContext, mutate } from '../../src/admission/mutate.js';
import { builtinDefaults } from '../../src/config/defaults.js';
import type { KubeObject } from '../../src/kube/objects.js';
import { requestFor } from '../../src/offline/inject-documents.js';
import { celMessage, enabledInvalid, fallback, hostNetworkRemoved, hostNetworkSkipped, namespaceSkipped, workloadRefSkipped } from '../../src/policy/messages.js';
import { VERSION } from '../../src/version.js';

const ctx = (warn = false, ownNamespace?: string): MutateContext => {
  const defaults = builtinDefaults();
  if (warn) defaults.invalidAnnotations = 'warn';
  return { defaults, version: VERSION, tunnelKey: 'unit-test-key-0123456789', ownNamespace };
};

function deployment(ns: string, annotations: Record<string, string>, spec: Record<string, unknown> = {}): KubeObject {
  return { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: ns, annotations }, spec: { template: { spec: { containers: [{ name: 'app', image: 'a' }], ...spec } } } };
}

test('namespaces ghostwire never injects: the same warning', () => {
  const sys = mutate(requestFor(deployment('kube-system', { 'ghostwire.dev/enabled': 'true' }), 'kube-system'), ctx());
  assert.deepEqual(sys.warnings, [namespaceSkipped({ ns: 'kube-system', reason: 'system-namespace', what: 'Deployment kube-system/web' })]);
  const own = mutate(requestFor(deployment('ghostwire', { 'ghostwire.dev/enabled': 'true' }), 'ghostwire'), ctx(false, 'ghostwire'));
  assert.deepEqual(own.warnings, [namespaceSkipped({ ns: 'ghostwire', reason: 'own-namespace', what: 'Deployment ghostwire/web' })]);
});

test('hostNetwork: the same warning', () => {
  const out = mutate(requestFor(deployment('shop', { 'ghostwire.dev/enabled': 'true' }, { hostNetwork: true }), 'shop'), ctx());
  assert.deepEqual(out.warnings, [hostNetworkSkipped({ what: 'Deployment shop/web' })]);
});

test('an invalid ghostwire.dev/enabled in warn mode, and a tolerated invalid value: the same warnings', () => {
  const enabled = mutate(requestFor(deployment('shop', { 'ghostwire.dev/enabled': 'yes' }), 'shop'), ctx(true));
  const problem = 'ghostwire.dev/enabled: "yes" is invalid; allowed: "true" or "false"';
  assert.deepEqual(enabled.warnings, [enabledInvalid({ problem, state: 'off' })]);
  const tolerated = mutate(requestFor(deployment('shop', { 'ghostwire.dev/enabled': 'true', 'ghostwire.dev/jumpHook': 'FORWARD' }), 'shop'), ctx(true));
  assert.deepEqual(tolerated.warnings, [fallback({ problem: 'ghostwire.dev/jumpHook: "FORWARD" is invalid; allowed: "OUTPUT" or "PREROUTING"' })]);
});

test('a Rollout with workloadRef: the same warning, taken from the webhook\'s own code', () => {
  const rollout: KubeObject = { apiVersion: 'argoproj.io/v1alpha1', kind: 'Rollout', metadata: { name: 'pay', namespace: 'shop', annotations: { 'ghostwire.dev/enabled': 'true' } }, spec: { workloadRef: { kind: 'Deployment', name: 'pay' } } };
  assert.deepEqual(mutate(requestFor(rollout, 'shop'), ctx()).warnings, [workloadRefSkipped({ kind: 'Deployment', name: 'pay' })]);
});

test('a template becomes CEL: constants quoted, variables in place, in order', () => {
  assert.equal(celMessage(hostNetworkSkipped, { what: 'variables.what' }), '"ghostwire does not inject pods with hostNetwork: true: its rules would apply to the whole node; " + (variables.what) + " runs without traffic switching"');
});

test('hostNetwork turned on for an injected workload: the same removal warning', () => {
  const injected = mutate(requestFor(deployment('shop', { 'ghostwire.dev/enabled': 'true' }), 'shop'), ctx());
  const patched = fastJsonPatch.applyPatch(deployment('shop', { 'ghostwire.dev/enabled': 'true' }), injected.patch as fastJsonPatch.Operation[], true, false).newDocument as any;
  patched.spec.template.spec.hostNetwork = true;
  const out = mutate(requestFor(patched, 'shop'), ctx());
  assert.equal(out.result, 'removed');
  assert.deepEqual(out.warnings, [hostNetworkRemoved({ what: 'Deployment shop/web' })]);
});
