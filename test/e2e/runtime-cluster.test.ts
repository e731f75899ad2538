// Acceptance scenario 9: `ghostwire init` and `ghostwire watch` against a REAL kube-apiserver, inside a network
// namespace with real iptables and real TCP connections.
//
//   control plane  etcd + kube-apiserver from test/e2e/harness.ts (no controller-manager, no kubelet: the Pod stays
//                  Pending, which is all the watcher needs). Services are created through the API, so their
//                  ClusterIPs are the ones the API server allocated from 10.96.0.0/16.
//   credentials    a ServiceAccount, the Role docs/runtime.md documents as the minimum (services: list;
//                  pods: get, watch restricted by resourceNames to the one Pod), a RoleBinding, and a token from the
//                  TokenRequest API (`kubectl create token`). The programs' kubeconfig carries THAT token, never the
//                  admin one, so every call below is authorized by the documented RBAC or fails.
//   network        a netns whose lo carries the allocated ClusterIPs as /32 addresses with "active"/"preview" TCP
//                  servers on them (test/helpers/netns-tool.ts serve); the API server's 127.0.0.1:PORT is bridged into
//                  the netns on the SAME port, so the kubeconfig URL and the certificate's 127.0.0.1 SAN work as is.
//   evidence       exit codes, the map file, iptables-save, who answers a connection, /healthz and /metrics, and the
//                  API server's own audit log (every request a service-account token made, with RBAC's reason).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { stringify } from 'yaml';
import { CLI, repoPath } from '../helpers/paths.js';
import { createNetns, runtimeSkipReason, stableSave, type Agent, type Netns } from '../helpers/netns.js';
import { parseDnatMap, type DnatMap } from '../../src/runtime/dnat-map.js';
import { type ControlPlane, startControlPlane, waitFor } from './harness.js';
import { until } from '../helpers/until.js';

const skip = runtimeSkipReason();
if (skip) console.log(`# runtime-cluster skipped: ${skip}`);

const NS = 'shop';
const SA = 'ghostwire';
const SA_USER = `system:serviceaccount:${NS}:${SA}`;
const POD = 'orders-client-5f7c9d';
const CHAIN = 'CANARY_DNAT';

let cp: ControlPlane;
let ns: Netns;
let agent: Agent;
let dir: string;
let env: NodeJS.ProcessEnv;
let mapPath: string;
let resolvConf: string;
/** Service name -> ClusterIP the API server allocated ("None" for the headless one, absent for ExternalName). */
const ip: Record<string, string> = {};
const timings: Record<string, number> = {};

const yaml = (...docs: unknown[]): string => docs.map((d) => stringify(d)).join('---\n');
const ports = (...list: Array<[string, number]>) => list.map(([name, port]) => ({ name, port, protocol: 'TCP', targetPort: port }));
const service = (name: string, p: ReturnType<typeof ports>, spec: Record<string, unknown> = {}) => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace: NS },
  spec: { selector: { app: name }, ports: p, ...spec },
});
const ORDERS_PREVIEW = service('orders-preview', ports(['http', 80], ['metrics', 9090]));
const SERVICES = [
  // {{name}} / {{name}}-preview (pattern scheme), two ports.
  service('orders', ports(['http', 80], ['metrics', 9090])),
  ORDERS_PREVIEW,
  // x-active / x-preview (suffix scheme); 8443 has no counterpart on the preview and stays on active.
  service('x-active', ports(['http', 80], ['https', 8443])),
  service('x-preview', ports(['http', 80])),
  // A headless active side: the pair is skipped with its reason.
  service('inventory', ports(['http', 80]), { clusterIP: 'None' }),
  service('inventory-preview', ports(['http', 80])),
  // An ExternalName active side has no ClusterIP at all.
  { apiVersion: 'v1', kind: 'Service', metadata: { name: 'legacy', namespace: NS }, spec: { type: 'ExternalName', externalName: 'legacy.billing.svc.cluster.local', ports: ports(['http', 80]) } },
  service('legacy-preview', ports(['http', 80])),
  // No preview twin at all: not a pair, so neither rule nor skip entry.
  service('lonely', ports(['http', 80])),
];

