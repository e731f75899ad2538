// Route truth against a REAL kube-apiserver: while a seeded random schedule of at least 50 changes runs (role flips,
// preview Services created, deleted and recreated with new ClusterIPs, ports added and removed, bursts), clients in
// the pod's network namespace keep asking "who are you?" over long-lived TCP connections, new TCP connections and a
// UDP flow per destination. An oracle (test/helpers/route-oracle.ts) computes for every answer which backend should
// have answered once the last change settled (300 ms after a flip, 1 s after a Service change); any other answer
// fails the test, with the seed to reproduce it (ROUTE_TRUTH_SEED=<seed>).
//
//   control plane  etcd + kube-apiserver (test/e2e/harness.ts). Services get their ClusterIPs from the API server.
//   pod            a bare Pod (no kubelet) whose role label the test flips; init and the watcher run in a network
//                  namespace with a ServiceAccount token bound to the injected-pod Role of the chart.
//   network        the ClusterIPs as /32 addresses on the namespace's lo, each with servers answering
//                  "<service>@<ip>" (test/helpers/traffic-tool.ts); a deleted Service's server keeps running, so a
//                  stale route answers wrongly instead of failing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { type Answer, type Change, type Preview, type WorldState, judge, prng } from '../helpers/route-oracle.js';
import { type ControlPlane, startControlPlane, waitFor } from './harness.js';
import { routeSkipReason } from '../helpers/netns.js';
import { type PodNetns, grantInjectedRbac, startPodNetns } from './pod-netns.js';

const skip = routeSkipReason();
if (skip) console.log(`# route-truth skipped: ${skip}`);

const NS = 'shop';
const SA = 'ghostwire';
const SA_USER = `system:serviceaccount:${NS}:${SA}`;
const POD = 'orders-client-0';
const BASES = ['orders', 'cart', 'pay', 'ship'];
const PORTS = [
  { name: 'http', port: 80, protocol: 'TCP' as const },
  { name: 'alt', port: 8080, protocol: 'TCP' as const },
  { name: 'dns', port: 53, protocol: 'UDP' as const },
];

let cp: ControlPlane;
let pod: PodNetns;

const yaml = (...docs: unknown[]): string => docs.map((d) => stringify(d)).join('---\n');

function serviceObject(name: string, ports: typeof PORTS) {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: NS }, spec: { selector: { app: name }, ports: ports.map((p) => ({ ...p, targetPort: p.port })) } };
}

/** Creates a Service through the API and starts its servers on the ClusterIP the API server allocated. */
async function createService(name: string, ports: typeof PORTS): Promise<string> {
  const r = await cp.api('POST', `/api/v1/namespaces/${NS}/services`, serviceObject(name, ports));
  assert.equal(r.status, 201, JSON.stringify(r.body));
  const ip = r.body.spec.clusterIP as string;
  // Every server answers on every port, so a route to a port the Service does not have answers wrongly.
  pod.serve(name, ip, PORTS);
  return ip;
}

