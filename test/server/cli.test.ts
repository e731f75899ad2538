// The compiled CLI as a user runs it: inject (same goldens as the webhook), certs, serve + SIGTERM.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { assertGolden } from '../helpers/golden.js';
import { loadCases, TEST_TUNNEL_KEY } from '../helpers/injector-cases.js';
import { CLI } from '../helpers/paths.js';
import { request } from 'node:https';
import { httpsRequest, reviewFor } from '../helpers/https.js';

const run = (args: string[], input?: string) => spawnSync(process.execPath, [CLI, ...args], { input, encoding: 'utf8' });

test('ghostwire inject reproduces every golden file', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gw-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const keyFile = join(dir, 'tunnel.key');
  writeFileSync(keyFile, TEST_TUNNEL_KEY);
  for (const c of loadCases()) {
    const args = ['inject', '-f', c.file, '--tunnel-key-file', keyFile, ...(c.defaultsFile ? ['--defaults', c.defaultsFile] : [])];
    const r = run(args);
    assert.equal(r.status, 0, `${c.name}: ${r.stderr}`);
    assertGolden(`injector/${c.name}.yaml`, r.stdout);
  }
});

test('ghostwire inject: stdin, JSON output, --patch, v1 List, and order kept', () => {
  const input = readFileSync(loadCases().find((c) => c.name === 'deployment')!.file, 'utf8');
  const list = JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm' } }, parse(input)] });
  const listOut = run(['inject', '-o', 'json'], list);
  assert.equal(listOut.status, 0, listOut.stderr);
  const parsed = JSON.parse(listOut.stdout);
  assert.equal(parsed.kind, 'List');
  assert.equal(parsed.items[0].kind, 'ConfigMap');
  assert.equal(parsed.items[1].spec.template.spec.containers.filter((c: any) => c.name === 'ghostwire-watcher').length, 1);
  const patch = run(['inject', '--patch', '-o', 'json'], `${input}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: s}\n`);
  assert.equal(patch.status, 0, patch.stderr);
  const ops = JSON.parse(patch.stdout);
  assert.equal(ops[0].object, 'Deployment/orders-web');
  assert.ok(ops[0].patch.some((p: any) => p.path === '/spec/template/spec/initContainers/-'));
  assert.equal(ops[1].reason, 'unsupported-kind');
});

test('ghostwire inject: invalid annotations exit 1 with the webhook message naming kind/name; bad flags exit 2', () => {
  const bad = 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: broken, annotations: {ghostwire.dev/enabled: "true", ghostwire.dev/jumpHook: INPUT}}\nspec: {template: {spec: {containers: [{name: a, image: a}]}}}\n';
  const r = run(['inject'], bad);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /Deployment\/broken: ghostwire: invalid configuration for Deployment default\/broken: ghostwire\.dev\/jumpHook: "INPUT" is invalid; allowed: "OUTPUT" or "PREROUTING"/);
  assert.equal(r.stdout, '');
  assert.equal(run(['inject', '-o', 'xml'], bad).status, 2);
  assert.equal(run(['inject', '--nope'], bad).status, 2);
  const badDefaults = run(['inject', '--defaults', '/nonexistent/file.yaml'], bad);
  assert.equal(badDefaults.status, 2);
  assert.match(badDefaults.stderr, /--defaults: cannot read \/nonexistent\/file\.yaml: ENOENT/);
  assert.equal(run(['frobnicate']).status, 2);
  assert.match(run(['--version']).stdout, /^\d+\.\d+\.\d+\n$/);
});

test('ghostwire certs writes ca.crt, tls.crt, tls.key (0600) with the service SANs and prints the CA bundle', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gw-certs-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const r = run(['certs', '--out', dir, '--service', 'ghostwire', '--namespace', 'gw-system', '--ip', '127.0.0.1', '--dns', 'webhook.example.com', '--days', '10']);
  assert.equal(r.status, 0, r.stderr);
  const ca = readFileSync(join(dir, 'ca.crt'), 'utf8');
  assert.equal(Buffer.from(r.stdout.trim(), 'base64').toString('utf8'), ca);
  assert.equal(statSync(join(dir, 'tls.key')).mode & 0o777, 0o600);
  const cert = new X509Certificate(readFileSync(join(dir, 'tls.crt')));
  for (const san of ['DNS:ghostwire', 'DNS:ghostwire.gw-system', 'DNS:ghostwire.gw-system.svc', 'DNS:ghostwire.gw-system.svc.cluster.local', 'DNS:webhook.example.com', 'IP Address:127.0.0.1']) {
    assert.ok(cert.subjectAltName?.includes(san), `${san} in ${cert.subjectAltName}`);
  }
  assert.ok(cert.verify(new X509Certificate(ca).publicKey));
  const days = (Date.parse(cert.validTo) - Date.now()) / 86_400_000;
  assert.ok(days > 9.9 && days < 10.1, String(days));
  const bad = run(['certs', '--out', dir, '--service', 's', '--namespace', 'n', '--ip', 'not-an-ip']);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--ip: "not-an-ip" is not an IPv4 or IPv6 address/);
});

test('ghostwire serve: answers over HTTPS, SIGTERM turns readiness off, drains and exits 0', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gw-serve-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  assert.equal(run(['certs', '--out', dir, '--service', 'ghostwire', '--namespace', 'gw', '--ip', '127.0.0.1']).status, 0);
  const ca = readFileSync(join(dir, 'ca.crt'), 'utf8');
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--host', '127.0.0.1', '--tls-cert', join(dir, 'tls.crt'), '--tls-key', join(dir, 'tls.key'), '--events', 'off', '--drain-delay', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => child.kill('SIGKILL'));
  let output = '';
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString();
      const m = /"address":\{[^}]*"port":(\d+)/.exec(output);
      if (m) resolve(Number(m[1]));
    });
    child.on('exit', (code) => reject(new Error(`serve exited ${code}: ${output}`)));
  });
  assert.equal((await httpsRequest(port, 'GET', '/readyz', { ca })).status, 200);
  // An admission in flight across the whole shutdown: half its body before SIGTERM, the rest after the drain
  // delay, when the server is already closing. It must still get its answer.
  const body = reviewFor({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'shop', annotations: { 'ghostwire.dev/enabled': 'true' } }, spec: { containers: [{ name: 'c', image: 'c' }] } });
  const inFlight = new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/mutate', ca, agent: false, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.write(body.slice(0, 100));
    setTimeout(() => req.end(body.slice(100)), 1500);
  });
  await new Promise((r) => setTimeout(r, 300));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 300));
  assert.equal((await httpsRequest(port, 'GET', '/readyz', { ca })).status, 503, 'readiness is off while draining');
  const answered = await inFlight;
  assert.equal(answered.status, 200);
  assert.equal(JSON.parse(answered.text).response.allowed, true);
  assert.equal(await exited, 0);
  assert.match(output, /"msg":"stopped"/);
  assert.ok(!output.includes('PRIVATE KEY'), 'no key material in logs');
});
