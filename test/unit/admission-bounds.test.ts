// Bounded cost of one admission, against mutate() itself: hostile shapes are denied naming the field (never a
// throw), and whatever the input, warnings, the denial message and Event messages stay small.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VERSION } from '../../src/version.js';
import { type MutateContext, mutate } from '../../src/admission/mutate.js';
import { LIMITS, boundWarnings, clipBytes, joinWithin } from '../../src/admission/limits.js';
import type { KubeObject } from '../../src/kube/objects.js';
import { OPTION_LIST, builtinDefaults, clipText, parseDefaults } from '../../src/config/index.js';
import { requestFor } from '../../src/offline/inject-documents.js';
import { deepReview, hostileObjects } from '../helpers/hostile-objects.js';
import { parseAdmissionReview } from '../../src/admission/review.js';

const ctx: MutateContext = { defaults: builtinDefaults(), version: VERSION, tunnelKey: 'unit-test-key-0123456789' };
const bytes = (s: string) => Buffer.byteLength(s);

function pod(annotations: Record<string, string>, name = 'p'): KubeObject {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'shop', annotations: { 'ghostwire.dev/enabled': 'true', ...annotations } }, spec: { containers: [{ name: 'c', image: 'c' }] } };
}

test('every hostile shape is denied with code 400 naming the field; mutate() never throws', () => {
  for (const h of hostileObjects()) {
    const out = mutate(requestFor(h.object, 'shop'), ctx);
    assert.equal(out.allowed, false, h.name);
    assert.equal(out.reason, 'invalid-object', `${h.name}: ${out.denial?.message}`);
    assert.equal(out.denial?.code, 400);
    assert.match(out.denial?.message ?? '', h.field, h.name);
    assert.ok(bytes(out.denial?.message ?? '') <= 1024, `${h.name}: the message is short`);
    assert.deepEqual(out.auditAnnotations, { injected: 'false', 'skip-reason': 'invalid-object' });
  }
});

test('a container nested 100,000 levels deep is denied without recursion', () => {
  const out = mutate(parseAdmissionReview(JSON.parse(deepReview(100_000))), ctx);
  assert.equal(out.reason, 'invalid-object');
  assert.match(out.denial?.message ?? '', /spec\.containers\[0\]: nested deeper than 64 levels/);
});

test('a Rollout whose workloadRef holds objects and megabytes is skipped with a short warning', () => {
  const rollout = {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Rollout',
    metadata: { name: 'r', namespace: 'shop', annotations: { 'ghostwire.dev/enabled': 'true' } },
    spec: { workloadRef: { kind: JSON.parse('{"toString":1}'), name: 'w'.repeat(1_000_000) } },
  } as KubeObject;
  const out = mutate(requestFor(rollout, 'shop'), ctx);
  assert.equal(out.reason, 'workload-ref');
  assert.match(out.warnings[0] as string, /workloadRef \(\(an object\) w+\.\.\.\)/);
  assert.ok(bytes(out.warnings[0] as string) <= LIMITS.warningBytes);
  assert.ok(bytes(out.event?.message ?? '') <= LIMITS.eventBytes);
});

