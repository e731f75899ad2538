// The compiled `ghostwire status` command: flags and usage errors (exit 2, naming the flag and the value), the
// cluster down (exit 1, every failed read named), and a full run against an HTTPS API stand-in holding the golden
// fixture's objects: the webhook found from the cluster, lists paged, the pod proxy read, answers bounded in size
// and time. The real API server runs in test/e2e/status.test.ts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { progressOn } from '../../src/commands/progress.js';
import { buildReport } from '../../src/status/report.js';
import { mapBounded } from '../../src/util/pool.js';
import { CLI } from '../helpers/paths.js';
import { type StatusApiStub, startStatusApiStub } from '../helpers/status-api-stub.js';
import { NOW, clusterFixture } from '../helpers/status-cluster.js';

let dir: string;
let stub: StatusApiStub;
let kubeconfig: string;
let expected: ReturnType<typeof buildReport>;

function status(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, 'status', ...args], { env: { PATH: process.env.PATH, HOME: dir, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gw-status-cmd-'));
  const fixture = await clusterFixture();
  expected = buildReport(fixture.input);
  stub = await startStatusApiStub(fixture.stored);
  kubeconfig = stub.writeKubeconfig(dir);
  // Fresh answers: the watchers' last sync is relative to this run's clock, not the fixture's.
  const shift = (Date.now() - NOW) / 1000;
  for (const [key, probe] of fixture.probes) {
    if (!probe.ok) continue;
    const text = probe.text.replace(/^(ghostwire_last_sync_timestamp_seconds) (\S+)$/m, (_l, n: string, v: string) => `${n} ${Number(v) + shift}`);
    stub.proxy.set(`${key}:8081`, { status: 200, body: text });
  }
  stub.proxy.set('ghostwire/https:ghostwire-6d8f7-abcde:8443', { status: 200, body: `ghostwire_webhook_certificate_expiry_timestamp_seconds ${Date.now() / 1000 + 90 * 86_400}\nghostwire_defaults_valid 1\n` });
});

after(async () => {
  await stub?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('usage errors exit 2 and name the flag, the value (clipped) and what is allowed', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['-n', 'shop', '-A'], /-n\/--namespace and -A\/--all-namespaces are exclusive/],
    [['-o', 'xml'], /--output: "xml" is not allowed; allowed: table, json, yaml/],
    [['--concurrency', '0'], /--concurrency: "0" is not allowed; allowed: a whole number from 1 to 128/],
    [['--timeout', 'soon'], /--timeout: "soon" is not allowed/],
    [['deploy/UPPER'], /name "UPPER" is not a Kubernetes object name/],
    [['svc/x'], /kind "svc" is not one ghostwire injects/],
    [['deploy/a', 'deploy/b'], /unexpected argument\(s\) "deploy\/b"/],
    [['-A', 'deploy/a'], /KIND\/NAME names one object: use -n NS, not -A/],
    [['-n', 'Bad NS\u001b[2J'], /--namespace: "Bad NS\\u001b\[2J" is not allowed; allowed: a namespace name/],
    [['--defaults', join(tmpdir(), 'no-such-defaults.yaml')], /--defaults: cannot read .*ENOENT/],
    [['--defaults', 'x', '--defaults-configmap', 'a/b'], /--defaults and --defaults-configmap are exclusive/],
    [['--defaults-configmap', 'just-a-name'], /--defaults-configmap: "just-a-name" is not allowed; allowed: NAMESPACE\/NAME/],
    [['--tunnel-key-file', join(tmpdir(), 'no-such-key')], /--tunnel-key-file: cannot read the tunnel key file .*ENOENT/],
    [['--webhook-config', 'x'.repeat(300)], /--webhook-config: "x{80}" is not allowed/],
    [['--bogus'], /Unknown option '--bogus'/],
  ];
  for (const [args, re] of cases) {
    const r = await status(['--kubeconfig', kubeconfig, ...args]);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re, args.join(' '));
    assert.equal(r.stdout, '');
  }
  const defaults = join(dir, 'bad-defaults.yaml');
  writeFileSync(defaults, 'jumpHook: FORWARD\n');
  const bad = await status(['--kubeconfig', kubeconfig, '--defaults', defaults]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /jumpHook: "FORWARD" is invalid/);
  const help = await status(['--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /kubectl ghostwire status/);
  assert.match(help.stdout, /Exit codes: 0 all is well; 1 the status is incomplete .*; 2 usage;\n3 something needs attention/);
});