const MINIMAL_ROLE = {
  apiVersion: 'rbac.authorization.k8s.io/v1',
  kind: 'Role',
  metadata: { name: 'ghostwire-minimal', namespace: NS },
  rules: [
    { apiGroups: [''], resources: ['services'], verbs: ['list', 'watch'] },
    { apiGroups: [''], resources: ['pods'], verbs: ['get', 'watch'], resourceNames: [POD] },
    { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
  ],
};
const MINIMAL_BINDING = {
  apiVersion: 'rbac.authorization.k8s.io/v1',
  kind: 'RoleBinding',
  metadata: { name: 'ghostwire-minimal', namespace: NS },
  roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'ghostwire-minimal' },
  subjects: [{ kind: 'ServiceAccount', name: SA, namespace: NS }],
};

interface LogLine {
  level: string;
  msg: string;
  [k: string]: unknown;
}
const logLines = (text: string): LogLine[] =>
  text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine);

interface AuditEvent {
  auditID: string;
  stage: string;
  verb: string;
  requestURI: string;
  userAgent?: string;
  user: { username: string };
  objectRef?: { resource?: string; namespace?: string; name?: string };
  responseStatus?: { code?: number };
  annotations?: Record<string, string>;
}

/** Requests made with the ServiceAccount token (one entry per request, latest stage), oldest first. */
function auditRequests(userAgentPrefix?: string): AuditEvent[] {
  const byId = new Map<string, AuditEvent>();
  const file = join(cp.dir, 'audit.log');
  if (!existsSync(file)) return [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.startsWith('{')) continue;
    const ev = JSON.parse(line) as AuditEvent;
    if (ev.user?.username !== SA_USER) continue;
    if (userAgentPrefix && !(ev.userAgent ?? '').startsWith(userAgentPrefix)) continue;
    byId.set(ev.auditID, ev);
  }
  return [...byId.values()];
}
const describeRequest = (e: AuditEvent): string => `${e.verb} ${e.objectRef?.resource ?? '?'}${e.objectRef?.name ? `/${e.objectRef.name}` : ''} -> ${e.responseStatus?.code ?? '?'}`;

async function canI(verb: string, resource: string): Promise<boolean> {
  const r = await cp.kubectl(['auth', 'can-i', verb, resource, '-n', NS, `--as=${SA_USER}`], { allowFail: true });
  return r.stdout.trim() === 'yes';
}

const init = (extraEnv: NodeJS.ProcessEnv = {}) =>
  ns.exec(process.execPath, [CLI, 'init', '--resolv-conf', resolvConf], { env: { ...env, ...extraEnv }, timeoutMs: 20_000 });
const natSave = async (): Promise<string> => stableSave(await ns.run('iptables-save', ['-t', 'nat']));
const chainLines = async (): Promise<string[]> => (await natSave()).split('\n').filter((l) => l.startsWith(`-A ${CHAIN} `));
const jumpLines = async (): Promise<string[]> => (await natSave()).split('\n').filter((l) => new RegExp(`^-A (OUTPUT|PREROUTING) .*-j ${CHAIN}$`).test(l));
const readMap = (): DnatMap => parseDnatMap(readFileSync(mapPath, 'utf8'), mapPath);


function dnatRule(service: string, preview: string, port: number): string {
  return `-A ${CHAIN} -d ${ip[service]}/32 -p tcp -m tcp --dport ${port} -m comment --comment "ghostwire ${service} -> ${preview} ${port}/tcp" -j DNAT --to-destination ${ip[preview]}:${port}`;
}

