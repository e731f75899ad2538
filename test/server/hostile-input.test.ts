// Hostile AdmissionReviews over real HTTPS: no input gives an HTTP 500, every problem names its field, the answer
// stays small whatever the request's size, and no log line carries more than a clipped piece of caller input.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { buildApp, type WebhookApp } from '../../src/server/app.js';
import { createWebhookMetrics } from '../../src/server/metrics.js';
import { builtinDefaults } from '../../src/config/index.js';
import { createMutationMemo } from '../../src/admission/memo.js';
import { VERSION } from '../../src/version.js';
import { LogCapture } from '../helpers/log-capture.js';
import { httpsRequest, reviewFor, testCerts } from '../helpers/https.js';
import { deepReview, hostileObjects } from '../helpers/hostile-objects.js';

const logs = new LogCapture();
let web: WebhookApp;
let port: number;

before(async () => {
  const certs = testCerts();
  const ctx = { defaults: builtinDefaults(), version: VERSION, tunnelKey: 'hostile-test-key-0123456789', memo: createMutationMemo() };
  web = buildApp({ logger: logs.logger('test', 'info'), metrics: createWebhookMetrics(false), context: () => ctx, tls: { key: certs.keyPem, cert: certs.certPem } });
  await web.app.listen({ port: 0, host: '127.0.0.1' });
  port = (web.app.server.address() as { port: number }).port;
});
after(async () => {
  await web.app.close();
});

const post = (body: string) => httpsRequest(port, 'POST', '/mutate', { body });
const review = (request: Record<string, unknown>) => JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request });
const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'shop', annotations: { 'ghostwire.dev/enabled': 'true' } }, spec: { containers: [{ name: 'c', image: 'c' }] } };
const base = { uid: 'u-1', kind: { group: '', version: 'v1', kind: 'Pod' }, namespace: 'shop', operation: 'CREATE', object: pod };

test('envelope fields of the wrong type or size: HTTP 400 naming the field, a short body, never 500', async () => {
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ['request.name with a toString trap (was HTTP 500)', { ...base, name: JSON.parse('{"toString":1}') }, /request\.name: an object is invalid/],
    ['a 6 MB request.uid', { ...base, uid: 'u'.repeat(6_000_000) }, /request\.uid: a string of 6000000 characters is invalid; allowed: a non-empty string of at most 128 printable ASCII/],
    ['a uid of 129 characters', { ...base, uid: 'u'.repeat(129) }, /request\.uid: a string of 129 characters is invalid/],
    ['a uid with a newline', { ...base, uid: 'abc\ndef' }, /request\.uid: "abc\\ndef" is invalid/],
    ['a uid that is a number', { ...base, uid: 7 }, /request\.uid: expected .*, got a number/],
    ['an empty uid', { ...base, uid: '' }, /request\.uid: "" is invalid/],
    ['request.kind.kind of 1 MB', { ...base, kind: { group: '', version: 'v1', kind: 'K'.repeat(1_000_000) } }, /request\.kind\.kind: "K{77}\.\.\." is invalid/],
    ['request.kind.group is an object', { ...base, kind: { group: {}, version: 'v1', kind: 'Pod' } }, /request\.kind\.group: an object is invalid/],
    ['a 1 MB operation', { ...base, operation: 'C'.repeat(1_000_000) }, /request\.operation: "C{77}\.\.\." is not one of/],
    ['request.namespace is an object', { ...base, namespace: { a: 1 } }, /request\.namespace: an object is invalid/],
    ['request.namespace of 100 KB', { ...base, namespace: 'n'.repeat(100_000) }, /request\.namespace: "n{77}\.\.\." is invalid/],
    ['request.name of 300 characters', { ...base, name: 'n'.repeat(300) }, /request\.name: "n{77}\.\.\." is invalid/],
    ['request.dryRun is a string', { ...base, dryRun: 'yes' }, /request\.dryRun: expected a boolean, got a string/],
    ['request.object is an array', { ...base, object: [] }, /request\.object: expected an object or null, got an array/],
  ];
  for (const [name, request, field] of cases) {
    const res = await post(review(request));
    assert.equal(res.status, 400, `${name}: ${res.status} ${res.body.slice(0, 300)}`);
    assert.ok(res.body.length < 1024, `${name}: a ${res.body.length}-byte answer`);
    assert.match(res.json().error, field, name);
  }
  const kind = await post(JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'k'.repeat(2_000_000), request: base }));
  assert.equal(kind.status, 400);
  assert.ok(kind.body.length < 1024);
  const syntax = await post(`{"kind":"AdmissionReview","x":"${'y'.repeat(3_000_000)}`);
  assert.equal(syntax.status, 400);
  assert.ok(syntax.body.length < 1024, `a JSON syntax error answers ${syntax.body.length} bytes`);
});

test('object content of the wrong type: a denial (code 400) naming the field, for every class', async () => {
  for (const h of hostileObjects()) {
    const res = await post(reviewFor(h.object, { uid: 'hostile', name: 'web', namespace: 'shop' }));
    assert.equal(res.status, 200, `${h.name}: ${res.body.slice(0, 300)}`);
    const r = res.json().response;
    assert.equal(r.uid, 'hostile');
    assert.equal(r.allowed, false, h.name);
    assert.equal(r.status.code, 400, h.name);
    assert.match(r.status.message, h.field, h.name);
    assert.equal(r.auditAnnotations['skip-reason'], 'invalid-object');
  }
});

test('110,000 unknown ghostwire.dev/ annotations (2.9 MB): a small denial; 10,000 of them within 256 KiB: one warning', async () => {
  const many = (n: number) => {
    const annotations: Record<string, string> = { 'ghostwire.dev/enabled': 'true' };
    for (let i = 0; i < n; i++) annotations[`ghostwire.dev/a${i}`] = 'x';
    return { ...pod, metadata: { ...pod.metadata, annotations } };
  };
  const huge = await post(review({ ...base, object: many(110_000) }));
  assert.equal(huge.status, 200);
  assert.ok(huge.body.length < 2048, `${huge.body.length} bytes (main answered 44 MB)`);
  assert.match(huge.json().response.status.message, /metadata\.annotations: \d+ characters exceed the 256 KiB/);
  const res = await post(review({ ...base, object: many(10_000) }));
  const r = res.json().response;
  assert.equal(r.allowed, true);
  assert.equal(r.warnings.length, 1);
  assert.match(r.warnings[0], /10000 unknown annotations ghostwire\.dev\/a0, .* and 9995 more ignored/);
  assert.ok(res.body.length < 16 * 1024, `${res.body.length} bytes`);
});

test('a container nested 100,000 levels deep: denied naming it, no stack overflow, no 500', async () => {
  const res = await post(deepReview(100_000));
  assert.equal(res.status, 200);
  assert.match(res.json().response.status.message, /nested deeper than 64 levels/);
});

test('log lines hold clipped caller input only (names, kinds, errors)', async () => {
  logs.lines.length = 0;
  await post(review({ ...base, name: 'n'.repeat(250), object: { ...pod, metadata: { ...pod.metadata, name: 'm'.repeat(250) } } }));
  await post(review({ ...base, uid: 'u'.repeat(3_000_000) }));
  await post(review({ ...base, kind: { group: '', version: 'v1', kind: 'K'.repeat(500_000) } }));
  assert.ok(logs.lines.length > 0);
  for (const line of logs.lines) assert.ok(JSON.stringify(line).length < 2048, `a log line of ${JSON.stringify(line).length} bytes: ${JSON.stringify(line).slice(0, 200)}`);
});