test('the API server down: exit 1, every failed read named, no stack', async () => {
  const port = await new Promise<number>((r) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => r(p));
    });
  });
  const kc = join(dir, 'down.kubeconfig');
  writeFileSync(kc, `apiVersion: v1\nkind: Config\nclusters: [{name: d, cluster: {server: "https://127.0.0.1:${port}", insecure-skip-tls-verify: true}}]\nusers: [{name: d, user: {token: t}}]\ncontexts: [{name: d, context: {cluster: d, user: d}}]\ncurrent-context: d\n`);
  const r = await status(['--kubeconfig', kc, '-o', 'json']);
  assert.equal(r.code, 1, r.stderr);
  const report = JSON.parse(r.stdout);
  assert.ok(report.incomplete.length >= 3);
  for (const line of report.incomplete) assert.match(line, /ECONNREFUSED/);
  assert.ok(report.incomplete.some((l: string) => l.startsWith('list MutatingWebhookConfigurations: ')));
  assert.ok(report.incomplete.some((l: string) => l.startsWith('get namespace default: ')), 'the namespace of the kubeconfig context, else default');
  const table = await status(['--kubeconfig', kc]);
  assert.equal(table.code, 1);
  assert.match(table.stdout, /^INCOMPLETE: could not read \(\d+\)$/m);
  assert.match(table.stdout, /Status incomplete \(exit code 1\)\.$/m);
  const missing = await status([], { KUBECONFIG: join(dir, 'missing-kubeconfig') });
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^ghostwire status: cannot read the kubeconfig .*missing-kubeconfig: ENOENT\n$/);
  const none = await status([]);
  assert.equal(none.code, 1);
  assert.equal(none.stderr, 'ghostwire status: no Kubernetes cluster configured: no --kubeconfig, $KUBECONFIG or ~/.kube/config, and not in a pod\n');
});

test('against the API stand-in: the webhook found from the cluster, every workload judged as the pure report judges it, the pod proxy read', async () => {
  const r = await status(['--kubeconfig', kubeconfig, '-A', '-o', 'json']);
  assert.equal(r.code, 3, r.stderr);
  const report = JSON.parse(r.stdout);
  assert.deepEqual(report.incomplete, []);
  const summary = (rep: any) => rep.workloads.map((w: any) => `${w.kind} ${w.namespace}/${w.name} ${w.state} ${w.reason} ${w.configHash} ${w.expectedHash}`);
  assert.deepEqual(summary(report), summary(expected));
  assert.equal(report.webhook.configuration, 'ghostwire');
  assert.equal(report.webhook.deployment, 'ghostwire/ghostwire');
  assert.equal(report.webhook.defaults.state, 'valid');
  assert.deepEqual(report.webhook.replicaStatus.map((x: any) => [x.pod, x.reachable, x.defaultsValid]), [['ghostwire-6d8f7-abcde', true, true], ['ghostwire-6d8f7-fghij', false, null]]);
  const orders = report.workloads.find((w: any) => w.name === 'orders');
  const ok = orders.pods.find((p: any) => p.name === 'orders-7d9f8c-a1b2c');
  assert.equal(ok.state, 'ok', ok.findings.join('; '));
  assert.equal(ok.watcher.dnatRules, 3);
  assert.match(orders.pods.find((p: any) => p.name === 'orders-7d9f8c-d3e4f').findings[0], /HTTP 503 ServiceUnavailable/);
  // What was asked: pages of 500, the Deployment by the component label, the replica over https, the watchers over http.
  assert.ok(stub.requests.every((q) => !q.includes('/proxy') ? /[?&]limit=500/.test(q) || !q.includes('?') : true));
  assert.ok(stub.requests.some((q) => q.startsWith('/apis/apps/v1/namespaces/ghostwire/deployments?') && q.includes('labelSelector=ghostwire.dev%2Fcomponent%3Dwebhook')));
  assert.ok(stub.requests.includes('/api/v1/namespaces/ghostwire/configmaps/ghostwire-defaults'));
  assert.ok(stub.requests.includes('/api/v1/namespaces/ghostwire/pods/https%3Aghostwire-6d8f7-abcde%3A8443/proxy/metrics'));
  assert.ok(stub.requests.includes('/api/v1/namespaces/shop/pods/orders-7d9f8c-a1b2c%3A8081/proxy/metrics'));
  assert.ok(!stub.requests.some((q) => q.includes('ledger-0') && q.includes('/proxy')), 'a pod that is not running is not read');
  assert.equal(r.stderr, '');
});