before(async () => {
  if (skip) return;
  const started = Date.now();
  dir = mkdtempSync(join(tmpdir(), 'gw-e2e-runtime-'));
  // Every request made with a service-account token is audited (the admin's kubectl calls are not).
  cp = await startControlPlane({
    controllerManager: false,
    auditRules: [{ level: 'Metadata', userGroups: ['system:serviceaccounts'], omitStages: ['RequestReceived'] }],
  });
  timings.controlPlaneMs = Date.now() - started;

  await cp.kubectl(['create', 'namespace', NS]);
  await cp.kubectl(['apply', '-f', '-'], { input: yaml(...SERVICES) });
  const list = JSON.parse((await cp.kubectl(['-n', NS, 'get', 'services', '-o', 'json'])).stdout) as { items: Array<{ metadata: { name: string }; spec: { clusterIP: string } }> };
  for (const s of list.items) if (s.spec.clusterIP !== undefined) ip[s.metadata.name] = s.spec.clusterIP;
  for (const s of SERVICES) {
    const got = ip[s.metadata.name];
    if (s.metadata.name === 'inventory') assert.equal(got, 'None');
    else if (s.metadata.name === 'legacy') assert.equal(got, undefined);
    else assert.match(got ?? '', /^10\.96\.\d{1,3}\.\d{1,3}$/, `${s.metadata.name} got ClusterIP ${got} (expected one allocated from 10.96.0.0/16)`);
  }

  // The in-pod identity: ServiceAccount + Role now, the RoleBinding only after the negative check.
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: POD, namespace: NS, labels: { app: 'orders-client', role: 'active' } },
    spec: { serviceAccountName: SA, automountServiceAccountToken: false, containers: [{ name: 'app', image: 'orders-client:1' }] },
  };
  await cp.kubectl(['apply', '-f', '-'], { input: yaml({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: SA, namespace: NS } }, MINIMAL_ROLE, pod) });
  const token = (await cp.kubectl(['-n', NS, 'create', 'token', SA, '--duration=1h'])).stdout.trim();
  assert.match(token, /^eyJ[\w-]+\.[\w-]+\.[\w-]+$/, 'TokenRequest did not return a JWT');
  assert.notEqual(token, cp.token);
  writeFileSync(join(dir, 'ca.crt'), cp.caPem);
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    yaml({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'e2e', cluster: { server: cp.server, 'certificate-authority': join(dir, 'ca.crt') } }],
      users: [{ name: SA, user: { token } }],
      contexts: [{ name: SA, context: { cluster: 'e2e', user: SA, namespace: NS } }],
      'current-context': SA,
    }),
    { mode: 0o600 },
  );

  ns = await createNetns('gw-e2e');
  const bound = ['orders', 'orders-preview', 'x-active', 'x-preview', 'lonely'];
  for (const name of bound) await ns.run('ip', ['addr', 'add', `${ip[name]}/32`, 'dev', 'lo']);
  await ns.serve([
    `${ip.orders}:80=orders`, `${ip.orders}:9090=orders-metrics`,
    `${ip['orders-preview']}:80=orders-preview`, `${ip['orders-preview']}:9090=orders-preview-metrics`,
    `${ip['x-active']}:80=x-active`, `${ip['x-active']}:8443=x-active-https`,
    `${ip['x-preview']}:80=x-preview`,
    `${ip.lonely}:80=lonely`,
  ]);
  agent = await ns.agent();
  const apiPort = Number(new URL(cp.server).port);
  const bridge = await ns.bridge({ host: '127.0.0.1', port: apiPort }, { port: apiPort });
  assert.equal(bridge.port, apiPort);

  resolvConf = join(dir, 'resolv.conf');
  writeFileSync(resolvConf, `search ${NS}.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\n`);
  mapPath = join(dir, 'shared', 'dnat.map');
  env = { PATH: process.env.PATH, KUBECONFIG: kubeconfig, POD_NAMESPACE: NS, POD_NAME: POD, GW_IPTABLES_DNAT_MAP: mapPath };
  timings.setupMs = Date.now() - started;
});

