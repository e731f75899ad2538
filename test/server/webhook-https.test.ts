// The Fastify app over real HTTPS: golden cases, malformed input, metrics, events and dry-run, TLS policy.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import fastJsonPatch from 'fast-json-patch';
import { buildApp, type WebhookApp } from '../../src/server/app.js';
import { createWebhookMetrics } from '../../src/server/metrics.js';
import { createLogger } from '../../src/log.js';
import type { MutateContext } from '../../src/admission/mutate.js';
import type { EventIntent } from '../../src/kube/objects.js';
import { renderYaml } from '../../src/offline/manifests.js';
import { assertGolden } from '../helpers/golden.js';
import { httpsRequest, reviewFor, testCerts } from '../helpers/https.js';
import { loadCases } from '../helpers/injector-cases.js';

const silent = createLogger('test', 'silent');

interface Running {
  web: WebhookApp;
  port: number;
  events: EventIntent[];
  metrics: ReturnType<typeof createWebhookMetrics>;
  setContext: (ctx: () => MutateContext) => void;
}

async function start(ctx: () => MutateContext, bodyLimit?: number): Promise<Running> {
  const events: EventIntent[] = [];
  const metrics = createWebhookMetrics(false);
  let current = ctx;
  const certs = testCerts();
  const web = buildApp({
    logger: silent,
    metrics,
    context: () => current(),
    tls: { key: certs.keyPem, cert: certs.certPem },
    recordEvent: (e) => events.push(e),
    ...(bodyLimit ? { bodyLimit } : {}),
  });
  await web.app.listen({ port: 0, host: '127.0.0.1' });
  const port = (web.app.server.address() as { port: number }).port;
  return { web, port, events, metrics, setContext: (c) => (current = c) };
}

const cases = loadCases();
let server: Running;
before(async () => {
  server = await start(() => cases[0]!.ctx);
});
after(async () => {
  await server.web.app.close();
});

test('HTTPS: every golden case, patch applied as the API server would, equals the offline output', async () => {
  for (const c of cases) {
    server.setContext(() => c.ctx);
    const outputs: unknown[] = [];
    for (const doc of c.docs) {
      const body = reviewFor(doc);
      const res = await httpsRequest(server.port, 'POST', '/mutate', { body });
      assert.equal(res.status, 200, `${c.name}: ${res.body}`);
      const review = res.json();
      assert.equal(review.kind, 'AdmissionReview');
      assert.equal(review.response.uid, JSON.parse(body).request.uid, 'uid is echoed');
      let out = doc;
      if (review.response.patch) {
        assert.equal(review.response.patchType, 'JSONPatch');
        const ops = JSON.parse(Buffer.from(review.response.patch, 'base64').toString('utf8'));
        out = fastJsonPatch.applyPatch(doc, ops, true, false).newDocument;
      }
      outputs.push(out);
      // Re-invocation with the patched object: no patch.
      const again = (await httpsRequest(server.port, 'POST', '/mutate', { body: reviewFor(out, { operation: 'UPDATE' }) })).json();
      assert.equal(again.response.patch, undefined, `${c.name}: second pass must not patch`);
    }
    assertGolden(`injector/${c.name}.yaml`, renderYaml(outputs));
  }
});

test('malformed input: 400/413/415/404 with JSON errors, never 500 or a stack trace', async () => {
  const small = await start(() => cases[0]!.ctx, 64 * 1024);
  try {
    const probes: Array<[string, string, { body?: string; contentType?: string }, number]> = [
      ['POST', '/mutate', { body: '{not json' }, 400],
      ['POST', '/mutate', { body: '[]' }, 400],
      ['POST', '/mutate', { body: '{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1"}' }, 400],
      ['POST', '/mutate', { body: '{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1beta1","request":{}}' }, 400],
      ['POST', '/mutate', { body: JSON.stringify({ kind: 'AdmissionReview', apiVersion: 'admission.k8s.io/v1', request: { uid: 'x', kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'PATCH' } }) }, 400],
      ['POST', '/mutate', { body: 'x'.repeat(70 * 1024) }, 413],
      ['POST', '/mutate', { body: 'hello', contentType: 'text/plain' }, 415],
      ['POST', '/mutate', { body: '<a/>', contentType: 'application/xml' }, 415],
      ['GET', '/mutate', {}, 404],
      ['GET', '/nope', {}, 404],
    ];
    for (const [method, path, opts, status] of probes) {
      const res = await httpsRequest(small.port, method, path, opts);
      assert.equal(res.status, status, `${method} ${path} ${opts.body?.slice(0, 40)} -> ${res.status} ${res.body.slice(0, 200)}`);
      assert.match(String(res.headers['content-type']), /application\/json/);
      assert.ok(!/at .*\.js:\d+/.test(res.body), 'no stack trace in the body');
      assert.ok(typeof res.json().error === 'string');
    }
    const review = (await httpsRequest(small.port, 'POST', '/mutate', { body: '{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":"u","kind":{"group":"apps","version":"v1","kind":"Deployment"},"operation":"CREATE"}}' })).json();
    assert.equal(review.response.allowed, true, 'a review without an object is allowed unchanged');
  } finally {
    await small.web.app.close();
  }
});

