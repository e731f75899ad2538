// `ghostwire status` against a real kube-apiserver, controller-manager and helm-installed chart, with the webhook
// running locally (url mode) and real watchers serving their /metrics through the API server's pod proxy:
//
//   shop (opted in)   orders   injected, pins cpuLimit itself: stays current after the defaults change; its pod's
//                              watcher runs in a network namespace and is read through the pod proxy
//                     cart     injected before the defaults change: rollout needed; its pod's IP is not routed,
//                              so its line says the pod cannot be reached
//                     early    annotated, created before the webhook was installed: not injected, and says so
//   legacy (not)      billing  annotated in a namespace that never opted in: not injected, and says so
//   big               1,000 injected pods read through the pod proxy (the speed figure)
//
// Pod IPs exist only in pod statuses: pod-proxy.ts answers the API server's CONNECTs (egress selector) by joining a
// watcher's unix socket or the local webhook's port; nothing outside the loopback range is dialled.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { CLI, repoPath } from '../helpers/paths.js';
import { createNetns, runtimeSkipReason, type Netns } from '../helpers/netns.js';
import { type ControlPlane, freePort, markPodReady, run, startControlPlane, waitFor } from './harness.js';
import { type PodNetwork, startPodNetwork } from './pod-proxy.js';

const GW_NS = 'ghostwire';
const netnsSkip = runtimeSkipReason();
if (netnsSkip) console.log(`# status e2e: watchers cannot run here (${netnsSkip}); their pods are reported unreachable instead`);

let cp: ControlPlane;
let net: PodNetwork;
let dir: string;
let port: number;
let webhook: ChildProcess | undefined;
let webhookLog = '';
let ns: Netns | undefined;
const watchers: ChildProcess[] = [];
const pods: Record<string, string> = {};
const timings: Record<string, number> = {};

const yaml = (...docs: unknown[]) => docs.map((d) => stringify(d)).join('---\n');
const getJson = async (args: string[]) => JSON.parse((await cp.kubectl([...args, '-o', 'json'])).stdout);

function deployment(name: string, namespace: string, role: string, annotations: Record<string, string> = {}) {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace, annotations: { 'ghostwire.dev/enabled': 'true', ...annotations } },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name, role } }, spec: { containers: [{ name: 'app', image: `${name}:1`, ports: [{ containerPort: 8080 }] }] } },
    },
  };
}

const service = (name: string) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'shop' }, spec: { selector: { app: name }, ports: [{ name: 'http', port: 80, protocol: 'TCP' }] } });

/** Plays kubelet for one pod: Running and Ready with the given IP (the harness's markPodReady). */
const setRunning = (namespace: string, name: string, ip: string): Promise<void> => markPodReady(cp, namespace, name, { podIP: ip });

async function podOf(namespace: string, app: string): Promise<string> {
  return waitFor(`a pod of ${namespace}/${app}`, 30_000, async () => {
    const list = await getJson(['-n', namespace, 'get', 'pods', '-l', `app=${app}`]);
    return list.items[0]?.metadata.name as string | undefined;
  });
}