after(async () => {
  agent?.close();
  await ns?.destroy();
  await cp?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('without the RoleBinding, init exits 1 with one error line naming the 403 and leaves iptables and the map alone', { skip, timeout: 30_000 }, async () => {
  const r = await init();
  assert.equal(r.code, 1, r.stdout + r.stderr);
  const errors = logLines(r.stdout).filter((l) => l.level === 'error');
  assert.equal(errors.length, 1, r.stdout);
  // init reads its own Pod first (its role decides the jump): that read is the one refused.
  assert.equal(
    errors[0]?.msg,
    `init failed: cannot read this Pod's role (${NS}/${POD}), so the first connections could take the wrong route: ` +
      `GET /api/v1/namespaces/${NS}/pods/${POD}: HTTP 403 Forbidden: ` +
      `pods "${POD}" is forbidden: User "${SA_USER}" cannot get resource "pods" in API group "" in the namespace "${NS}"`,
  );
  assert.doesNotMatch(r.stdout + r.stderr, /eyJ/, 'the token leaked into the output');
  assert.doesNotMatch(await natSave(), new RegExp(CHAIN));
  assert.equal(existsSync(mapPath), false);
  // The API server saw exactly that one request and refused it.
  const seen = auditRequests('ghostwire-init/').map(describeRequest);
  assert.deepEqual(seen, [`get pods/${POD} -> 403`]);
});

test('with the documented Role bound, init discovers the real Services, programs DNAT for their ClusterIPs and writes the map', { skip, timeout: 30_000 }, async (t) => {
  await cp.kubectl(['apply', '-f', '-'], { input: yaml(MINIMAL_BINDING) });
  await waitFor('RoleBinding in effect', 10_000, () => canI('list', 'services'), 100);
  // What the minimal Role allows, as the API server's authorizer answers it.
  const facts: Record<string, boolean> = {};
  for (const [verb, res] of [['list', 'services'], ['watch', 'services'], ['get', `pods/${POD}`], ['watch', `pods/${POD}`], ['list', 'pods'], ['get', 'pods/someone-else']] as const) {
    facts[`${verb} ${res}`] = await canI(verb, res);
  }
  t.diagnostic(`can-i with the minimal Role: ${JSON.stringify(facts)}`);
  assert.deepEqual(facts, {
    'list services': true,
    'watch services': true,
    [`get pods/${POD}`]: true,
    [`watch pods/${POD}`]: true,
    'list pods': false,
    'get pods/someone-else': false,
  });

  const r = await init();
  timings.initMs = r.ms;
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const logs = logLines(r.stdout);
  assert.ok(logs.some((l) => l.msg === 'skipping inventory -> inventory-preview: inventory is headless (clusterIP: None)'), r.stdout);
  assert.ok(logs.some((l) => /^discovered 2 Service pairs \(3 DNAT rules\) among 9 Services in shop$/.test(l.msg)), r.stdout);

  // iptables: exclusions first, then one DNAT rule per (active ClusterIP, port) with the allocated addresses.
  assert.deepEqual(await chainLines(), [
    `-A ${CHAIN} -d 169.254.169.254/32 -m comment --comment "ghostwire exclude imds" -j RETURN`,
    `-A ${CHAIN} -d 10.96.0.10/32 -m comment --comment "ghostwire exclude dns" -j RETURN`,
    dnatRule('orders', 'orders-preview', 80),
    dnatRule('orders', 'orders-preview', 9090),
    dnatRule('x-active', 'x-preview', 80),
  ]);
  assert.deepEqual(await jumpLines(), [], 'the Pod is labelled active: init adds no jump');

  // The map: the real ClusterIPs, and the skipped pairs with their reasons.
  const text = readFileSync(mapPath, 'utf8');
  const map = readMap();
  assert.equal(map.namespace, NS);
  assert.deepEqual(
    map.mappings.map((m) => `${m.service} ${m.activeIP}:${m.port}/${m.protocol} -> ${m.preview} ${m.previewIP}:${m.port} (${m.scheme})`),
    [
      `orders ${ip.orders}:80/TCP -> orders-preview ${ip['orders-preview']}:80 (pattern)`,
      `orders ${ip.orders}:9090/TCP -> orders-preview ${ip['orders-preview']}:9090 (pattern)`,
      `x-active ${ip['x-active']}:80/TCP -> x-preview ${ip['x-preview']}:80 (suffix)`,
    ],
  );
  // In claim order (suffix scheme first), as pairing produces them.
  assert.deepEqual(map.skipped, [
    { service: 'x-active', preview: 'x-preview', code: 'port-unmatched', reason: 'port 8443/TCP of x-active has no counterpart on x-preview; it stays on active' },
    { service: 'inventory', preview: 'inventory-preview', code: 'headless', reason: 'inventory is headless (clusterIP: None)' },
    { service: 'legacy', preview: 'legacy-preview', code: 'no-cluster-ip', reason: 'legacy has no ClusterIP (type ExternalName)' },
  ]);
  assert.match(text, new RegExp(`^# dnat +IPv4 +${ip.orders?.replace(/\./g, '\\.')}:80/TCP +-> +${ip['orders-preview']?.replace(/\./g, '\\.')}:80 `, 'm'));
  assert.match(text, /^# skipped +inventory -> inventory-preview: inventory is headless \(clusterIP: None\)$/m);
  // A Service without a preview twin is not a pair: the map does not mention it at all.
  assert.doesNotMatch(text, /lonely/);
  assert.equal(map.mappings.some((m) => m.activeIP === ip.lonely || m.previewIP === ip.lonely), false);

  // No jump yet: every ClusterIP still reaches its own server.
  assert.equal(await agent.probe(ip.orders as string, 80), 'orders');
  assert.equal(await agent.probe(ip.orders as string, 9090), 'orders-metrics');
  assert.equal(await agent.probe(ip['x-active'] as string, 80), 'x-active');
  assert.equal(await agent.probe(ip.lonely as string, 80), 'lonely');

  // Its Pod, then one list, authorized by our RoleBinding (the API server's audit log says so).
  const requests = auditRequests('ghostwire-init/');
  assert.equal(describeRequest(requests.at(-2) as AuditEvent), `get pods/${POD} -> 200`);
  const last = requests.at(-1) as AuditEvent;
  assert.equal(describeRequest(last), 'list services -> 200');
  assert.equal(last.requestURI, `/api/v1/namespaces/${NS}/services?limit=500`);
  assert.equal(last.annotations?.['authorization.k8s.io/decision'], 'allow');
  assert.match(last.annotations?.['authorization.k8s.io/reason'] ?? '', /RoleBinding "ghostwire-minimal\/shop" of Role "ghostwire-minimal"/);
});

interface Watcher {
  child: ChildProcess;
  logs: LogLine[];
  port: number;
  exited: Promise<number | null>;
}

async function startWatcher(extraEnv: NodeJS.ProcessEnv, args: string[] = []): Promise<Watcher> {
  const child = ns.spawn(process.execPath, [CLI, 'watch', '--listen', '127.0.0.1:0', '--verify-interval', '500ms', '--resolv-conf', resolvConf, ...args], { env: { ...env, ...extraEnv } });
  const logs: LogLine[] = [];
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`watcher did not report its port; stderr: ${stderr}`)), 10_000);
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      if (!line.startsWith('{')) return;
      const entry = JSON.parse(line) as LogLine;
      logs.push(entry);
      if (typeof entry.port === 'number' && /^health and metrics listening on 127\.0\.0\.1:\d+$/.test(entry.msg)) {
        clearTimeout(timer);
        resolve(entry.port);
      }
    });
    void exited.then((code) => reject(new Error(`watcher exited ${code}: ${stderr}`)));
  });
  return { child, logs, port, exited };
}

