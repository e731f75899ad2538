// Certificate rotation on disk: new handshakes get the new certificate, an open keep-alive connection keeps working.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Server as TlsServer } from 'node:tls';
import { buildApp } from '../../src/server/app.js';
import { createWebhookMetrics } from '../../src/server/metrics.js';
import { loadTlsPair, watchTls } from '../../src/server/tls-reload.js';
import { createLogger } from '../../src/log.js';
import { builtinDefaults } from '../../src/config/index.js';
import { generateCA, generateServing } from '../../src/tls/certs.js';
import { httpsRequest, reviewFor } from '../helpers/https.js';

test('rotating the serving certificate files: admissions keep succeeding, no connection is dropped', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gw-tls-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const ca = generateCA('rotation-test-ca', 30);
  const serving = (days: number) => generateServing(ca, { commonName: 'ghostwire.ghostwire.svc', dnsNames: ['localhost'], ips: ['127.0.0.1'], days });
  const first = serving(30);
  const files = { certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key') };
  writeFileSync(files.certFile, first.certPem);
  writeFileSync(files.keyFile, first.keyPem, { mode: 0o600 });
  const pair = loadTlsPair(files);
  const metrics = createWebhookMetrics(false);
  const { app } = buildApp({
    logger: createLogger('test', 'silent'),
    metrics,
    context: () => ({ defaults: builtinDefaults(), version: 'test', tunnelKey: 'k'.repeat(16) }),
    tls: { key: pair.key, cert: pair.cert },
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  t.after(() => app.close());
  const port = (app.server.address() as { port: number }).port;
  const reloader = watchTls(app.server as unknown as TlsServer, files, createLogger('test', 'silent'), { onLoaded: (p) => metrics.certificateExpiry.set(p.notAfter.getTime() / 1000) }, 60_000);
  t.after(() => reloader.stop());

  const keepAlive = new Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => keepAlive.destroy());
  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'shop', annotations: { 'ghostwire.dev/enabled': 'true' } }, spec: { containers: [{ name: 'c', image: 'c' }] } };
  const admit = async (agent?: Agent) => {
    const res = await httpsRequest(port, 'POST', '/mutate', { body: reviewFor(pod), ca: ca.certPem, ...(agent ? { agent } : {}) });
    assert.equal(res.status, 200);
    assert.equal(res.json().response.allowed, true);
    return res;
  };
  const before = await admit(keepAlive);
  const firstSerial = before.peerSerial;
  assert.ok(firstSerial);

  // Half-written rotation: the new key lands before its certificate. The mismatched pair is rejected and the
  // old one keeps serving.
  const second = serving(60);
  writeFileSync(files.keyFile, second.keyPem);
  assert.equal(reloader.check(), false);
  assert.equal((await admit()).peerSerial, firstSerial);

  writeFileSync(files.certFile, second.certPem);
  assert.equal(reloader.check(), true);
  const fresh = await admit();
  assert.notEqual(fresh.peerSerial, firstSerial, 'a new connection sees the new certificate');
  assert.ok(Math.abs(Number((await metrics.certificateExpiry.get()).values[0]?.value) - (Date.now() / 1000 + 60 * 86400)) < 600);

  // The keep-alive connection opened before the rotation is still the same socket and still answers.
  const reused = await admit(keepAlive);
  assert.equal(reused.peerSerial, firstSerial, 'the established connection was not dropped or renegotiated');
});