async function deleteService(name: string): Promise<void> {
  const r = await cp.api('DELETE', `/api/v1/namespaces/${NS}/services/${name}`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  // Wait until it is gone: a recreate must not race its own deletion.
  await waitFor(`${name} deleted`, 10_000, async () => (await cp.api('GET', `/api/v1/namespaces/${NS}/services/${name}`)).status === 404, 20);
}

async function setPorts(name: string, ports: typeof PORTS): Promise<void> {
  const r = await cp.api('PATCH', `/api/v1/namespaces/${NS}/services/${name}`, { spec: { ports: ports.map((p) => ({ ...p, targetPort: p.port })) } }, 'application/merge-patch+json');
  assert.equal(r.status, 200, JSON.stringify(r.body));
}

async function setRole(role: 'active' | 'preview'): Promise<void> {
  const r = await cp.api('PATCH', `/api/v1/namespaces/${NS}/pods/${POD}`, { metadata: { labels: { role } } }, 'application/merge-patch+json');
  assert.equal(r.status, 200, JSON.stringify(r.body));
}

const portKeys = (ports: typeof PORTS) => new Set(ports.map((p) => `${p.port}/${p.protocol}`));
const withoutAlt = PORTS.filter((p) => p.port !== 8080);

/** The live world the test changes, mirrored in a state the oracle reads. */
class World {
  role: 'active' | 'preview' = 'active';
  actives = new Map<string, string>();
  previews = new Map<string, Preview & { ports: Set<string> }>();
  snapshot(): WorldState {
    return { role: this.role, actives: new Map(this.actives), previews: new Map([...this.previews].map(([k, v]) => [k, { ip: v.ip, ports: new Set(v.ports) }])) };
  }
}

type Step = (world: World) => Promise<{ kind: Change['kind']; what: string }>;

/** One random change; the PRNG decides which and to what. */
function randomStep(rand: () => number): Step {
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  const r = rand();
  return async (w) => {
    const withPreview = BASES.filter((b) => w.previews.has(b));
    const without = BASES.filter((b) => !w.previews.has(b));
    if (r < 0.3 || (withPreview.length === 0 && without.length === 0)) {
      w.role = w.role === 'active' ? 'preview' : 'active';
      await setRole(w.role);
      return { kind: 'flip', what: `flip to ${w.role}` };
    }
    if ((r < 0.45 && without.length > 0) || withPreview.length === 0) {
      const base = pick(without);
      const ports = rand() < 0.5 ? PORTS : withoutAlt;
      w.previews.set(base, { ip: await createService(`${base}-preview`, ports), ports: portKeys(ports) });
      return { kind: 'service', what: `create ${base}-preview` };
    }
    const base = pick(withPreview);
    const preview = w.previews.get(base) as Preview & { ports: Set<string> };
    if (r < 0.6) {
      await deleteService(`${base}-preview`);
      w.previews.delete(base);
      return { kind: 'service', what: `delete ${base}-preview` };
    }
    if (r < 0.8) {
      await deleteService(`${base}-preview`);
      const ports = preview.ports.has('8080/TCP') ? PORTS : withoutAlt;
      w.previews.set(base, { ip: await createService(`${base}-preview`, ports), ports: portKeys(ports) });
      return { kind: 'service', what: `recreate ${base}-preview (new ClusterIP)` };
    }
    const ports = preview.ports.has('8080/TCP') ? withoutAlt : PORTS;
    await setPorts(`${base}-preview`, ports);
    preview.ports = portKeys(ports);
    return { kind: 'service', what: `${ports === PORTS ? 'add' : 'remove'} port 8080 on ${base}-preview` };
  };
}

before(async () => {
  if (skip) return;
  cp = await startControlPlane({
    controllerManager: false,
    auditRules: [{ level: 'Metadata', userGroups: ['system:serviceaccounts'], omitStages: ['RequestReceived'] }],
  });
  await cp.kubectl(['create', 'namespace', NS]);
  const podObject = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: POD, namespace: NS, labels: { app: 'orders-client', role: 'active' } },
    spec: { serviceAccountName: SA, automountServiceAccountToken: false, containers: [{ name: 'app', image: 'orders-client:1' }] },
  };
  await cp.kubectl(['apply', '-f', '-'], { input: yaml({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: SA, namespace: NS } }, podObject) });
  await grantInjectedRbac(cp, NS, SA);
  pod = await startPodNetns(cp, { namespace: NS, serviceAccount: SA, podName: POD, name: 'truth' });
});

after(async () => {
  await pod?.destroy();
  await cp?.stop();
});