async function startWebhook(): Promise<void> {
  webhook = spawn(process.execPath, [
    CLI, 'serve', '--port', String(port), '--host', '127.0.0.1', '--tls-cert', join(dir, 'tls.crt'), '--tls-key', join(dir, 'tls.key'),
    '--defaults-configmap', `${GW_NS}/ghostwire-defaults`, '--namespace', GW_NS, '--kubeconfig', cp.kubeconfigPath, '--events', 'off', '--drain-delay', '0',
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  webhook.stdout!.on('data', (d: Buffer) => (webhookLog += d.toString()));
  webhook.stderr!.on('data', (d: Buffer) => (webhookLog += d.toString()));
  await waitFor('webhook listening', 20_000, async () => webhookLog.includes('ghostwire webhook listening'));
  await waitFor('webhook configuration in effect', 30_000, async () => {
    const r = await cp.kubectl(['apply', '--dry-run=server', '-o', 'json', '-f', '-'], { input: yaml(deployment('probe', 'shop', 'active')), allowFail: true });
    return r.code === 0 && JSON.parse(r.stdout).spec.template.spec.containers.some((c: { name: string }) => c.name === 'ghostwire-watcher');
  }, 500);
}

/** A real `ghostwire watch` for a pod, in a network namespace, serving /metrics on a unix socket the pod network routes to. */
async function startWatcher(namespace: string, pod: string, socket: string): Promise<void> {
  if (!ns) return;
  const resolv = join(dir, 'resolv.conf');
  writeFileSync(resolv, 'nameserver 10.96.0.10\n');
  const child = ns.spawn(process.execPath, [CLI, 'watch', '--listen', `unix:${socket}`, '--verify-interval', '500ms', '--resolv-conf', resolv, '--events', 'off'], {
    env: { PATH: process.env.PATH, KUBECONFIG: cp.kubeconfigPath, POD_NAMESPACE: namespace, POD_NAME: pod, GW_IPTABLES_DNAT_MAP: join(dir, `${pod}.map`) },
  });
  watchers.push(child);
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  await waitFor(`watcher of ${pod} healthy (log: ${out.slice(-500)})`, 20_000, async () => (await healthz(socket)) === 200);
}

function healthz(socketPath: string): Promise<number> {
  return new Promise((resolve) => {
    const req = httpGet({ socketPath, path: '/healthz' }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
  });
}

const status = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  run(process.execPath, [CLI, 'status', '--kubeconfig', cp.kubeconfigPath, ...args], { allowFail: true, env: { ...process.env, ...env } });

before(async () => {
  const started = Date.now();
  dir = mkdtempSync(join(tmpdir(), 'gw-e2e-status-'));
  net = await startPodNetwork(join(dir, 'net'));
  cp = await startControlPlane({ apiServerArgs: net.apiServerArgs });
  port = await freePort();
  await cp.kubectl(['create', 'namespace', 'shop']);
  await cp.kubectl(['label', 'namespace', 'shop', 'ghostwire.dev/injection=enabled']);
  await cp.kubectl(['create', 'namespace', 'legacy']);
  // Annotated before ghostwire exists in the cluster.
  await cp.kubectl(['apply', '-f', '-'], { input: yaml(deployment('early', 'shop', 'active')) });
  await new Promise((r) => setTimeout(r, 1100)); // creationTimestamp has one-second resolution
  await cp.helm(['install', 'ghostwire', repoPath('charts', 'ghostwire'), '-n', GW_NS, '--create-namespace', '--set', `webhook.url=https://127.0.0.1:${port}/mutate`, '--set', 'certs.extraIPs={127.0.0.1}']);
  const secret = await getJson(['-n', GW_NS, 'get', 'secret', 'ghostwire-tls']);
  for (const k of ['tls.crt', 'tls.key']) writeFileSync(join(dir, k), Buffer.from(secret.data[k], 'base64'), { mode: 0o600 });
  await startWebhook();
  // The chart's webhook pods "run" at addresses the pod network joins to the local webhook.
  const replicas = await waitFor('two webhook pods', 30_000, async () => {
    const list = await getJson(['-n', GW_NS, 'get', 'pods', '-l', 'app.kubernetes.io/component=webhook']);
    return list.items.length === 2 ? (list.items as Array<{ metadata: { name: string } }>).map((p) => p.metadata.name) : undefined;
  });
  for (const [i, name] of replicas.entries()) {
    net.route(`10.250.0.${i + 2}`, 8443, { host: '127.0.0.1', port });
    await setRunning(GW_NS, name, `10.250.0.${i + 2}`);
  }
  await cp.kubectl(['apply', '-f', '-'], { input: yaml(service('api'), service('api-preview')) });
  await cp.kubectl(['apply', '-f', '-'], {
    input: yaml(deployment('orders', 'shop', 'preview', { 'ghostwire.dev/cpuLimit': '200m' }), deployment('cart', 'shop', 'active'), deployment('billing', 'legacy', 'active')),
  });
  // The defaults change after injection.
  await cp.helm(['upgrade', 'ghostwire', repoPath('charts', 'ghostwire'), '-n', GW_NS, '--reuse-values', '--set', 'defaults.cpuLimit=300m']);
  await waitFor('webhook applied the new defaults', 20_000, async () => (webhookLog.match(/"msg":"defaults applied"/g) ?? []).length >= 2);
  pods.orders = await podOf('shop', 'orders');
  pods.cart = await podOf('shop', 'cart');
  await setRunning('shop', pods.orders, '10.250.1.10');
  await setRunning('shop', pods.cart, '10.250.1.20');
  if (!netnsSkip) {
    ns = await createNetns('gw-e2e-st');
    const apiPort = Number(new URL(cp.server).port);
    await ns.bridge({ host: '127.0.0.1', port: apiPort }, { port: apiPort });
    const socket = join(dir, 'orders-watcher.sock');
    net.route('10.250.1.10', 8081, { path: socket });
    await startWatcher('shop', pods.orders, socket);
  }
  await waitFor('webhook Deployment 2/2 ready', 30_000, async () => (await getJson(['-n', GW_NS, 'get', 'deployment', 'ghostwire'])).status?.readyReplicas === 2);
  timings.setupMs = Date.now() - started;
});

after(async () => {
  for (const w of watchers) w.kill('SIGKILL');
  await ns?.destroy();
  webhook?.kill('SIGKILL');
  await cp?.stop();
  await net?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const byName = (report: any, name: string) => report.workloads.find((w: any) => w.name === name);

test('JSON: the injected workload is current with its pod routing read through the pod proxy, the one injected before the defaults change needs a rollout, the one created before the webhook says why; exit code 3', { timeout: 60_000 }, async (t) => {
  const r = await status(['-n', 'shop', '-o', 'json']);
  assert.equal(r.code, 3, r.stderr);
  assert.equal(r.stderr, '', 'nothing on stderr when it is not a terminal (no progress indicator)');
  const report = JSON.parse(r.stdout);
  t.diagnostic(`attention: ${JSON.stringify(report.attention, null, 1)}`);
  assert.equal(report.format, 'ghostwire.dev/status/v1');
  assert.deepEqual(report.incomplete, []);

  const webhookStatus = report.webhook;
  assert.equal(webhookStatus.configuration, 'ghostwire');
  assert.equal(webhookStatus.deployment, 'ghostwire/ghostwire');
  assert.deepEqual(webhookStatus.replicas, { desired: 2, ready: 2, available: 2, updated: 2 });
  assert.equal(webhookStatus.defaults.state, 'valid');
  assert.equal(webhookStatus.defaults.source, 'ConfigMap ghostwire/ghostwire-defaults');
  assert.equal(webhookStatus.replicaStatus.length, 2);
  for (const rep of webhookStatus.replicaStatus) {
    assert.equal(rep.reachable, true, `webhook replica ${rep.pod} read through the pod proxy: ${rep.error}`);
    assert.equal(rep.defaultsValid, true);
    assert.ok(Date.parse(rep.certificateNotAfter) > Date.now() + 300 * 86_400_000, 'the helm-generated certificate is valid for a year');
  }
  assert.ok(Date.parse(webhookStatus.caNotAfter) > Date.now());
  assert.deepEqual(webhookStatus.findings, []);

  const orders = byName(report, 'orders');
  assert.equal(orders.state, 'current');
  assert.equal(orders.injected, true);
  assert.equal(orders.sidecarMode, 'container');
  assert.equal(orders.configHash, orders.expectedHash);
  const template = await getJson(['-n', 'shop', 'get', 'deployment', 'orders']);
  assert.equal(orders.configHash, JSON.parse(template.spec.template.metadata.annotations['ghostwire.dev/status']).configHash, 'the hash its template runs');
  const ordersPod = orders.pods[0];
  assert.equal(ordersPod.name, pods.orders);
  assert.equal(ordersPod.role, 'preview');
  if (netnsSkip) {
    assert.equal(ordersPod.state, 'unreachable');
  } else {
    assert.equal(ordersPod.state, 'ok', ordersPod.findings.join('; '));
    assert.equal(ordersPod.watcher.jump, 'preview', 'the real watcher installed the jump for role=preview');
    assert.equal(ordersPod.watcher.dnatRules, 1, 'api -> api-preview, one port');
    assert.ok(ordersPod.watcher.lastSyncAgeSeconds !== null && ordersPod.watcher.lastSyncAgeSeconds < 30);
    assert.equal(ordersPod.watcher.podWatchUp, true);
  }

  const cart = byName(report, 'cart');
  assert.equal(cart.state, 'rollout-needed');
  assert.equal(cart.reason, 'config-changed');
  assert.notEqual(cart.configHash, cart.expectedHash);
  assert.match(cart.message, /kubectl -n shop rollout restart deployment\/cart/);
  const cartPod = cart.pods[0];
  assert.equal(cartPod.state, 'unreachable');
  assert.match(cartPod.findings.join('\n'), /watcher metrics not readable through the pod proxy: HTTP 5\d\d/);

  const early = byName(report, 'early');
  assert.equal(early.state, 'not-injected');
  assert.equal(early.reason, 'created-before-webhook');
  assert.equal(early.injected, false);
  assert.equal(early.enabled, true);
  assert.match(early.expectedHash, /^[0-9a-f]{16}$/);

  assert.ok(report.attention.some((a: string) => a.startsWith('Deployment shop/cart: runs config')));
  assert.ok(report.attention.some((a: string) => a.startsWith('Deployment shop/early: created')));
  assert.ok(report.attention.some((a: string) => a.startsWith(`Pod shop/${pods.cart} (Deployment cart): watcher metrics not readable`)));
  assert.equal(byName(report, 'probe'), undefined, 'a dry run stored nothing');
});

test('table: the same facts, one row per workload and pod, and the attention list', { timeout: 60_000 }, async (t) => {
  const r = await status(['-n', 'shop']);
  assert.equal(r.code, 3, r.stderr);
  t.diagnostic(`\n${r.stdout}`);
  const lines = r.stdout.split('\n');
  const row = (re: RegExp) => lines.find((l) => re.test(l));
  assert.match(row(/^shop\s+Deployment\s+orders\s/) ?? '', /yes\s+yes\s+container\s+[0-9a-f]{16}\s+current$/);
  assert.match(row(/^shop\s+Deployment\s+cart\s/) ?? '', /yes\s+yes\s+container\s+[0-9a-f]{16} -> [0-9a-f]{16}\s+rollout-needed$/);
  assert.match(row(/^shop\s+Deployment\s+early\s/) ?? '', /yes\s+no\s+-\s+\(would be [0-9a-f]{16}\)\s+not-injected \(created-before-webhook\)$/);
  assert.match(row(new RegExp(`^shop\\s+${pods.cart}\\s`)) ?? '', /Deployment\/cart\s+active\s+-\s+-\s+-\s+-\s+unreachable$/);
  if (!netnsSkip) assert.match(row(new RegExp(`^shop\\s+${pods.orders}\\s`)) ?? '', /Deployment\/orders\s+preview\s+preview\s+1\s+\d+s\s+0\s+ok$/);
  assert.match(r.stdout, /^NEEDS ATTENTION \(\d+\)$/m);
  assert.match(r.stdout, /^  deployment\s+ghostwire\/ghostwire: 2\/2 ready$/m);
});

test('a namespace that never opted in: the annotated workload is not injected, and the reason names the missing label', { timeout: 60_000 }, async () => {
  const r = await status(['-n', 'legacy', '-o', 'json']);
  assert.equal(r.code, 3, r.stderr);
  const billing = byName(JSON.parse(r.stdout), 'billing');
  assert.equal(billing.state, 'not-injected');
  assert.equal(billing.reason, 'namespace-not-opted-in');
  assert.match(billing.message, /namespace legacy is not opted in: label ghostwire\.dev\/injection=enabled is missing/);
  const table = await status(['-n', 'legacy']);
  assert.match(table.stdout, /^legacy\s+Deployment\s+billing\s+yes\s+no\s.*not-injected \(namespace-not-opted-in\)$/m);
});

test('kubectl ghostwire status: the plugin on PATH, one object, all well: exit code 0', { timeout: 60_000 }, async () => {
  const bin = join(dir, 'bin');
  mkdirSync(bin, { recursive: true });
  // What npm links from package.json "bin" (the image-contents test checks the packed package has it).
  const plugin = join(bin, 'kubectl-ghostwire');
  writeFileSync(plugin, `#!/bin/sh\nexec "${process.execPath}" "${CLI}" "$@"\n`);
  chmodSync(plugin, 0o755);
  const pkg = JSON.parse(readFileSync(repoPath('package.json'), 'utf8'));
  assert.equal(pkg.bin['kubectl-ghostwire'], pkg.bin.ghostwire, 'the npm package installs kubectl-ghostwire');
  const env = { ...process.env, PATH: `${bin}:${process.env.PATH}`, KUBECONFIG: cp.kubeconfigPath };
  const list = await run(cp.tools.KUBECTL, ['plugin', 'list'], { env, allowFail: true });
  assert.match(list.stdout, /kubectl-ghostwire/);
  const r = await run(cp.tools.KUBECTL, ['ghostwire', 'status', '-n', 'shop', 'deploy/orders'], { env, allowFail: true });
  if (netnsSkip) {
    assert.equal(r.code, 3, 'the watcher cannot run here, so its pod is unreachable');
    return;
  }
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^All is well\.$/m);
  const missing = await run(cp.tools.KUBECTL, ['ghostwire', 'status', '-n', 'shop', 'deploy/nothing-here'], { env, allowFail: true });
  assert.equal(missing.code, 1, 'a named object that does not exist: incomplete');
  assert.match(missing.stdout, /Deployment nothing-here not found in namespace shop/);
  const usage = await run(cp.tools.KUBECTL, ['ghostwire', 'status', '-A', 'deploy/orders'], { env, allowFail: true });
  assert.equal(usage.code, 2);
});

test('with only the permissions docs/operations.md lists: the same report; without pods/proxy the pods read as forbidden', { timeout: 90_000 }, async () => {
  const doc = readFileSync(repoPath('docs', 'operations.md'), 'utf8');
  const block = /### Permissions[\s\S]*?```yaml\n([\s\S]*?)```/.exec(doc)?.[1];
  assert.ok(block, 'docs/operations.md has the RBAC block');
  await cp.kubectl(['apply', '-f', '-'], { input: block });
  await cp.kubectl(['create', 'serviceaccount', 'operator', '-n', 'default']);
  await cp.kubectl(['create', 'clusterrolebinding', 'ghostwire-status', '--clusterrole=ghostwire-status', '--serviceaccount=default:operator']);
  await cp.kubectl(['create', 'rolebinding', 'ghostwire-status', '-n', GW_NS, '--role=ghostwire-status', '--serviceaccount=default:operator']);
  const token = (await cp.kubectl(['-n', 'default', 'create', 'token', 'operator', '--duration=1h'])).stdout.trim();
  writeFileSync(join(dir, 'api-ca.crt'), cp.caPem);
  const kubeconfig = join(dir, 'operator.kubeconfig');
  writeFileSync(kubeconfig, yaml({
    apiVersion: 'v1', kind: 'Config',
    clusters: [{ name: 'e2e', cluster: { server: cp.server, 'certificate-authority': join(dir, 'api-ca.crt') } }],
    users: [{ name: 'operator', user: { token } }],
    contexts: [{ name: 'operator', context: { cluster: 'e2e', user: 'operator', namespace: 'shop' } }],
    'current-context': 'operator',
  }), { mode: 0o600 });
  const as = 'system:serviceaccount:default:operator';
  await waitFor('the bindings in effect', 20_000, async () => (await cp.kubectl(['auth', 'can-i', 'get', 'pods', '--subresource=proxy', '-n', 'shop', `--as=${as}`], { allowFail: true })).stdout.trim() === 'yes');
  assert.equal((await cp.kubectl(['auth', 'can-i', 'list', 'secrets', '-n', GW_NS, `--as=${as}`], { allowFail: true })).stdout.trim(), 'no');
  const admin = JSON.parse((await status(['-n', 'shop', '-o', 'json'])).stdout);
  const run1 = await run(process.execPath, [CLI, 'status', '-o', 'json'], { allowFail: true, env: { ...process.env, KUBECONFIG: kubeconfig } });
  const operator = JSON.parse(run1.stdout);
  assert.equal(run1.code, 3, run1.stderr);
  assert.deepEqual(operator.incomplete, []);
  const states = (r: any) => r.workloads.map((w: any) => `${w.name} ${w.state} ${w.reason} ${w.pods.map((p: any) => p.state).join(',')}`);
  assert.deepEqual(states(operator), states(admin));
  assert.deepEqual(operator.webhook.findings, admin.webhook.findings);
  // Without pods/proxy: every read through the proxy is refused, and the report says so per pod.
  const role = await getJson(['get', 'clusterrole', 'ghostwire-status']);
  role.rules = role.rules.filter((r: any) => !r.resources.includes('pods/proxy'));
  await cp.kubectl(['replace', '-f', '-'], { input: JSON.stringify(role) });
  await waitFor('pods/proxy revoked', 20_000, async () => (await cp.kubectl(['auth', 'can-i', 'get', 'pods', '--subresource=proxy', '-n', 'shop', `--as=${as}`], { allowFail: true })).stdout.trim() === 'no');
  const run2 = await run(process.execPath, [CLI, 'status', '-o', 'json', 'deploy/orders'], { allowFail: true, env: { ...process.env, KUBECONFIG: kubeconfig } });
  assert.equal(run2.code, 3);
  const pod = JSON.parse(run2.stdout).workloads[0].pods[0];
  assert.equal(pod.state, 'unreachable');
  assert.match(pod.findings[0], /HTTP 403 Forbidden: pods "orders-[a-z0-9-]+:8081" is forbidden: User "system:serviceaccount:default:operator" cannot get resource "pods\/proxy"/);
});

test('the shadow controller exports ghostwire_workload_config_stale from its informers: the stale workload 1, the current one 0, the uninjected ones absent', { timeout: 60_000 }, async (t) => {
  const metricsPort = await freePort();
  const child = spawn(process.execPath, [CLI, 'shadow', 'run', '--kubeconfig', cp.kubeconfigPath, '--defaults-configmap', `${GW_NS}/ghostwire-defaults`, '--allow-dev-key', '--metrics-listen', `127.0.0.1:${metricsPort}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  t.after(() => void child.kill('SIGKILL'));
  const series = await waitFor(`stale series (log: ${log.slice(-300)})`, 30_000, async () => {
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const lines = text.split('\n').filter((l) => l.startsWith('ghostwire_workload_config_stale{'));
    return lines.length > 0 ? lines : undefined;
  });
  t.diagnostic(series.join('\n'));
  assert.ok(series.includes('ghostwire_workload_config_stale{namespace="shop",kind="Deployment",name="cart"} 1'));
  assert.ok(series.includes('ghostwire_workload_config_stale{namespace="shop",kind="Deployment",name="orders"} 0'));
  assert.ok(!series.some((l) => /name="(early|billing)"/.test(l)), 'not injected: no series');
  // The same judgement as ghostwire status gives.
  const report = JSON.parse((await status(['-A', '-o', 'json'])).stdout);
  for (const line of series) {
    const m = /namespace="([^"]+)",kind="([^"]+)",name="([^"]+)"\} (\d)/.exec(line)!;
    const w = report.workloads.find((x: any) => x.namespace === m[1] && x.kind === m[2] && x.name === m[3]);
    assert.equal(m[4] === '1', w.state === 'rollout-needed' || w.state === 'removal-pending', line);
  }
  child.kill('SIGTERM');
});

/**
 * A pod that answers /metrics with a real watcher registry's text after `delayMs` (what a round trip to a pod on
 * another node costs): the stand-in for many watchers at once.
 */
async function standInWatchers(socket: string, delayMs: number): Promise<void> {
  const { WatcherMetrics } = await import('../../src/runtime/watcher/metrics.js');
  const m = new WatcherMetrics();
  m.jumpState.set({ state: 'preview' }, 1);
  m.jumpState.set({ state: 'active' }, 0);
  m.dnatRules.set({ service: 'api' }, 1);
  m.watchUp.set(1);
  m.serviceWatchUp.set(1);
  const { createServer } = await import('node:http');
  let text = '';
  const refresh = async () => {
    m.lastSync.set(Date.now() / 1000);
    text = await m.registry.metrics();
  };
  await refresh();
  const timer = setInterval(() => void refresh(), 1000);
  const server = createServer((_req, res) => void setTimeout(() => res.writeHead(200, { 'content-type': m.registry.contentType }).end(text), delayMs));
  await new Promise<void>((r) => server.listen(socket, r));
  after(() => {
    clearInterval(timer);
    server.close();
  });
}

async function timedStatus(namespace: string, concurrency: number): Promise<{ ms: number; report: any }> {
  const started = Date.now();
  const r = await status(['-n', namespace, '-o', 'json', '--concurrency', String(concurrency)]);
  const ms = Date.now() - started;
  const report = JSON.parse(r.stdout);
  assert.equal(r.code, 0, `${JSON.stringify([...report.attention.slice(0, 5), ...report.incomplete])}\n${r.stderr}\n${net.seen.filter((x) => x.includes('upstream')).slice(0, 5).join('\n')}`);
  assert.equal(r.stderr, '', 'no progress indicator when stderr is not a terminal');
  return { ms, report };
}

test('1,000 injected pods in one namespace: every watcher read through the pod proxy with bounded concurrency; piped output has no progress indicator', { timeout: 600_000 }, async (t) => {
  const N = 1000;
  const { mapBounded } = await import('../../src/util/pool.js');
  await cp.kubectl(['create', 'namespace', 'big']);
  // One Pod rendered by the webhook's own code with the defaults in force, so every pod runs the current config.
  const defaultsFile = join(dir, 'defaults.yaml');
  writeFileSync(defaultsFile, (await getJson(['-n', GW_NS, 'get', 'configmap', 'ghostwire-defaults'])).data['config.yaml']);
  const manifest = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'big', namespace: 'big', labels: { app: 'big', role: 'preview' }, annotations: { 'ghostwire.dev/enabled': 'true' } }, spec: { containers: [{ name: 'app', image: 'big:1' }] } };
  const injected = JSON.parse((await run(process.execPath, [CLI, 'inject', '-f', '-', '-n', 'big', '--defaults', defaultsFile, '-o', 'json'], { input: JSON.stringify(manifest) })).stdout);
  assert.ok(injected.spec.containers.some((c: { name: string }) => c.name === 'ghostwire-watcher'));
  await waitFor('ServiceAccount big/default', 30_000, async () => (await cp.api('GET', '/api/v1/namespaces/big/serviceaccounts/default')).status === 200);
  const names = Array.from({ length: N }, (_, i) => `big-${String(i).padStart(4, '0')}`);
  const started = Date.now();
  await mapBounded(names, 16, async (name) => {
    const r = await cp.api('POST', '/api/v1/namespaces/big/pods', { ...injected, metadata: { ...injected.metadata, name } });
    assert.equal(r.status, 201, JSON.stringify(r.body).slice(0, 300));
  });
  await mapBounded(names, 16, (name, i) => setRunning('big', name, `10.251.${(i + 1) >> 8}.${(i + 1) & 255}`));
  timings.create1000PodsMs = Date.now() - started;

  // 1. Every pod's metrics port leads to one real watcher (shop/orders', role preview too), or a stand-in.
  const real = join(dir, 'orders-watcher.sock');
  if (netnsSkip) await standInWatchers(real, 0);
  net.routePrefix('10.251.', 8081, { path: real });
  const before = net.seen.length;
  const first = await timedStatus('big', 16);
  assert.equal(net.seen.slice(before).filter((s) => s.startsWith('10.251.')).length, N, 'one pod proxy connection per pod');
  assert.equal(first.report.summary.pods, N);
  assert.equal(first.report.summary.podsRead, N);
  assert.equal(first.report.summary.podsUnreachable, 0);
  assert.ok(first.report.workloads.every((w: any) => w.state === 'current' && w.pods[0].state === 'ok' && w.pods[0].watcher.jump === 'preview'));

  // 2. Pods that each take 20 ms to answer, read one at a time and with the default bound.
  const slow = join(dir, 'slow-watchers.sock');
  await standInWatchers(slow, 20);
  net.routePrefix('10.251.', 8081, { path: slow });
  const runs: Record<string, number> = { [`concurrency 16, one ${netnsSkip ? 'stand-in' : 'real'} watcher`]: first.ms };
  for (const c of [1, 16, 64]) {
    const { ms, report } = await timedStatus('big', c);
    assert.equal(report.summary.podsRead, N);
    runs[`concurrency ${c}, pods answering in 20 ms`] = ms;
  }
  t.diagnostic(`ghostwire status -n big, ${N} injected pods each read through the pod proxy, wall time ms: ${JSON.stringify(runs)}; setup ms: ${JSON.stringify(timings)}`);
  // The command's own cost for the same 1,000 reads: CPU seconds and peak resident memory, by GNU time.
  if (spawnSync('sh', ['-c', 'test -x /usr/bin/time'], { stdio: 'ignore' }).status === 0) {
    const timed = await run('/usr/bin/time', ['-f', 'GWTIME %U %S %M', process.execPath, CLI, 'status', '--kubeconfig', cp.kubeconfigPath, '-n', 'big', '-o', 'json'], { allowFail: true });
    const m = /GWTIME (\S+) (\S+) (\d+)/.exec(timed.stderr);
    if (m) t.diagnostic(`ghostwire status -n big itself: ${(Number(m[1]) + Number(m[2])).toFixed(2)} s CPU (user+sys), ${Math.round(Number(m[3]) / 1024)} MB peak resident`);
  }

  // On a terminal (script(1) gives it one), stderr shows the progress, redrawn in place, and clears it at the end.
  if (spawnSync('sh', ['-c', 'command -v script'], { stdio: 'ignore' }).status !== 0) return t.diagnostic('script(1) not installed: the terminal progress indicator is covered by the unit test only');
  const typescript = join(dir, 'typescript');
  const cmd = [process.execPath, CLI, 'status', '--kubeconfig', cp.kubeconfigPath, '-n', 'big', '-o', 'json'].map((a) => `'${a}'`).join(' ');
  await new Promise<void>((resolve) => spawn('script', ['-qec', `${cmd} > ${join(dir, 'tty.json')}`, typescript], { stdio: 'ignore' }).on('close', () => resolve()));
  const seen = readFileSync(typescript, 'utf8');
  assert.match(seen, /\r\u001b\[2Kghostwire status: reading watcher metrics through the pod proxy \d+\/1000/);
  assert.match(seen, /\r\u001b\[2K\r?\n?Script done|\r\u001b\[2K$/m, 'the line is cleared at the end');
  assert.equal(JSON.parse(readFileSync(join(dir, 'tty.json'), 'utf8')).summary.podsRead, N, 'stdout stays the report');
});
