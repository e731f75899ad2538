// The in-flight body budget over real HTTPS: while large AdmissionReviews are being received, one more that would
// exceed the budget is answered 503 (Retry-After) before its body is read and counted; small reviews still pass;
// the budget is released when answers are sent or connections drop.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ClientRequest } from 'node:http';
import { request } from 'node:https';
import { buildApp } from '../../src/server/app.js';
import { createWebhookMetrics } from '../../src/server/metrics.js';
import { createLogger } from '../../src/log.js';
import { builtinDefaults } from '../../src/config/index.js';
import { VERSION } from '../../src/version.js';
import { httpsRequest, reviewFor, testCerts } from '../helpers/https.js';

const KiB = 1024;

/** Starts a POST that declares `length` bytes and sends only the first few: it stays in flight until finished. */
function hold(port: number, length: number): { req: ClientRequest; answer: Promise<{ status: number; body: string }> } {
  let req!: ClientRequest;
  const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
    req = request({ host: '127.0.0.1', port, method: 'POST', path: '/mutate', ca: testCerts().caPem, agent: false, headers: { 'content-type': 'application/json', 'content-length': length } }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.write('{"kind":"AdmissionReview",');
  });
  return { req, answer };
}

test('a review that would exceed the in-flight budget gets 503 before its body is read; small ones pass; the budget is released', { timeout: 30_000 }, async (t) => {
  const certs = testCerts();
  const metrics = createWebhookMetrics(false);
  const { app } = buildApp({
    logger: createLogger('test', 'silent'),
    metrics,
    context: () => ({ defaults: builtinDefaults(), version: VERSION, tunnelKey: 'budget-test-key-0123456789' }),
    tls: { key: certs.keyPem, cert: certs.certPem },
    inFlightBytes: 1024 * KiB,
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  t.after(() => app.close());
  const port = (app.server.address() as { port: number }).port;

  const first = hold(port, 400 * KiB);
  const second = hold(port, 400 * KiB);
  await new Promise((r) => setTimeout(r, 200));
  const third = hold(port, 400 * KiB);
  const refused = await third.answer;
  assert.equal(refused.status, 503);
  assert.match(JSON.parse(refused.body).error, /^busy: 800 KiB of AdmissionReviews are being admitted \(budget 1024 KiB\); retry$/);
  third.req.destroy();

  // An ordinary review fits beside the two held ones.
  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'shop', annotations: { 'ghostwire.dev/enabled': 'true' } }, spec: { containers: [{ name: 'c', image: 'c' }] } };
  assert.equal((await httpsRequest(port, 'POST', '/mutate', { body: reviewFor(pod) })).json().response.allowed, true);

  // One held request finishes (a bad body: 400), the other's client goes away: both release their share.
  first.req.end(`"x":"${'y'.repeat(400 * KiB - 40)}"}`.padEnd(400 * KiB - 26, ' '));
  assert.equal((await first.answer).status, 400);
  second.req.destroy();
  await second.answer.catch(() => undefined);
  await new Promise((r) => setTimeout(r, 200));
  const again = hold(port, 400 * KiB);
  const other = hold(port, 400 * KiB);
  await new Promise((r) => setTimeout(r, 200));
  again.req.destroy();
  other.req.destroy();
  await Promise.allSettled([again.answer, other.answer]);
  const text = (await httpsRequest(port, 'GET', '/metrics')).body;
  assert.match(text, /^ghostwire_admission_busy_total 1$/m, 'only the third request was refused; the budget came back');
});
