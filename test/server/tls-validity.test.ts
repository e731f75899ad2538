// Certificates outside their validity period, with real certificates and the compiled `ghostwire serve`: an expired
// or not-yet-valid pair is never hot-loaded (the valid pair keeps serving), every rejection is logged and counted,
// and a replica whose pair is not valid now is not ready and says why.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateCA, generateServing, type KeyPairPem } from '../../src/tls/certs.js';
import { CLI, repoPath } from '../helpers/paths.js';
import { httpsRequest } from '../helpers/https.js';
import { until } from '../helpers/until.js';

const DAY = 86_400_000;
const ca = generateCA('validity-test-ca', 30);
const serving = (days: number, now = new Date()) => generateServing(ca, { commonName: 'ghostwire.gw.svc', dnsNames: ['localhost'], ips: ['127.0.0.1'], days }, now);

interface Served {
  child: ChildProcess;
  port: number;
  output: () => string;
  write: (pair: KeyPairPem) => void;
}

async function serve(dir: string, first: KeyPairPem): Promise<Served> {
  const write = (pair: KeyPairPem) => {
    // Key first, then certificate: the half-written state is rejected as unusable and retried.
    writeFileSync(join(dir, 'tls.key'), pair.keyPem, { mode: 0o600 });
    writeFileSync(join(dir, 'tls.crt'), pair.certPem);
  };
  write(first);
  const args = ['serve', '--port', '0', '--host', '127.0.0.1', '--tls-cert', join(dir, 'tls.crt'), '--tls-key', join(dir, 'tls.key'), '--events', 'off', '--drain-delay', '0', '--tls-reload-interval', '0.1'];
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      output += d.toString();
      const m = /"address":\{[^}]*"port":(\d+)/.exec(output);
      if (m) resolve(Number(m[1]));
    });
    child.on('exit', (code) => reject(new Error(`serve exited ${code}: ${output}`)));
  });
  return { child, port, output: () => output, write };
}

const get = (s: Served, path: string) => httpsRequest(s.port, 'GET', path, { insecure: true });
const metric = async (s: Served, line: RegExp) => (await get(s, '/metrics')).body.split('\n').find((l) => line.test(l));


test('started with an expired pair: not ready with the reason, counted, logged; a valid pair makes it ready; later expired or not-yet-valid pairs are rejected', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gw-validity-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const s = await serve(dir, serving(1, new Date(Date.now() - 10 * DAY)));
  t.after(() => s.child.kill('SIGKILL'));
  const ready = await get(s, '/readyz');
  assert.equal(ready.status, 503);
  assert.match(ready.json().reason, /^serving certificate expired \(valid .* to .*\)$/);
  assert.match(s.output(), /"level":"warn".*"reason":"expired".*"msg":"serving certificate is not valid now; not ready until a valid pair is loaded"/);
  assert.equal(await metric(s, /^ghostwire_webhook_certificate_rejections_total\{reason="expired"\}/), 'ghostwire_webhook_certificate_rejections_total{reason="expired"} 1');
  assert.equal(await metric(s, /^ghostwire_webhook_certificate_valid /), 'ghostwire_webhook_certificate_valid 0');

  const good = serving(30);
  s.write(good);
  await until('readiness with a valid pair', async () => (await get(s, '/readyz')).status === 200, (ready) => ready);
  assert.equal(await metric(s, /^ghostwire_webhook_certificate_valid /), 'ghostwire_webhook_certificate_valid 1');
  const goodSerial = (await get(s, '/healthz')).peerSerial;

  for (const [label, pair] of [['not-yet-valid', serving(30, new Date(Date.now() + 10 * DAY))], ['expired', serving(1, new Date(Date.now() - 5 * DAY))]] as const) {
    s.write(pair);
    await until(`the ${label} pair counted`, async () => /^ghostwire_webhook_certificate_rejections_total\{reason="(not-yet-valid|expired)"\} [12]$/m.test((await get(s, '/metrics')).body) && (await metric(s, new RegExp(`reason="${label}"`))) !== undefined, (counted) => counted);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await get(s, '/healthz')).peerSerial, goodSerial, `${label}: the valid pair keeps serving`);
    assert.equal((await get(s, '/readyz')).status, 200, `${label}: still ready`);
  }
  assert.equal(await metric(s, /reason="not-yet-valid"/), 'ghostwire_webhook_certificate_rejections_total{reason="not-yet-valid"} 1');
  assert.equal(await metric(s, /reason="expired"/), 'ghostwire_webhook_certificate_rejections_total{reason="expired"} 2');
  assert.match(s.output(), /"reason":"not-yet-valid".*"msg":"new serving certificate rejected; keeping the current pair"/);
  assert.ok(!s.output().includes('PRIVATE KEY'), 'no key material in logs');
});

test('a pair that expires while in service turns readiness off', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gw-validity-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const s = await serve(dir, serving(8 / 86_400)); // valid for eight more seconds (key generation and start-up take some)
  t.after(() => s.child.kill('SIGKILL'));
  assert.equal((await get(s, '/readyz')).status, 200);
  await until('readiness off after expiry', async () => (await get(s, '/readyz')).status === 503, (unready) => unready, 15_000);
  assert.match((await get(s, '/readyz')).json().reason, /^serving certificate expired/);
  assert.equal(await metric(s, /^ghostwire_webhook_certificate_valid /), 'ghostwire_webhook_certificate_valid 0');
});

test('an ECDSA P-256 pair (as cert-manager issues with privateKey.algorithm: ECDSA) is served, ready, and its expiry exported', async (t) => {
  // A fixed pair made with `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -days 36500`: the
  // certificate code itself makes RSA pairs only, serving reads any key type node:tls accepts.
  const pair: KeyPairPem = { certPem: readFileSync(repoPath('test', 'fixtures', 'tls', 'ecdsa-p256.crt'), 'utf8'), keyPem: readFileSync(repoPath('test', 'fixtures', 'tls', 'ecdsa-p256.key'), 'utf8') };
  const dir = mkdtempSync(join(tmpdir(), 'gw-ecdsa-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const s = await serve(dir, pair);
  t.after(() => s.child.kill('SIGKILL'));
  const ready = await get(s, '/readyz');
  assert.equal(ready.status, 200, ready.body);
  const notAfter = Date.parse('2126-11-06T11:40:32Z') / 1000;
  assert.equal(await metric(s, /^ghostwire_webhook_certificate_expiry_timestamp_seconds /), `ghostwire_webhook_certificate_expiry_timestamp_seconds ${notAfter}`);
  assert.equal(await metric(s, /^ghostwire_webhook_certificate_valid /), 'ghostwire_webhook_certificate_valid 1');
});