const metricValue = (text: string, series: string): number | undefined => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

test('the watcher follows the real Pod label: preview moves connections, active moves them back; a recreated Service is followed by the Service watch; no polling while the watches are up', { skip, timeout: 60_000 }, async (t) => {
  const mapBefore = readMap();
  // GW_POLL_INTERVAL 200ms makes any poll during a healthy watch obvious (dozens of GETs). No refresh interval:
  // the Service watch alone must follow the recreated Service.
  const w = await startWatcher({ GW_POLL_INTERVAL: '200ms' });
  const startedAt = Date.now();
  t.after(() => void w.child.kill('SIGKILL'));
  const healthz = () => agent.http(`http://127.0.0.1:${w.port}/healthz`);
  const metrics = async () => (await agent.http(`http://127.0.0.1:${w.port}/metrics`)).body;
  const probe = (name: string, port = 80) => agent.probe(ip[name] as string, port);

  const h = await until('healthz 200', healthz, (r) => r.status === 200 && /"watch":"up"/.test(r.body) && /"serviceWatch":"up"/.test(r.body));
  timings.watcherHealthyMs = Date.now() - startedAt;
  assert.deepEqual(JSON.parse(h.body), { ok: true, labelsRead: true, chainVerified: true, role: 'active', watch: 'up', serviceWatch: 'up' });
  assert.deepEqual(await jumpLines(), []);
  assert.equal(await probe('orders'), 'orders');

  // role=preview: connections to the ACTIVE ClusterIPs now reach the preview servers.
  let flipped = Date.now();
  await cp.kubectl(['-n', NS, 'label', 'pod', POD, 'role=preview', '--overwrite']);
  await until('orders ClusterIP answered by preview', () => probe('orders'), (v) => v === 'orders-preview');
  timings.flipToPreviewMs = Date.now() - flipped;
  assert.deepEqual(await jumpLines(), [`-A OUTPUT -j ${CHAIN}`]);
  assert.equal(await probe('orders', 9090), 'orders-preview-metrics');
  assert.equal(await probe('x-active'), 'x-preview');
  assert.equal(await probe('x-active', 8443), 'x-active-https', 'a port without counterpart must stay on active');
  assert.equal(await probe('lonely'), 'lonely');
  let m = await metrics();
  assert.equal(metricValue(m, 'ghostwire_jump_state{state="preview"}'), 1);
  assert.equal(metricValue(m, 'ghostwire_jump_state{state="active"}'), 0);
  assert.equal(metricValue(m, 'ghostwire_dnat_rules{service="orders"}'), 2);
  assert.equal(metricValue(m, 'ghostwire_dnat_rules{service="x-active"}'), 1);
  assert.equal(metricValue(m, 'ghostwire_watch_up'), 1);

  // Back to active: the jump goes, the active servers answer again.
  flipped = Date.now();
  await cp.kubectl(['-n', NS, 'label', 'pod', POD, 'role=active', '--overwrite']);
  await until('orders ClusterIP answered by active', () => probe('orders'), (v) => v === 'orders');
  timings.flipToActiveMs = Date.now() - flipped;
  assert.deepEqual(await jumpLines(), []);
  assert.equal(await probe('x-active'), 'x-active');
  m = await metrics();
  assert.equal(metricValue(m, 'ghostwire_jump_state{state="preview"}'), 0);
  assert.equal(metricValue(m, 'ghostwire_jump_state{state="active"}'), 1);

  // Preview again, then recreate orders-preview: the API server allocates a new ClusterIP, and the Service watch
  // re-points the DNAT rules at it (first the deletion: fallback to active; then the new address).
  await cp.kubectl(['-n', NS, 'label', 'pod', POD, 'role=preview', '--overwrite']);
  await until('preview again', () => probe('orders'), (v) => v === 'orders-preview');
  const oldPreviewIP = ip['orders-preview'] as string;
  await cp.kubectl(['-n', NS, 'delete', 'service', 'orders-preview']);
  await cp.kubectl(['apply', '-f', '-'], { input: yaml(ORDERS_PREVIEW) });
  const recreatedAt = Date.now();
  ip['orders-preview'] = JSON.parse((await cp.kubectl(['-n', NS, 'get', 'service', 'orders-preview', '-o', 'json'])).stdout).spec.clusterIP;
  assert.notEqual(ip['orders-preview'], oldPreviewIP, 'the API server reallocated the same ClusterIP');
  await ns.run('ip', ['addr', 'add', `${ip['orders-preview']}/32`, 'dev', 'lo']);
  await ns.serve([`${ip['orders-preview']}:80=orders-preview-recreated`, `${ip['orders-preview']}:9090=orders-preview-recreated-metrics`]);
  await until('the Service watch follows the new ClusterIP', () => probe('orders'), (v) => v === 'orders-preview-recreated', 5000);
  timings.recreateFollowedMs = Date.now() - recreatedAt;
  assert.equal(await probe('orders', 9090), 'orders-preview-recreated-metrics');
  // The log line follows the restore that already moved the traffic; it names the Services, never whole objects.
  await until('reprogram logged', async () => w.logs.some((l) => /^rules reprogrammed \(services\): .*orders-preview/.test(l.msg)), (v) => v, 2000);
  const mapAfter = readMap();
  assert.deepEqual(
    mapAfter.mappings.filter((x) => x.service === 'orders').map((x) => `${x.activeIP}:${x.port} -> ${x.previewIP}:${x.port}`),
    [`${ip.orders}:80 -> ${ip['orders-preview']}:80`, `${ip.orders}:9090 -> ${ip['orders-preview']}:9090`],
  );
  assert.deepEqual(mapAfter.mappings.filter((x) => x.service === 'x-active'), mapBefore.mappings.filter((x) => x.service === 'x-active'));
  assert.ok(await chainLines().then((l) => l.includes(dnatRule('orders', 'orders-preview', 80))));
  assert.deepEqual(await jumpLines(), [`-A OUTPUT -j ${CHAIN}`], 'the refresh must keep exactly one jump');

  // Request accounting: the watcher's own counters, then the API server's audit log, must agree.
  m = await metrics();
  assert.equal(metricValue(m, 'ghostwire_refreshes_total{result="ok"}') ?? 0, 0, 'no refresh configured');
  assert.equal(metricValue(m, 'ghostwire_api_requests_total{kind="get"}'), 1);
  assert.equal(metricValue(m, 'ghostwire_api_requests_total{kind="watch"}'), 1);
  assert.equal(metricValue(m, 'ghostwire_api_requests_total{kind="poll"}') ?? 0, 0);
  assert.equal(metricValue(m, 'ghostwire_api_requests_total{kind="list"}') ?? 0, 0);
  assert.equal(metricValue(m, 'ghostwire_api_requests_total{kind="services_list"}'), 1);
  assert.equal(metricValue(m, 'ghostwire_api_requests_total{kind="services_watch"}'), 1);
  assert.ok((metricValue(m, 'ghostwire_reprograms_total{cause="services"}') ?? 0) >= 1);
  for (const type of ['api_get', 'api_watch', 'iptables', 'map', 'refresh', 'conntrack', 'sockets']) assert.equal(metricValue(m, `ghostwire_errors_total{type="${type}"}`), 0, type);
  assert.equal(metricValue(m, 'ghostwire_label_to_jump_seconds_count'), 3, 'three flips: preview, active, preview');

  const latencies = w.logs.filter((l) => /^jump to CANARY_DNAT (installed|removed)/.test(l.msg)).map((l) => l.latencyMs as number);
  assert.equal(latencies.length, 3);
  timings.watcherLabelToJumpMaxMs = Math.max(...latencies);

  w.child.kill('SIGTERM');
  assert.equal(await w.exited, 0);
  const lifetimeMs = Date.now() - startedAt;
  const all = auditRequests('ghostwire-watch/');
  // Events on the Pod (role flips, reprograms, resets) are the watcher's only writes; everything else is reads.
  const eventWrites = all.filter((e) => e.objectRef?.resource === 'events');
  assert.ok(eventWrites.length >= 1 && eventWrites.every((e) => e.verb === 'create' || e.verb === 'patch'), eventWrites.map(describeRequest).join(', '));
  const seen = all.filter((e) => e.objectRef?.resource !== 'events');
  const counts: Record<string, number> = {};
  for (const e of seen) counts[describeRequest(e)] = (counts[describeRequest(e)] ?? 0) + 1;
  t.diagnostic(`API requests by the watcher over ${lifetimeMs} ms (audit log): ${JSON.stringify(counts)}, ${eventWrites.length} Event writes`);
  assert.deepEqual(counts, { [`get pods/${POD} -> 200`]: 1, [`watch pods/${POD} -> 200`]: 1, 'list services -> 200': 1, 'watch services -> 200': 1 });
  const watch = seen.find((e) => e.verb === 'watch' && e.objectRef?.resource === 'pods') as AuditEvent;
  assert.match(watch.requestURI, new RegExp(`^/api/v1/namespaces/${NS}/pods\\?watch=1&fieldSelector=metadata\\.name%3D${POD}&allowWatchBookmarks=true&resourceVersion=\\d+&timeoutSeconds=\\d+$`));
  // The watch with a metadata.name field selector is authorized against resourceNames (objectRef.name is the Pod).
  assert.match(watch.annotations?.['authorization.k8s.io/reason'] ?? '', /RoleBinding "ghostwire-minimal\/shop"/);
  for (const e of seen) assert.equal(e.annotations?.['authorization.k8s.io/decision'], 'allow');
  t.diagnostic(`timings (ms): ${JSON.stringify(timings)}`);
});

