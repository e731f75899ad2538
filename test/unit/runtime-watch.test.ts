// The watcher's control loop against the stub API server (real HTTPS watch streams) with an in-memory iptables and
// connection-tracking table.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, writeFileSync, unlinkSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configFromEnv } from '../../src/config/index.js';
import { LiteClient } from '../../src/k8s/lite/client.js';
import { loadKubeconfig } from '../../src/k8s/lite/credentials.js';
import { createHealthServer, parseListen } from '../../src/runtime/watcher/health-server.js';
import { WatcherMetrics } from '../../src/runtime/watcher/metrics.js';
import { Watcher, type WatcherOptions } from '../../src/runtime/watcher/watcher.js';
import { discover, applyPlan } from '../../src/runtime/program.js';
import { parseDnatMap } from '../../src/runtime/dnat-map.js';
import { parseSave, findJumps } from '../../src/runtime/iptables/rules.js';
import { startKubeStub, svc, type KubeStub } from '../helpers/kube-stub.js';
import { fakeConntrack, type FakeConntrack } from '../helpers/fake-conntrack.js';
import { fakeExecutor, type FakeExecutor } from '../helpers/fake-iptables.js';
import { LogCapture } from '../helpers/log-capture.js';

let stub: KubeStub;
let dir: string;
let kubeconfig: string;