test('a named object, the kubeconfig context namespace, --context; a named object that does not exist is incomplete', async () => {
  const one = await status(['--kubeconfig', kubeconfig, 'deploy/cart', '-o', 'json']);
  const report = JSON.parse(one.stdout);
  assert.deepEqual(report.scope, { namespaces: ['shop'], object: 'Deployment/cart' });
  assert.deepEqual(report.workloads.map((w: any) => w.name), ['cart']);
  const other = JSON.parse((await status(['--kubeconfig', kubeconfig, '--context', 'other', '-o', 'json'])).stdout);
  assert.deepEqual(other.scope.namespaces, ['legacy']);
  assert.deepEqual(other.workloads.map((w: any) => w.name), ['billing']);
  const bad = await status(['--kubeconfig', kubeconfig, '--context', 'nope']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /--context: "nope" is not a context of the kubeconfig/);
  const missing = await status(['--kubeconfig', kubeconfig, 'sts/nothing']);
  assert.equal(missing.code, 1);
  assert.match(missing.stdout, /StatefulSet nothing not found in namespace shop/);
});

test('hostile pods: an endless answer is cut at the size bound, a silent one at --timeout, a 503 tried once more; the rest of the report stands', async () => {
  stub.proxy.set('shop/debug:8081', { status: 200, body: `# ${'x'.repeat(5 * 1024 * 1024)}\n` });
  stub.proxy.set('shop/orders-5b6c7d-m4n5b:8081', { status: 200, body: '', delayMs: Infinity });
  const good = stub.proxy.get('shop/orders-7d9f8c-a1b2c:8081') as { status: number; body: string };
  stub.proxy.set('shop/orders-7d9f8c-a1b2c:8081', [{ status: 503, body: '{"kind":"Status","code":503,"reason":"ServiceUnavailable","message":"the pod restarts"}' }, good]);
  const asked = () => stub.requests.filter((q) => q.includes('orders-7d9f8c-a1b2c')).length;
  const before = asked();
  const started = Date.now();
  const r = await status(['--kubeconfig', kubeconfig, '-o', 'json', '--timeout', '1']);
  assert.ok(Date.now() - started < 20_000);
  const report = JSON.parse(r.stdout);
  const pods = report.workloads.flatMap((w: any) => w.pods);
  assert.match(pods.find((p: any) => p.name === 'debug').findings.join(), /the answer exceeds 4194304 bytes/);
  assert.match(pods.find((p: any) => p.name === 'orders-5b6c7d-m4n5b').findings.join(), /no answer within 1000 ms/);
  assert.equal(pods.find((p: any) => p.name === 'orders-7d9f8c-a1b2c').state, 'ok', 'read on the second try');
  assert.equal(asked() - before, 2);
  stub.proxy.set('shop/orders-7d9f8c-a1b2c:8081', { status: 403, body: '{"kind":"Status","code":403,"reason":"Forbidden","message":"pods \\"x\\" is forbidden"}' });
  const forbidden = JSON.parse((await status(['--kubeconfig', kubeconfig, '-o', 'json', 'deploy/orders'])).stdout);
  assert.match(forbidden.workloads[0].pods.find((p: any) => p.name === 'orders-7d9f8c-a1b2c').findings.join(), /HTTP 403 Forbidden/);
  assert.equal(asked() - before, 3, 'a 403 is not tried again');
  stub.proxy.set('shop/orders-7d9f8c-a1b2c:8081', good);
});

test('progress: redrawn in place on a terminal, nothing when not a terminal', () => {
  const writes: string[] = [];
  let t = 0;
  const tty = progressOn({ isTTY: true, write: (s) => writes.push(s) > 0 }, 'ghostwire status', () => t);
  tty.update('1/3');
  t += 50;
  tty.update('2/3');
  t += 100;
  tty.update('3/3');
  tty.done();
  assert.deepEqual(writes, ['\r\u001b[2Kghostwire status: 1/3', '\r\u001b[2Kghostwire status: 3/3', '\r\u001b[2K']);
  const piped: string[] = [];
  const p = progressOn({ isTTY: false, write: (s) => piped.push(s) > 0 }, 'x');
  p.update('1/3');
  p.done();
  assert.deepEqual(piped, []);
});

test('bounded concurrency: never more in flight than the bound, results in input order', async () => {
  let inFlight = 0;
  let most = 0;
  const done: number[] = [];
  const out = await mapBounded(Array.from({ length: 50 }, (_, i) => i), 4, async (i) => {
    inFlight++;
    most = Math.max(most, inFlight);
    await new Promise((r) => setTimeout(r, (i * 7) % 5));
    inFlight--;
    return i * 2;
  }, (n) => done.push(n));
  assert.equal(most, 4);
  assert.deepEqual(out, Array.from({ length: 50 }, (_, i) => i * 2));
  assert.deepEqual(done, Array.from({ length: 50 }, (_, i) => i + 1));
  assert.deepEqual(await mapBounded([], 4, async () => 1), []);
});