test('when the API server ends every watch after 1 s, the watcher re-watches from the last resourceVersion: no GET, no poll, labels still followed', { skip, timeout: 30_000 }, async (t) => {
  await cp.kubectl(['-n', NS, 'label', 'pod', POD, 'role=preview', '--overwrite']); // (already so, unless the previous test failed early)
  const before = auditRequests('ghostwire-watch/').length;
  const w = await startWatcher({ GW_POLL_INTERVAL: '200ms' }, ['--watch-timeout', '1']);
  t.after(() => void w.child.kill('SIGKILL'));
  const healthz = () => agent.http(`http://127.0.0.1:${w.port}/healthz`);
  await until('healthz 200', healthz, (r) => r.status === 200 && /"role":"preview"/.test(r.body));
  // Let a few server-side timeouts pass, then flip: the event must arrive on a re-established watch.
  await new Promise((r) => setTimeout(r, 3500));
  await cp.kubectl(['-n', NS, 'label', 'pod', POD, 'role=active', '--overwrite']);
  await until('active answers', () => agent.probe(ip.orders as string, 80), (v) => v === 'orders');
  await new Promise((r) => setTimeout(r, 1200));
  const m = (await agent.http(`http://127.0.0.1:${w.port}/metrics`)).body;
  w.child.kill('SIGTERM');
  assert.equal(await w.exited, 0);
  const seen = auditRequests('ghostwire-watch/').slice(before).filter((e) => e.objectRef?.resource !== 'events');
  const gets = seen.filter((e) => e.verb === 'get');
  const lists = seen.filter((e) => e.verb === 'list');
  const watches = (resource: string) => seen.filter((e) => e.verb === 'watch' && e.objectRef?.resource === resource);
  t.diagnostic(`1 s server timeouts: ${gets.length} GET, ${lists.length} list, ${watches('pods').length} Pod and ${watches('services').length} Service watches, codes ${JSON.stringify([...new Set(seen.map((e) => e.responseStatus?.code))])}`);
  assert.equal(gets.length, 1, seen.map(describeRequest).join(', '));
  assert.equal(lists.length, 1, 'the Services are listed once, then only watched');
  for (const resource of ['pods', 'services']) assert.ok(watches(resource).length >= 4, `expected a ${resource} re-watch per second, got ${watches(resource).length}`);
  assert.equal(seen.length, gets.length + lists.length + watches('pods').length + watches('services').length);
  for (const e of seen) assert.equal(e.responseStatus?.code, 200, describeRequest(e));
  // Each re-watch starts from a resourceVersion at least as new as the previous one.
  for (const resource of ['pods', 'services']) {
    const rvs = watches(resource).map((e) => Number(new URL(e.requestURI, 'https://x').searchParams.get('resourceVersion')));
    for (let i = 1; i < rvs.length; i++) assert.ok((rvs[i] as number) >= (rvs[i - 1] as number), `${resource} resourceVersion went back: ${rvs.join(', ')}`);
  }
  assert.equal(metricValue(m, 'ghostwire_api_requests_total{kind="poll"}') ?? 0, 0);
  assert.equal(metricValue(m, 'ghostwire_errors_total{type="api_watch"}'), 0);
  assert.equal(metricValue(m, 'ghostwire_jump_state{state="active"}'), 1);
});