test('an internal error denies with a pointer to the logs instead of a 500', async () => {
  server.setContext(() => {
    throw new Error('boom');
  });
  try {
    const res = await httpsRequest(server.port, 'POST', '/mutate', { body: reviewFor(cases.find((c) => c.name === 'deployment')!.docs[0]) });
    assert.equal(res.status, 200);
    const r = res.json().response;
    assert.equal(r.allowed, false);
    assert.equal(r.status.code, 500);
    assert.match(r.status.message, /see the ghostwire webhook logs/);
    assert.ok(!r.status.message.includes('boom'));
  } finally {
    server.setContext(() => cases[0]!.ctx);
  }
});

test('Events are recorded for real admissions and never for dry runs; denials carry 400 and the bad key', async () => {
  const dep = cases.find((c) => c.name === 'deployment')!;
  server.setContext(() => dep.ctx);
  server.events.length = 0;
  await httpsRequest(server.port, 'POST', '/mutate', { body: reviewFor(dep.docs[0], { dryRun: true }) });
  assert.equal(server.events.length, 0);
  const res = (await httpsRequest(server.port, 'POST', '/mutate', { body: reviewFor(dep.docs[0]) })).json();
  assert.equal(res.response.auditAnnotations.injected, 'true');
  assert.equal(server.events.length, 1);
  assert.equal(server.events[0]!.reason, 'GhostwireInjected');
  const bad = structuredClone(dep.docs[0]) as any;
  bad.metadata.annotations['ghostwire.dev/ipv6'] = 'sometimes';
  const denied = (await httpsRequest(server.port, 'POST', '/mutate', { body: reviewFor(bad) })).json().response;
  assert.equal(denied.allowed, false);
  assert.equal(denied.status.code, 400);
  assert.match(denied.status.message, /ghostwire\.dev\/ipv6: "sometimes" is invalid/);
});

test('metrics: duration histogram, requests by result and reason, certificate expiry', async () => {
  server.web.app.log.level = 'silent';
  server.metrics.certificateExpiry.set(1234);
  const text = (await httpsRequest(server.port, 'GET', '/metrics')).body;
  assert.match(text, /ghostwire_admission_duration_seconds_bucket\{le="0.005",kind="Deployment",result="injected"\} \d+/);
  assert.match(text, /ghostwire_admission_requests_total\{kind="Deployment",result="denied",reason="invalid-annotations"\} [1-9]/);
  assert.match(text, /ghostwire_admission_requests_total\{kind="Rollout",result="skipped",reason="workload-ref"\} [1-9]/);
  assert.match(text, /ghostwire_webhook_certificate_expiry_timestamp_seconds 1234/);
});

test('health, readiness and drain', async () => {
  assert.equal((await httpsRequest(server.port, 'GET', '/healthz')).status, 200);
  assert.equal((await httpsRequest(server.port, 'GET', '/readyz')).status, 200);
  const other = await start(() => cases[0]!.ctx);
  try {
    other.web.drain();
    const r = await httpsRequest(other.port, 'GET', '/readyz');
    assert.equal(r.status, 503);
    assert.equal(r.json().status, 'draining');
    assert.equal((await httpsRequest(other.port, 'GET', '/healthz')).status, 200);
  } finally {
    await other.web.app.close();
  }
});

test('TLS 1.0/1.1 are refused; 1.2 and 1.3 work; the certificate chains to the generated CA', async () => {
  await assert.rejects(httpsRequest(server.port, 'GET', '/healthz', { minVersion: 'TLSv1', maxVersion: 'TLSv1.1' }));
  assert.equal((await httpsRequest(server.port, 'GET', '/healthz', { maxVersion: 'TLSv1.2' })).status, 200);
  assert.equal((await httpsRequest(server.port, 'GET', '/healthz', { minVersion: 'TLSv1.2' })).status, 200);
  await assert.rejects(httpsRequest(server.port, 'GET', '/healthz', { ca: testCerts().certPem }), /certificate/i);
});