test('route truth: every answer after a change settled comes from the backend the role and the current Services say', { skip, timeout: 240_000 }, async (t) => {
  const seed = Number(process.env.ROUTE_TRUTH_SEED ?? Math.floor(Math.random() * 2 ** 31));
  t.diagnostic(`seed ${seed} (reproduce with ROUTE_TRUTH_SEED=${seed})`);
  const rand = prng(seed);
  const world = new World();
  for (const base of BASES) world.actives.set(base, await createService(base, PORTS));
  for (const base of ['orders', 'cart']) world.previews.set(base, { ip: await createService(`${base}-preview`, withoutAlt), ports: portKeys(withoutAlt) });

  const init = await pod.init();
  assert.equal(init.code, 0, init.stdout + init.stderr);
  const watcher = await pod.watch(['--verify-interval', '1s']);
  const answers = pod.answers;
  for (const base of BASES) pod.clients(base, world.actives.get(base) as string, PORTS, 100);
  await new Promise((r) => setTimeout(r, 1500));

  const initial = world.snapshot();
  const changes: Change[] = [];
  const started = Date.now();
  while (changes.length < 60) {
    // Now and then a burst: several changes without a pause.
    const burst = rand() < 0.12 ? 3 + Math.floor(rand() * 4) : 1;
    for (let i = 0; i < burst; i++) {
      const { kind, what } = await randomStep(rand)(world);
      changes.push({ t: Date.now(), kind, what, after: world.snapshot() });
    }
    await new Promise((r) => setTimeout(r, 150 + Math.floor(rand() * 1500)));
  }
  // Settle, and let the last aggregated Event update go out (they are written at most every 5 s).
  await new Promise((r) => setTimeout(r, 6000));
  const idleFrom = new Date().toISOString();
  await new Promise((r) => setTimeout(r, 5000));
  const stoppedAt = Date.now();
  pod.stopClients();
  await new Promise((r) => setTimeout(r, 300));

  const verdict = judge(initial, changes, answers.filter((a) => a.t < stoppedAt));
  if (process.env.ROUTE_TRUTH_DUMP) writeFileSync(process.env.ROUTE_TRUTH_DUMP, JSON.stringify({ started, changes: changes.map((c) => ({ t: c.t - started, what: c.what })), violations: verdict.violations.map((v) => ({ ...v, t: v.t - started })), answers: answers.map((a) => ({ ...a, t: a.t - started })), watcherLog: watcher.log() }));
  const flips = changes.filter((c) => c.kind === 'flip').length;
  t.diagnostic(`${changes.length} changes (${flips} flips, ${changes.length - flips} Service changes) in ${Math.round((Date.now() - started) / 1000)} s; ${answers.length} answers, ${verdict.checked} checked after their change settled, ${verdict.unsettled} within a settle bound`);
  t.diagnostic(`changes: ${changes.map((c) => c.what).join('; ')}`);
  assert.ok(flips >= 10 && changes.length - flips >= 20, 'the schedule covers both kinds of change');
  assert.ok(verdict.checked > 1500, `enough answers were checked (${verdict.checked})`);
  for (const kind of ['long', 'new', 'udp']) assert.ok(answers.some((a) => a.kind === kind && a.answer), `${kind} answers arrived`);
  const lastChange = (at: number) => [...changes].reverse().find((c) => c.t <= at);
  const show = (xs: Array<Answer & { expected?: string; after?: string }>) =>
    xs.slice(0, 15).map((v) => `${v.t - started}ms ${v.kind} ${v.dest}:${v.port}/${v.protocol} got ${v.answer ?? v.error} want ${v.expected ?? '-'}; last change "${lastChange(v.t)?.what}" ${v.t - (lastChange(v.t)?.t ?? started)} ms before`).join('\n');
  const timeline = () => changes.map((c) => `${c.t - started}ms ${c.what}`).join('\n');
  const watcherTimeline = () => watcher.timeline(started);
  assert.equal(verdict.violations.length, 0, `${verdict.violations.length} answers from the wrong backend (seed ${seed}):\n${show(verdict.violations)}\nchanges:\n${timeline()}\nwatcher:\n${watcherTimeline()}`);
  assert.ok(verdict.errorsWhileSettled.length <= verdict.checked / 1000, `${verdict.errorsWhileSettled.length} failed requests after their change settled (seed ${seed}):\n${show(verdict.errorsWhileSettled)}`);

  // At steady state the watcher makes no API request besides its two open watches (the audit log's record).
  const file = join(cp.dir, 'audit.log');
  const idle = readFileSync(file, 'utf8').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { user: { username: string }; userAgent?: string; stage: string; verb: string; requestReceivedTimestamp: string; requestURI: string })
    .filter((e) => e.user.username === SA_USER && (e.userAgent ?? '').startsWith('ghostwire-watch/') && e.requestReceivedTimestamp > idleFrom);
  assert.deepEqual(idle.map((e) => `${e.verb} ${e.requestURI}`), [], 'requests made while idle');
  watcher.stop();
});