test("the chart's injected-pod RBAC (helm template, bound to the named ServiceAccount) is enough for init, listing 509 Services in two pages", { skip, timeout: 30_000 }, async (t) => {
  const rendered = await cp.helm(['template', 'gw', repoPath('charts', 'ghostwire'), '--namespace', 'ghostwire', '--set', `injectedNamespaces[0]=${NS}`, '--set', `injectedServiceAccounts={${SA}}`, '--show-only', 'templates/injected-rbac.yaml']);
  await cp.kubectl(['apply', '-f', '-'], { input: rendered.stdout });
  await cp.kubectl(['-n', NS, 'delete', 'rolebinding', 'ghostwire-minimal']);
  // Only the chart's Role grants reading other Pods (the minimal one names a single Pod), so this says its
  // binding is in effect.
  await waitFor('chart RoleBinding in effect', 10_000, () => canI('get', 'pods/someone-else'), 100);
  const facts: Record<string, boolean> = {};
  for (const [verb, res] of [['list', 'services'], ['watch', 'services'], ['get', 'pods/someone-else'], ['watch', 'pods/someone-else'], ['list', 'pods']] as const) {
    facts[`${verb} ${res}`] = await canI(verb, res);
  }
  t.diagnostic(`can-i with the chart's injected Role: ${JSON.stringify(facts)}`);
  // 500 more (headless, unpaired) Services, so the list takes two pages of 500 with a real continue token.
  const fillers = Array.from({ length: 500 }, (_, i) => service(`filler-${String(i).padStart(3, '0')}`, ports(['http', 80]), { clusterIP: 'None' }));
  const created = Date.now();
  await cp.kubectl(['create', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: fillers }) });
  t.diagnostic(`500 Services created in ${Date.now() - created} ms`);
  const before = auditRequests('ghostwire-init/').length;
  const r = await init();
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.ok(logLines(r.stdout).some((l) => /^discovered 2 Service pairs \(3 DNAT rules\) among 509 Services in shop$/.test(l.msg)), r.stdout);
  const requests = auditRequests('ghostwire-init/').slice(before);
  assert.deepEqual(requests.map(describeRequest), [`get pods/${POD} -> 200`, 'list services -> 200', 'list services -> 200']);
  const lists = requests.slice(1);
  assert.equal(lists[0]?.requestURI, `/api/v1/namespaces/${NS}/services?limit=500`);
  assert.match(lists[1]?.requestURI ?? '', new RegExp(`^/api/v1/namespaces/${NS}/services\\?limit=500&continue=[\\w%-]+$`));
  for (const e of requests) assert.match(e.annotations?.['authorization.k8s.io/reason'] ?? '', /RoleBinding "gw-ghostwire-injected\/shop"/);
  assert.ok(readMap().mappings.some((x) => x.previewIP === ip['orders-preview']));
});
