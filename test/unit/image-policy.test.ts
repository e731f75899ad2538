// Who may choose the image of ghostwire's uid-0 NET_ADMIN containers: the administrator (the defaults document),
// never a workload author alone. A ghostwire.dev/image annotation is honoured only for the defaults' own image or
// an image the defaults document's allowedImages admits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VERSION } from '../../src/version.js';
import { type MutateContext, mutate } from '../../src/admission/mutate.js';
import type { KubeObject } from '../../src/kube/objects.js';
import { DEFAULTS_DOCUMENT_KEYS, builtinDefaults, imageAllowed, parseDefaults } from '../../src/config/index.js';
import { requestFor } from '../../src/offline/inject-documents.js';

const ctxWith = (doc: string): MutateContext => {
  const parsed = parseDefaults(doc, 'ConfigMap gw/defaults config.yaml');
  assert.deepEqual(parsed.errors, []);
  return { defaults: parsed.defaults, version: VERSION, tunnelKey: 'unit-test-key-0123456789' };
};

function deployment(objectAnn: Record<string, string>, templateAnn: Record<string, string> = {}): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'shop', annotations: { 'ghostwire.dev/enabled': 'true', ...objectAnn } },
    spec: { template: { metadata: { annotations: templateAnn }, spec: { containers: [{ name: 'app', image: 'app:1' }] } } },
  };
}

const injectedImages = (out: ReturnType<typeof mutate>): string[] =>
  out.patch.flatMap((op) => ('value' in op && op.value && typeof op.value === 'object' && 'image' in (op.value as object) ? [(op.value as { image: string }).image] : []));

test('secure by default: an annotation naming any other image than the defaults\' is denied, naming the annotation, the value and what is allowed', () => {
  const ctx: MutateContext = { defaults: builtinDefaults(), version: VERSION, tunnelKey: 'k'.repeat(20) };
  const out = mutate(requestFor(deployment({ 'ghostwire.dev/image': 'evil.example/root-shell:1' }), 'shop'), ctx);
  assert.equal(out.allowed, false);
  assert.equal(out.denial?.code, 400);
  const msg = out.denial?.message ?? '';
  assert.match(msg, /ghostwire\.dev\/image: "evil\.example\/root-shell:1" is invalid/);
  assert.match(msg, new RegExp(`the defaults' image "ghostwire:${VERSION.replace(/\./g, '\\.')}"`));
  assert.match(msg, /allowedImages/);
  // The defaults' own image is always allowed, through an annotation too.
  const same = mutate(requestFor(deployment({ 'ghostwire.dev/image': `ghostwire:${VERSION}` }), 'shop'), ctx);
  assert.equal(same.result, 'injected');
});

test('allowedImages: repositories (any tag or digest) and prefixes ending in "/"; nothing that merely shares a prefix', () => {
  const ctx = ctxWith('image: corp.example/platform/ghostwire:0.1.0\nallowedImages: [corp.example/platform/ghostwire, "mirror.example:5000/team/"]\n');
  const allowed = [
    'corp.example/platform/ghostwire:0.2.0',
    'corp.example/platform/ghostwire@sha256:' + 'a'.repeat(64),
    'corp.example/platform/ghostwire:0.2.0@sha256:' + 'b'.repeat(64),
    'corp.example/platform/ghostwire',
    'mirror.example:5000/team/ghostwire:1',
    'mirror.example:5000/team/sub/ghostwire:1',
  ];
  for (const image of allowed) {
    const out = mutate(requestFor(deployment({ 'ghostwire.dev/image': image }), 'shop'), ctx);
    assert.equal(out.result, 'injected', image);
    assert.deepEqual([...new Set(injectedImages(out))], [image], `${image} is rendered`);
  }
  const refused = [
    'corp.example/platform/ghostwire-evil:1',
    'corp.example/platform/ghostwire/evil:1',
    'corp.example/platform/ghostwirex',
    'corp.example/platform/ghostwire:5000/evil',
    'mirror.example:5000/teamx/ghostwire:1',
    'mirror.example:5000/ghostwire:1',
    'ghostwire:0.1.0',
  ];
  for (const image of refused) {
    const out = mutate(requestFor(deployment({ 'ghostwire.dev/image': image }), 'shop'), ctx);
    assert.equal(out.allowed, false, `${image} must be refused`);
    assert.match(out.denial?.message ?? '', /ghostwire\.dev\/image/);
    assert.match(out.denial?.message ?? '', /corp\.example\/platform\/ghostwire/, 'the message says what is allowed');
  }
  assert.equal(imageAllowed('registry:5000/evil', { image: 'x:1', allowedImages: ['registry'] }), false, 'a Docker Hub name never admits a registry host of the same name');
});

test('the template layer cannot sneak a refused image past an allowed object-level one; warn mode falls back to the defaults\' image', () => {
  const deny = ctxWith('allowedImages: [corp.example/gw]\n');
  const obj = deployment({ 'ghostwire.dev/image': 'corp.example/gw:2' }, { 'ghostwire.dev/image': 'evil.example/gw:2' });
  const out = mutate(requestFor(obj, 'shop'), deny);
  assert.equal(out.allowed, false);
  assert.match(out.denial?.message ?? '', /"evil\.example\/gw:2"/);
  const warn = ctxWith('invalidAnnotations: warn\nallowedImages: [corp.example/gw]\n');
  const w = mutate(requestFor(obj, 'shop'), warn);
  assert.equal(w.result, 'injected');
  assert.deepEqual([...new Set(injectedImages(w))], [`ghostwire:${VERSION}`], 'the administrator\'s image, never the refused one');
  assert.ok(w.warnings.some((m) => /ghostwire\.dev\/image: "evil\.example\/gw:2" is invalid.*using the default instead/.test(m)), w.warnings.join('\n'));
});

test('allowedImages in the defaults document: a list or a comma-separated string; hostile or empty entries reject the document', () => {
  assert.deepEqual(ctxWith('allowedImages: "a.example/x, b.example/"\n').defaults.allowedImages, ['a.example/x', 'b.example/']);
  assert.deepEqual(builtinDefaults().allowedImages, []);
  for (const bad of ['allowedImages: ["a.example/x; rm -rf /"]', 'allowedImages: ["", "a/"]', 'allowedImages: [" /"]', 'allowedImages: {a: b}', `allowedImages: ["${'a'.repeat(600)}"]`]) {
    const r = parseDefaults(bad, 'ConfigMap gw/defaults config.yaml');
    assert.equal(r.errors.length, 1, bad);
    assert.equal(r.errors[0]?.field, 'allowedImages');
    assert.match(r.errors[0]?.allowed ?? '', /image repositories .* or prefixes ending in "\/"/);
    assert.ok((r.errors[0]?.value.length ?? 0) <= 600);
  }
  // Only the administrator can widen the list: there is no ghostwire.dev/allowedImages annotation.
  const out = mutate(requestFor(deployment({ 'ghostwire.dev/allowedImages': 'evil.example/', 'ghostwire.dev/image': 'evil.example/x:1' }), 'shop'), { defaults: builtinDefaults(), version: VERSION, tunnelKey: 'k'.repeat(20) });
  assert.equal(out.allowed, false);
  assert.ok(DEFAULTS_DOCUMENT_KEYS.includes('allowedImages'));
});