test('10,000 unknown ghostwire.dev/ keys give one warning naming five of them and the count', () => {
  const annotations: Record<string, string> = {};
  for (let i = 0; i < 10_000; i++) annotations[`ghostwire.dev/a${i}`] = 'x';
  const out = mutate(requestFor(pod(annotations), 'shop'), ctx);
  assert.equal(out.result, 'injected');
  assert.equal(out.warnings.length, 1);
  assert.match(out.warnings[0] as string, /^ghostwire: 10000 unknown annotations ghostwire\.dev\/a0, ghostwire\.dev\/a1, ghostwire\.dev\/a2, ghostwire\.dev\/a3, ghostwire\.dev\/a4 and 9995 more ignored \(known: /);
  // The same key on the object and on the template is one unknown key, not two.
  const dep = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd', annotations: { 'ghostwire.dev/enabled': 'true', 'ghostwire.dev/typo': '1' } }, spec: { template: { metadata: { annotations: { 'ghostwire.dev/typo': '2' } }, spec: { containers: [{ name: 'c' }] } } } } as KubeObject;
  assert.match(mutate(requestFor(dep, 'shop'), ctx).warnings[0] as string, /^ghostwire: unknown annotation ghostwire\.dev\/typo ignored/);
});

test('warn mode with every option invalid on both layers: at most 16 warnings, 512 bytes each, 4 KiB in all, then "and N more"', () => {
  const warn = parseDefaults('invalidAnnotations: warn\n', 'test').defaults;
  const bad: Record<string, string> = {};
  for (const o of OPTION_LIST) bad[`ghostwire.dev/${o.key}`] = `\u00e9${'!'.repeat(2000)}`;
  const dep = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd', annotations: { 'ghostwire.dev/enabled': 'true', ...bad } }, spec: { template: { metadata: { annotations: bad }, spec: { containers: [{ name: 'c' }] } } } } as KubeObject;
  const out = mutate(requestFor(dep, 'shop'), { ...ctx, defaults: warn });
  assert.ok(out.warnings.length <= LIMITS.warnings && out.warnings.length > 1, String(out.warnings.length));
  assert.ok(out.warnings.every((w) => bytes(w) <= LIMITS.warningBytes));
  assert.ok(out.warnings.reduce((n, w) => n + bytes(w), 0) <= LIMITS.warningsBytes);
  assert.match(out.warnings.at(-1) as string, /^ghostwire: and \d+ more warnings$/);
  // deny mode: the message names as many problems as fit in 4 KiB, then counts the rest.
  const denied = mutate(requestFor(dep, 'shop'), ctx);
  assert.equal(denied.allowed, false);
  const message = denied.denial?.message ?? '';
  assert.ok(bytes(message) <= LIMITS.denialBytes, String(bytes(message)));
  assert.match(message, /^ghostwire: invalid configuration for Deployment shop\/d: ghostwire\.dev\/\w+: "\u00e9!+\.\.\." is invalid/);
  assert.match(message, /; and \d+ more problems$/);
});

test('a 200 KB excludeCidrs value is quoted clipped in the denial', () => {
  const value = Array.from({ length: 15_000 }, (_, i) => `10.0.${i % 250}.0/24`).join(',') + ',not-a-cidr';
  const out = mutate(requestFor(pod({ 'ghostwire.dev/excludeCidrs': value }), 'shop'), ctx);
  assert.equal(out.allowed, false);
  assert.ok(bytes(out.denial?.message ?? '') < 1024, String(out.denial?.message.length));
  assert.match(out.denial?.message ?? '', /ghostwire\.dev\/excludeCidrs: "10\.0\.0\.0\/24,10\.0\.1\.0\/24,.{20,60}\.\.\." is invalid; allowed: .*\("not-a-cidr" is not one\)/);
});

test('names from the request are clipped and escaped in every message', () => {
  const name = `${'n'.repeat(200)}\nfake-line`;
  const out = mutate({ uid: 'u', kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE', namespace: 'kube-system', object: pod({}, name) }, ctx);
  assert.equal(out.reason, 'system-namespace');
  const w = out.warnings[0] as string;
  assert.ok(!w.includes('\n'), 'no raw newline in a warning');
  assert.match(w, /\\u000afake-line/);
  assert.equal(clipText('x'.repeat(300), 20), `${'x'.repeat(17)}...`);
  assert.equal(clipText(JSON.parse('{"toString":1}')), '(an object)');
  assert.equal(clipText(undefined), '(nothing)');
});

test('clipBytes and joinWithin count UTF-8 bytes and never split a character', () => {
  assert.equal(clipBytes('abc', 3), 'abc');
  assert.equal(clipBytes('abcdef', 5), 'ab...');
  const cut = clipBytes('\u00e9'.repeat(10) + '\u{1F600}'.repeat(10), 30);
  assert.ok(bytes(cut) <= 30 && cut.endsWith('...') && !/[\uD800-\uDBFF]\.\.\.$/.test(cut), cut);
  assert.equal(joinWithin(['a', 'b', 'c'], '; ', 100, (n) => `and ${n} more`), 'a; b; c');
  const joined = joinWithin(Array.from({ length: 50 }, (_, i) => `problem ${i}`), '; ', 60, (n) => `and ${n} more`);
  assert.ok(bytes(joined) <= 60, joined);
  assert.match(joined, /^problem 0; problem 1; .*; and \d+ more$/);
  const w = boundWarnings(Array.from({ length: 100 }, (_, i) => `w${i} ${'x'.repeat(1000)}`));
  assert.ok(w.length <= LIMITS.warnings);
  assert.ok(w.reduce((n, s) => n + bytes(s), 0) <= LIMITS.warningsBytes);
  assert.match(w.at(-1) as string, /^ghostwire: and \d+ more warnings$/);
  assert.deepEqual(boundWarnings(['a', 'b']), ['a', 'b']);
});