before(async () => {
  stub = await startKubeStub({ labels: { role: 'active', app: 'client' }, services: [svc('orders', '10.96.0.20'), svc('orders-preview', '10.96.0.21')] });
  dir = mkdtempSync(join(tmpdir(), 'gw-watch-'));
  kubeconfig = stub.writeKubeconfig(dir);
  writeFileSync(join(dir, 'resolv.conf'), 'nameserver 10.96.0.10\n');
});
after(async () => {
  await stub.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Harness {
  watcher: Watcher;
  ex: FakeExecutor;
  ct: FakeConntrack;
  logs: LogCapture;
  metrics: WatcherMetrics;
  client: LiteClient;
  mapPath: string;
  opts: WatcherOptions;
  stop(): Promise<void>;
}

let n = 0;
async function harness(o: { env?: Record<string, string>; ex?: FakeExecutor; ct?: FakeConntrack; init?: boolean; verifyMs?: number; refreshMs?: number; events?: boolean } = {}): Promise<Harness> {
  const mapPath = join(dir, `map-${++n}`, 'dnat.map');
  const { config, errors } = configFromEnv({ POD_NAMESPACE: stub.namespace, POD_NAME: stub.podName, GW_IPTABLES_DNAT_MAP: mapPath, GW_POLL_INTERVAL: '100ms', ...o.env });
  assert.deepEqual(errors, []);
  if (o.refreshMs) config.refreshIntervalMs = o.refreshMs;
  const ex = o.ex ?? fakeExecutor();
  const ct = o.ct ?? fakeConntrack();
  const logs = new LogCapture();
  const log = logs.logger('watch');
  const client = new LiteClient(await loadKubeconfig(kubeconfig), { timeoutMs: 5000 });
  if (o.init !== false) await applyPlan(ex, await discover(client, config, log, { resolvConfPath: join(dir, 'resolv.conf') }), mapPath);
  const metrics = new WatcherMetrics();
  const opts: WatcherOptions = {
    config: { ...config, podName: stub.podName },
    api: client,
    executor: ex,
    conntrack: ct,
    sockets: ct,
    log,
    metrics,
    verifyIntervalMs: o.verifyMs ?? 100,
    resolvConfPath: join(dir, 'resolv.conf'),
    nameservers: ['10.96.0.10'],
    watchTimeoutSeconds: 300,
    events: o.events ?? false,
  };
  const watcher = new Watcher(opts);
  watcher.start();
  return {
    watcher, ex, ct, logs, metrics, client, mapPath, opts,
    async stop() {
      await watcher.stop();
      client.close();
    },
  };
}

const jumps = (ex: FakeExecutor, family: 4 | 6 = 4) => findJumps(parseSave(ex.tables[family].save()), 'CANARY_DNAT').map((j) => `${j.hook}#${j.index + 1} ${j.spec}`);

async function waitFor(cond: () => boolean | Promise<boolean>, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  const holds = async () => {
    try {
      return await cond();
    } catch {
      return false; // e.g. a file not written yet
    }
  };
  while (!(await holds())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function metric(m: WatcherMetrics, name: string, labels = ''): Promise<number | undefined> {
  const text = await m.registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `) || (labels === '' && l.startsWith(`${name} `)));
  return line === undefined ? undefined : Number(line.split(' ').pop());
}

test('flips: active -> no jump; preview -> one jump at OUTPUT position 1; active -> none. One GET and one list, two watches, no polling', async () => {
  stub.setLabels({ role: 'active' });
  const since = Date.now();
  const h = await harness();
  try {
    await waitFor(() => h.watcher.healthy && stub.openWatches() === 1 && stub.openWatches('services') === 1, 'healthy');
    assert.deepEqual(jumps(h.ex), []);
    // Another rule first in OUTPUT (another sidecar's redirect): ghostwire must still go first.
    h.ex.tables[4].chains.get('OUTPUT')?.push('-p tcp -j REDIRECT --to-ports 15001');
    stub.setLabels({ role: 'preview' });
    await waitFor(() => jumps(h.ex).length === 1, 'jump');
    assert.deepEqual(jumps(h.ex), ['OUTPUT#1 -j CANARY_DNAT']);
    await waitFor(() => h.logs.find(/jump to CANARY_DNAT installed/) !== undefined, 'log');
    assert.equal(typeof h.logs.find(/jump to CANARY_DNAT installed at OUTPUT position 1/)?.latencyMs, 'number');
    stub.setLabels({ role: 'active' });
    await waitFor(() => jumps(h.ex).length === 0, 'no jump');
    stub.setLabels({ role: 'preview', other: 'x' });
    stub.setLabels({ role: 'preview', other: 'y' }); // no change of role: no extra iptables work
    await waitFor(() => jumps(h.ex).length === 1, 'jump again');
    await waitFor(() => h.logs.all(/jump to CANARY_DNAT installed/).length === 2, 'second install log');
    assert.equal(await metric(h.metrics, 'ghostwire_label_to_jump_seconds_count'), 3);
    assert.equal(await metric(h.metrics, 'ghostwire_jump_state', '{state="preview"}'), 1);
    assert.equal(await metric(h.metrics, 'ghostwire_jump_state', '{state="active"}'), 0);
    assert.equal(await metric(h.metrics, 'ghostwire_dnat_rules', '{service="orders"}'), 1);
    assert.equal(stub.count('get-pod', since), 1);
    assert.equal(stub.count('watch-pod', since), 1);
    assert.equal(stub.count('list-services', since), 2, 'one list by the test\'s init, one by the watcher');
    assert.equal(stub.count('watch-services', since), 1);
    assert.equal(await metric(h.metrics, 'ghostwire_errors_total', '{type="iptables"}'), 0);
    assert.equal(await metric(h.metrics, 'ghostwire_reprograms_total', '{cause="role"}'), 3);
    assert.equal(await metric(h.metrics, 'ghostwire_reprograms_total', '{cause="services"}'), 0, 'the first Service list matched init\'s map');
    assert.ok((await metric(h.metrics, 'ghostwire_last_sync_timestamp_seconds'))! > since / 1000);
    assert.equal(await metric(h.metrics, 'ghostwire_watcher_info', '{version="0.1.0",config_hash="0123456789abcdef"}'), 1);
  } finally {
    await h.stop();
  }
});

test('restart with duplicate and misplaced jumps: reconciled to exactly one, first', async () => {
  stub.setLabels({ role: 'preview' });
  const ex = fakeExecutor();
  const h0 = await harness({ ex });
  await waitFor(() => jumps(ex).length === 1, 'jump');
  await h0.stop();
  // Someone (an old watcher version) added more jumps, one in the other hook.
  ex.tables[4].chains.get('OUTPUT')?.unshift('-p tcp -j REDIRECT --to-ports 15001');
  ex.tables[4].chains.get('OUTPUT')?.push('-j CANARY_DNAT');
  ex.tables[4].chains.get('PREROUTING')?.push('-j CANARY_DNAT');
  const h = await harness({ ex, init: false, env: { GW_IPTABLES_DNAT_MAP: h0.mapPath } });
  try {
    await waitFor(() => h.watcher.healthy, 'healthy');
    await waitFor(() => jumps(ex).length === 1, 'single jump');
    assert.deepEqual(jumps(ex), ['OUTPUT#1 -j CANARY_DNAT']);
    assert.ok(h.logs.find(/fixed 3 existing jump\(s\)/));
  } finally {
    await h.stop();
  }
});

test('410 Gone re-lists once (one GET) and re-watches; a server-side watch timeout re-watches without a GET', async () => {
  stub.setLabels({ role: 'active' });
  const h = await harness();
  try {
    await waitFor(() => h.watcher.healthy && stub.openWatches('all') === 2, 'watching');
    const t0 = Date.now();
    stub.endWatches(); // server timeout
    await waitFor(() => stub.openWatches('all') === 2 && stub.count('watch-pod', t0) === 1 && stub.count('watch-services', t0) === 1, 're-watch');
    assert.equal(stub.count('get-pod', t0), 0);
    assert.equal(stub.count('list-services', t0), 0);
    const t1 = Date.now();
    stub.sendGone();
    stub.setLabels({ role: 'preview' }); // changed while the watch was expiring: the re-list must see it
    await waitFor(() => jumps(h.ex).length === 1, 'jump after relist');
    await waitFor(() => stub.openWatches('all') === 2, 'watching again');
    assert.equal(stub.count('get-pod', t1), 1);
    assert.equal(stub.count('list-services', t1), 1);
    assert.ok(h.logs.find(/resourceVersion expired/));
    assert.equal(await metric(h.metrics, 'ghostwire_errors_total', '{type="api_watch"}'), 0);
  } finally {
    await h.stop();
  }
});

test('watch down: polls GW_POLL_INTERVAL with backoff on errors, follows labels, stops polling once the watch is back', async () => {
  stub.setLabels({ role: 'active' });
  const h = await harness();
  try {
    await waitFor(() => h.watcher.healthy && stub.openWatches() === 1, 'watching');
    stub.failPods = 503;
    stub.breakWatches();
    await waitFor(() => (h.watcher.health().watch === 'down'), 'watch down');
    await new Promise((r) => setTimeout(r, 400));
    assert.ok((await metric(h.metrics, 'ghostwire_errors_total', '{type="api_watch"}'))! >= 1);
    // The API answers GETs again but watches keep failing: the poll carries the label change.
    stub.failPods = undefined;
    const realWatch = h.client.watchPod.bind(h.client);
    h.client.watchPod = async () => {
      throw new Error('watch refused (test)');
    };
    stub.setLabels({ role: 'preview' });
    await waitFor(() => jumps(h.ex).length === 1, 'jump via poll');
    assert.equal(h.logs.find(/role "preview"/)?.via, 'poll');
    h.client.watchPod = realWatch;
    await waitFor(() => h.watcher.health().watch === 'up', 'watch back', 40_000);
    const t = Date.now();
    await new Promise((r) => setTimeout(r, 500)); // five poll intervals
    assert.equal(stub.count('get-pod', t), 0, 'no GETs while the watch is healthy');
  } finally {
    await h.stop();
  }
});

test('a chain flushed or deleted behind the watcher is recreated from the map', async () => {
  stub.setLabels({ role: 'preview' });
  const h = await harness();
  try {
    await waitFor(() => jumps(h.ex).length === 1, 'jump');
    const intact = h.ex.tables[4].save();
    h.ex.tables[4].restore('*nat\n-F CANARY_DNAT\nCOMMIT\n');
    await waitFor(() => h.ex.tables[4].save() === intact, 'rebuilt after flush');
    h.ex.tables[4].restore('*nat\n-D OUTPUT -j CANARY_DNAT\n-F CANARY_DNAT\n-X CANARY_DNAT\nCOMMIT\n');
    await waitFor(() => h.ex.tables[4].save() === intact, 'rebuilt after delete');
    await waitFor(async () => (await metric(h.metrics, 'ghostwire_reprograms_total', '{cause="repair"}')) === 2, 'repairs counted');
    assert.equal(await metric(h.metrics, 'ghostwire_chain_repairs_total', '{reason="drifted"}'), 1);
    assert.equal(await metric(h.metrics, 'ghostwire_chain_repairs_total', '{reason="missing"}'), 1);
    // A verify with nothing to fix issues no restore.
    const restores = h.ex.restores.length;
    await new Promise((r) => setTimeout(r, 350));
    assert.equal(h.ex.restores.length, restores);
  } finally {
    await h.stop();
  }
});

test('no map: the watcher rebuilds by discovery and writes the map; a tampered map never reaches iptables', async () => {
  stub.setLabels({ role: 'active' });
  const h = await harness({ init: false });
  try {
    await waitFor(() => h.watcher.healthy, 'healthy');
    await waitFor(() => parseDnatMap(readFileSync(h.mapPath, 'utf8')).mappings.length === 1, 'map written');
    assert.ok(h.logs.find(/is missing; rebuilding by discovery/));
    const rules = h.ex.tables[4].save();
    writeFileSync(h.mapPath, readFileSync(h.mapPath, 'utf8').replace('"10.96.0.21"', '"10.96.0.21 -j ACCEPT"'));
    await waitFor(() => !readFileSync(h.mapPath, 'utf8').includes('-j ACCEPT'), 'map rewritten from the watcher\'s own state');
    assert.ok(h.logs.find(/changed behind the watcher; rewritten/));
    assert.equal(h.ex.tables[4].save(), rules, 'the file is a record: editing it changes no rule');
  } finally {
    await h.stop();
  }
  unlinkSync(h.mapPath);
});

test('GW_REFRESH_INTERVAL: a recreated Service with a new ClusterIP is followed, the map rewritten', async () => {
  stub.setLabels({ role: 'preview' });
  const h = await harness({ refreshMs: 300 });
  const saved = stub.services;
  try {
    await waitFor(() => jumps(h.ex).length === 1, 'jump');
    stub.services = [svc('orders', '10.96.0.20'), svc('orders-preview', '10.96.9.99')];
    await waitFor(() => h.ex.tables[4].save().includes('--to-destination 10.96.9.99:80'), 'new preview IP');
    assert.deepEqual(jumps(h.ex), ['OUTPUT#1 -j CANARY_DNAT']);
    await waitFor(() => readFileSync(h.mapPath, 'utf8').includes('"previewIP":"10.96.9.99"'), 'map rewritten');
    // A failing refresh keeps the rules.
    stub.failServices = 500;
    const before = h.ex.tables[4].save();
    await waitFor(() => h.logs.find(/refresh by discovery failed; the current rules stay/) !== undefined, 'refresh failure');
    assert.equal(h.ex.tables[4].save(), before);
  } finally {
    stub.failServices = undefined;
    stub.services = saved;
    await h.stop();
  }
});

test('stop() waits for an iptables call in flight', async () => {
  stub.setLabels({ role: 'active' });
  const h = await harness({ verifyMs: 60_000 });
  await waitFor(() => h.watcher.healthy, 'healthy');
  h.ex.delayMs = 300;
  stub.setLabels({ role: 'preview' });
  await new Promise((r) => setTimeout(r, 100)); // the save is in flight
  const t = Date.now();
  await h.stop();
  assert.ok(Date.now() - t >= 150, 'stop returned before the call finished');
  const saves = h.ex.saves;
  await new Promise((r) => setTimeout(r, 700));
  assert.equal(h.ex.saves, saves, 'no iptables call after stop');
});

test('/healthz is 503 until labels were read and the chain verified, then 200; /metrics serves the four metrics', async () => {
  const metrics = new WatcherMetrics();
  let ok = false;
  const server = createHealthServer({ health: () => ({ ok, labelsRead: ok, chainVerified: ok }) }, metrics);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const get = (path: string) =>
    new Promise<{ status: number; body: string; type: string }>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port, path }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, type: String(res.headers['content-type']) }));
      }).on('error', reject);
    });
  try {
    assert.equal((await get('/healthz')).status, 503);
    ok = true;
    assert.equal((await get('/healthz')).status, 200);
    metrics.dnatRules.set({ service: 'orders' }, 2);
    metrics.latency.observe(0.004);
    const m = await get('/metrics');
    assert.equal(m.status, 200);
    assert.match(m.type, /text\/plain/);
    for (const re of [/^ghostwire_dnat_rules\{service="orders"\} 2$/m, /^ghostwire_jump_state\{state="preview"\} 0$/m, /^ghostwire_jump_state\{state="active"\} 0$/m, /^ghostwire_errors_total\{type="iptables"\} 0$/m, /^ghostwire_label_to_jump_seconds_bucket\{le="0.005"\} 1$/m]) {
      assert.match(m.body, re);
    }
    assert.equal((await get('/nope')).status, 404);
  } finally {
    server.close();
  }
  assert.deepEqual(parseListen('127.0.0.1:0'), { host: '127.0.0.1', port: 0 });
  assert.deepEqual(parseListen('[::1]:8081'), { host: '::1', port: 8081 });
  assert.deepEqual(parseListen(':8081'), { host: undefined, port: 8081 });
  assert.deepEqual(parseListen('unix:/tmp/x.sock'), { path: '/tmp/x.sock' });
  assert.equal(parseListen('8081'), undefined);
});

test('GW_NAMESPACE names where Services are discovered, never where the watcher finds its own Pod', async () => {
  stub.setLabels({ role: 'active' });
  // The chain comes from an init that discovered the pod's own namespace (the stub serves one namespace).
  const h = await harness({ env: { GW_NAMESPACE: 'shared-services' } , init: false });
  try {
    const { config } = configFromEnv({ POD_NAMESPACE: stub.namespace, POD_NAME: stub.podName, GW_IPTABLES_DNAT_MAP: h.mapPath });
    await applyPlan(h.ex, await discover(h.client, config, h.logs.logger('init'), { resolvConfPath: join(dir, 'resolv.conf') }), h.mapPath);
    assert.equal(h.opts.config.podNamespace, stub.namespace);
    assert.equal(h.opts.config.effectiveNamespace, 'shared-services');
    await waitFor(() => h.watcher.healthy, 'healthy: labels read from the pod in its own namespace');
    stub.setLabels({ role: 'preview' });
    await waitFor(() => jumps(h.ex).length === 1, 'jump after the flip');
  } finally {
    await h.stop();
  }
});

const BASE = [svc('orders', '10.96.0.20'), svc('orders-preview', '10.96.0.21')];

test('live Services: a pair added, a preview deleted (fallback to active), recreated with a new ClusterIP, a port change; each reprograms and rewrites the map', async () => {
  stub.setLabels({ role: 'preview' });
  stub.setServices(BASE);
  const h = await harness();
  const rules = () => h.ex.tables[4].save().split('\n').filter((l) => l.includes('-j DNAT')).map((l) => /-d (\S+)\/32 .*--dport (\d+) .*--to-destination (\S+)/.exec(l)!.slice(1).join(' '));
  try {
    await waitFor(() => jumps(h.ex).length === 1 && stub.openWatches('services') === 1, 'watching');
    stub.setServices([...BASE, svc('cart', '10.96.0.30'), svc('cart-preview', '10.96.0.31')]);
    await waitFor(() => rules().includes('10.96.0.30 80 10.96.0.31:80'), 'pair added');
    await waitFor(() => readFileSync(h.mapPath, 'utf8').includes('"service":"cart"'), 'map rewritten');
    assert.ok(h.logs.find(/rules reprogrammed \(services\): added cart -> cart-preview/));
    stub.setServices([...BASE, svc('cart', '10.96.0.30')]);
    await waitFor(() => !rules().some((r) => r.startsWith('10.96.0.30')), 'preview deleted: fallback to active');
    stub.setServices([svc('orders', '10.96.0.20'), svc('orders-preview', '10.96.0.77'), svc('cart', '10.96.0.30')]);
    await waitFor(() => rules().includes('10.96.0.20 80 10.96.0.77:80'), 'recreated preview followed');
    stub.setServices([svc('orders', '10.96.0.20', [80, 8080]), svc('orders-preview', '10.96.0.77', [80, 8080]), svc('cart', '10.96.0.30')]);
    await waitFor(() => rules().includes('10.96.0.20 8080 10.96.0.77:8080'), 'port added');
    assert.deepEqual(jumps(h.ex), ['OUTPUT#1 -j CANARY_DNAT'], 'the jump is untouched by Service changes');
    // Metrics and logs follow the restore: wait for them.
    await waitFor(async () => (await metric(h.metrics, 'ghostwire_reprograms_total', '{cause="services"}')) === 4, 'four reprograms by Services');
    assert.ok((await metric(h.metrics, 'ghostwire_service_to_rules_seconds_count'))! >= 4);
    assert.equal(await metric(h.metrics, 'ghostwire_service_watch_up'), 1);
  } finally {
    stub.setServices(BASE);
    await h.stop();
  }
});

test('a Service event that does not change the pairing changes nothing; a burst of 500 events costs a handful of restores', async () => {
  stub.setLabels({ role: 'preview' });
  stub.setServices(BASE);
  const h = await harness({ verifyMs: 60_000 });
  try {
    await waitFor(() => jumps(h.ex).length === 1 && stub.openWatches('services') === 1, 'watching');
    const restores = h.ex.restores.length;
    const mapBefore = readFileSync(h.mapPath, 'utf8');
    stub.setServices([...BASE, svc('payments', '10.96.0.40')]);
    stub.setServices([...BASE, svc('payments', '10.96.0.41')]);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(h.ex.restores.length, restores, 'no restore for unpaired Services');
    assert.equal(readFileSync(h.mapPath, 'utf8'), mapBefore, 'no map rewrite');
    // 250 pairs appear one event at a time (500 events), then the watcher settles on all of them.
    const many = [...BASE];
    for (let i = 0; i < 250; i++) {
      many.push(svc(`s${i}`, `10.97.${i >> 8}.${i & 255}`), svc(`s${i}-preview`, `10.98.${i >> 8}.${i & 255}`));
      stub.setServices([...many]);
    }
    await waitFor(() => (parseDnatMap(readFileSync(h.mapPath, 'utf8')).mappings.length === 251), 'all 251 pairs programmed', 10_000);
    const used = h.ex.restores.length - restores;
    assert.ok(used >= 1 && used <= 10, `a burst of 500 events used ${used} restores`);
  } finally {
    stub.setServices(BASE);
    await h.stop();
  }
});

test('connections follow the role: a flip closes the TCP sockets and deletes the UDP flows whose route changed, both directions; keep mode touches none', async () => {
  stub.setLabels({ role: 'active' });
  const withDns = [svc('orders', '10.96.0.20', [80, [53, 'UDP']]), svc('orders-preview', '10.96.0.21', [80, [53, 'UDP']])];
  stub.setServices(withDns);
  const entries = () => [
    // To orders, not NATed (right while active, wrong in preview), and one already NATed to the preview.
    { family: 4 as const, protocol: 'tcp' as const, src: '10.244.0.5', dst: '10.96.0.20', sport: 41000, dport: 80, replySrc: '10.96.0.20' },
    { family: 4 as const, protocol: 'udp' as const, src: '10.244.0.5', dst: '10.96.0.20', sport: 41001, dport: 53, replySrc: '10.96.0.20' },
    // UDP to a port the Services do not pair: never rewritten, never reset.
    { family: 4 as const, protocol: 'udp' as const, src: '10.244.0.5', dst: '10.96.0.20', sport: 41005, dport: 5000, replySrc: '10.96.0.20' },
    // Not one of ours.
    { family: 4 as const, protocol: 'tcp' as const, src: '10.244.0.5', dst: '10.96.5.5', sport: 41002, dport: 80, replySrc: '10.96.5.5' },
  ];
  const ct = fakeConntrack(entries());
  const h = await harness({ ct });
  try {
    await waitFor(() => h.watcher.healthy && stub.openWatches('services') === 1, 'healthy');
    assert.equal(ct.resets.length, 0, 'nothing to reset while routes match');
    stub.setLabels({ role: 'preview' });
    const state = () => ct.entries.map((e) => `${e.protocol} ${e.dst}:${e.dport} ${e.state ?? ''}`.trim()).sort();
    await waitFor(() => ct.hits.length === 1 && ct.entries.some((e) => e.state === 'CLOSE'), 'resets after the flip');
    // TCP: every socket to the rerouted destination closed at once (its old backend learns it too; the kernel moves
    // the entry to CLOSE). UDP: the flow deleted. Connections not on a rerouted destination are left alone.
    assert.deepEqual(ct.closed[0], { family: 4, dst: '10.96.0.20', dport: 80 });
    assert.deepEqual(ct.hits.map((f) => (f.kind === 'forward' ? `${f.protocol} ${f.origDst}:${f.dport} from ${f.replySrc}` : 'reverse')), ['udp 10.96.0.20:53 from 10.96.0.20']);
    assert.deepEqual(state(), ['tcp 10.96.0.20:80 CLOSE', 'tcp 10.96.5.5:80', 'udp 10.96.0.20:5000']);
    await waitFor(async () => (await metric(h.metrics, 'ghostwire_conntrack_entries_reset_total', '{trigger="role"}')) === 1, 'metric');
    assert.equal(await metric(h.metrics, 'ghostwire_connections_closed_total', '{trigger="role"}'), 1);
    // The app reconnects through the DNAT rule; flipping back resets those.
    ct.entries.push({ family: 4, protocol: 'tcp', src: '10.244.0.5', dst: '10.96.0.20', sport: 41003, dport: 80, replySrc: '10.96.0.21' });
    stub.setLabels({ role: 'active' });
    await waitFor(() => ct.entries.find((e) => e.sport === 41003)?.state === 'CLOSE', 'closed after the flip back');
    // A Service change that reroutes in preview resets too (the preview recreated elsewhere).
    stub.setLabels({ role: 'preview' });
    // The flip's reset done (its close and its listing passes), so that it cannot be the one closing the next entry.
    await waitFor(() => jumps(h.ex).length === 1 && ct.closed.length === 3, 'preview');
    await new Promise((r) => setTimeout(r, 100));
    ct.entries.push({ family: 4, protocol: 'tcp', src: '10.244.0.5', dst: '10.96.0.20', sport: 41004, dport: 80, replySrc: '10.96.0.21' });
    stub.setServices([withDns[0]!, svc('orders-preview', '10.96.0.66', [80, [53, 'UDP']])]);
    await waitFor(() => ct.entries.find((e) => e.sport === 41004)?.state === 'CLOSE', 'closed after the Service change');
    await waitFor(async () => (await metric(h.metrics, 'ghostwire_connections_closed_total', '{trigger="services"}')) === 1, 'services trigger');
  } finally {
    stub.setServices(BASE);
    await h.stop();
  }
  stub.setLabels({ role: 'active' });
  const ct2 = fakeConntrack(entries());
  const keep = await harness({ ct: ct2, env: { GW_FLIP_CONNECTIONS: 'keep' } });
  try {
    await waitFor(() => keep.watcher.healthy, 'healthy');
    stub.setLabels({ role: 'preview' });
    await waitFor(() => jumps(keep.ex).length === 1, 'jump');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(ct2.lists + ct2.resets.length + ct2.closed.length, 0, 'keep: conntrack and ss are never called');
  } finally {
    await keep.stop();
  }
});

test('conntrack missing: the rules still flip, the failure is counted and logged, and the reset is retried at the next verify', async () => {
  stub.setLabels({ role: 'active' });
  stub.setServices(BASE);
  const ct = fakeConntrack([{ family: 4, protocol: 'tcp', src: '10.244.0.5', dst: '10.96.0.20', sport: 42000, dport: 80, replySrc: '10.96.0.20' }]);
  ct.fail = true;
  const h = await harness({ ct });
  try {
    await waitFor(() => h.watcher.healthy, 'healthy');
    stub.setLabels({ role: 'preview' });
    await waitFor(() => jumps(h.ex).length === 1, 'jump despite conntrack failing');
    await waitFor(async () => (await metric(h.metrics, 'ghostwire_errors_total', '{type="conntrack"}'))! >= 1, 'error counted');
    assert.ok(h.logs.find(/connection reset failed/));
    assert.equal(h.watcher.health().ok, true, 'healthy: the rules are right');
    ct.fail = false;
    await waitFor(() => ct.entries.length === 0, 'retried at a later verify');
  } finally {
    await h.stop();
  }
});

test('ss missing or a kernel without SOCK_DESTROY: the entries are deleted anyway; a failing ss is counted and logged', async () => {
  for (const broken of ['ss fails', 'no SOCK_DESTROY'] as const) {
    stub.setLabels({ role: 'active' });
    stub.setServices(BASE);
    const ct = fakeConntrack([{ family: 4, protocol: 'tcp', src: '10.244.0.5', dst: '10.96.0.20', sport: 42001, dport: 80, replySrc: '10.96.0.20' }]);
    if (broken === 'ss fails') ct.failSockets = true;
    else ct.noSockDestroy = true;
    const h = await harness({ ct });
    try {
      await waitFor(() => h.watcher.healthy, 'healthy');
      stub.setLabels({ role: 'preview' });
      await waitFor(() => ct.entries.length === 0, `${broken}: the entry is deleted`);
      // Asked twice: every socket to the destination right after the flip, then the one socket the listing found.
      assert.deepEqual(ct.closed, [{ family: 4, dst: '10.96.0.20', dport: 80 }, { family: 4, src: '10.244.0.5', sport: 42001, dst: '10.96.0.20', dport: 80 }], broken);
      assert.equal(await metric(h.metrics, 'ghostwire_connections_closed_total', '{trigger="role"}'), 0);
      const counted = await metric(h.metrics, 'ghostwire_errors_total', '{type="sockets"}');
      if (broken === 'ss fails') {
        assert.equal(counted, 2);
        assert.ok(h.logs.find(/closing sockets \(1 selector\(s\)\) failed; their connection-tracking entries are deleted anyway/));
      } else {
        assert.equal(counted, 0, 'closing nothing is no error: the socket may have closed meanwhile');
      }
      assert.equal(await metric(h.metrics, 'ghostwire_conntrack_entries_reset_total', '{trigger="role"}'), 1);
    } finally {
      await h.stop();
    }
  }
});

test('Events on the Pod: a role flip, aggregated reprograms (one Event with a count), the API unreachable and back; forbidden Events are dropped', async () => {
  stub.setLabels({ role: 'active' });
  stub.setServices(BASE);
  stub.events.length = 0;
  const h = await harness({ events: true });
  const event = (reason: string) => stub.events.find((e) => e.body.reason === reason)?.body;
  try {
    await waitFor(() => h.watcher.healthy && stub.openWatches('services') === 1, 'healthy');
    stub.setLabels({ role: 'preview' });
    await waitFor(() => event('GhostwireRoleChanged') !== undefined, 'role event', 10_000);
    const role = event('GhostwireRoleChanged')!;
    assert.deepEqual(role.involvedObject, { apiVersion: 'v1', kind: 'Pod', name: stub.podName, namespace: stub.namespace, uid: 'stub-pod-uid' });
    assert.match(role.message, /jump to CANARY_DNAT installed/);
    for (let i = 0; i < 5; i++) {
      stub.setServices([...BASE, svc(`x${i}`, `10.96.1.${i}`), svc(`x${i}-preview`, `10.96.2.${i}`)]);
      await new Promise((r) => setTimeout(r, 60));
    }
    await waitFor(() => (event('GhostwireRulesReprogrammed')?.count ?? 0) >= 5, 'aggregated reprogram event', 15_000);
    assert.equal(stub.events.filter((e) => e.body.reason === 'GhostwireRulesReprogrammed').length, 1, 'one Event, not five');
    stub.failPods = 503;
    stub.failServices = 503;
    stub.breakWatches();
    await waitFor(() => h.watcher.health().serviceWatch === 'down', 'down');
    stub.failPods = undefined;
    stub.failServices = undefined;
    await waitFor(() => event('GhostwireApiRecovered') !== undefined, 'recovered event', 40_000);
    assert.ok(event('GhostwireApiUnreachable'), 'the outage is recorded once the API is back');
    assert.equal(h.watcher.health().ok, true);
  } finally {
    stub.setServices(BASE);
    await h.stop();
  }
  stub.failEvents = 403;
  const denied = await harness({ events: true });
  try {
    await waitFor(() => denied.watcher.healthy && stub.openWatches() === 1, 'healthy');
    stub.setLabels({ role: denied.watcher.health().role === 'preview' ? 'active' : 'preview' });
    await waitFor(() => denied.logs.find(/events on the pod cannot be recorded/) !== undefined, 'forbidden logged', 10_000);
    stub.setLabels({ role: denied.watcher.health().role === 'preview' ? 'active' : 'preview' });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(denied.logs.all(/events on the pod cannot be recorded/).length, 1);
  } finally {
    stub.failEvents = undefined;
    await denied.stop();
  }
});
