// `ghostwire watch` with REAL iptables in a network namespace: the stub API pushes watch events, real TCP
// connections show who answers.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { CLI } from '../helpers/paths.js';
import { runtimeSkipReason, stableSave, type Agent, type Netns } from '../helpers/netns.js';
import { svc, type KubeStub } from '../helpers/kube-stub.js';
import { startStubbedPod, type StubbedPod } from '../helpers/stubbed-pod.js';
import { until } from '../helpers/until.js';

const skip = runtimeSkipReason();
if (skip) console.log(`# runtime-watch skipped: ${skip}`);

let ns: Netns;
let stub: KubeStub;
let agent: Agent;
let dir: string;
let env: NodeJS.ProcessEnv;
let pod: StubbedPod;

interface Running {
  child: ChildProcess;
  logs: Array<Record<string, unknown> & { msg: string }>;
  port: number;
  exited: Promise<number | null>;
}

async function startWatcher(): Promise<Running> {
  const child = ns.spawn(process.execPath, [CLI, 'watch', '--listen', '127.0.0.1:0', '--verify-interval', '200ms', '--resolv-conf', join(dir, 'resolv.conf')], { env });
  const logs: Running['logs'] = [];
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const port = await new Promise<number>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`watcher did not report its port; stderr: ${stderr}`)), 10_000);
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      const entry = JSON.parse(line) as Running['logs'][number];
      logs.push(entry);
      if (typeof entry.port === 'number' && /health and metrics listening on 127\.0\.0\.1:\d+/.test(entry.msg)) {
        clearTimeout(t);
        resolve(entry.port);
      }
    });
    void exited.then((code) => reject(new Error(`watcher exited ${code}: ${stderr}`)));
  });
  return { child, logs, port, exited };
}


const jumpLines = async () => (await ns.run('iptables-save', ['-t', 'nat'])).split('\n').filter((l) => /^-A (OUTPUT|PREROUTING) .*CANARY_DNAT/.test(l));

before(async () => {
  if (skip) return;
  pod = await startStubbedPod({
    name: 'gw-watch',
    addresses: ['10.96.0.10', '10.96.0.20', '10.96.0.21', '10.96.0.40', '10.96.0.41'],
    backends: ['10.96.0.20:80=orders', '10.96.0.21:80=orders-preview', '10.96.0.40:80=billing', '10.96.0.41:80=billing-preview'],
    stub: {
      labels: { role: 'active' },
      services: [svc('orders', '10.96.0.20'), svc('orders-preview', '10.96.0.21'), svc('billing', '10.96.0.40'), svc('billing-preview', '10.96.0.41')],
    },
    env: { GW_EXCLUDE_CIDRS: '10.96.0.40/32', GW_POLL_INTERVAL: '200ms' },
  });
  ({ ns, stub, agent, dir, env } = pod);
  const r = await ns.exec(process.execPath, [CLI, 'init', '--resolv-conf', join(dir, 'resolv.conf')], { env, timeoutMs: 20_000 });
  assert.equal(r.code, 0, r.stdout + r.stderr);
});

after(async () => {
  await pod?.close();
});

test('label flips move real traffic: active -> preview -> active; flushed chain recreated; SIGTERM exits 0', { skip, timeout: 60_000 }, async () => {
  const since = Date.now();
  const w = await startWatcher();
  try {
    const health = await until('healthz 200', () => agent.http(`http://127.0.0.1:${w.port}/healthz`), (h) => h.status === 200);
    assert.match(health.body, /"role":"active"/);
    assert.deepEqual(await jumpLines(), []);
    assert.equal(await agent.probe('10.96.0.20', 80), 'orders');

    stub.setLabels({ role: 'preview' });
    await until('preview answers', () => agent.probe('10.96.0.20', 80), (v) => v === 'orders-preview');
    assert.deepEqual(await jumpLines(), ['-A OUTPUT -j CANARY_DNAT']);
    assert.equal(await agent.probe('10.96.0.40', 80), 'billing', 'excluded address rewritten');

    stub.setLabels({ role: 'active' });
    await until('active answers', () => agent.probe('10.96.0.20', 80), (v) => v === 'orders');
    assert.deepEqual(await jumpLines(), []);

    stub.setLabels({ role: 'preview' });
    await until('preview again', () => agent.probe('10.96.0.20', 80), (v) => v === 'orders-preview');
    const intact = stableSave(await ns.run('iptables-save', ['-t', 'nat']));

    // Someone flushes the chain: traffic falls back to active until the watcher rebuilds it from the map.
    await ns.run('iptables', ['-w', '5', '-t', 'nat', '-F', 'CANARY_DNAT']);
    await until('chain rebuilt', async () => stableSave(await ns.run('iptables-save', ['-t', 'nat'])), (s) => s === intact);
    assert.equal(await agent.probe('10.96.0.20', 80), 'orders-preview');
    await until('repair logged', async () => w.logs.find((l) => /was drifted \(IPv4\); rebuilt/.test(l.msg)), (l) => l !== undefined);

    const metrics = (await agent.http(`http://127.0.0.1:${w.port}/metrics`)).body;
    assert.match(metrics, /^ghostwire_jump_state\{state="preview"\} 1$/m);
    assert.match(metrics, /^ghostwire_jump_state\{state="active"\} 0$/m);
    assert.match(metrics, /^ghostwire_dnat_rules\{service="orders"\} 1$/m);
    assert.match(metrics, /^ghostwire_label_to_jump_seconds_count 3$/m);
    assert.match(metrics, /^ghostwire_chain_repairs_total\{reason="drifted"\} 1$/m);
    assert.match(metrics, /^ghostwire_errors_total\{type="iptables"\} 0$/m);
    // One GET, one watch, nothing else, while the watch was healthy.
    assert.equal(stub.count('get-pod', since), 1);
    assert.equal(stub.count('watch-pod', since), 1);
    const installs = w.logs.filter((l) => /jump to CANARY_DNAT installed/.test(l.msg));
    assert.equal(installs.length, 2);
    for (const l of installs) assert.ok(typeof l.latencyMs === 'number' && l.latencyMs < 2000, JSON.stringify(l));

    w.child.kill('SIGTERM');
    assert.equal(await w.exited, 0);
    assert.ok(w.logs.some((l) => /SIGTERM: stopping/.test(l.msg)));
    // The jump is left in place on shutdown (removing it would move a draining preview pod to active).
    assert.deepEqual(await jumpLines(), ['-A OUTPUT -j CANARY_DNAT']);
  } finally {
    w.child.kill('SIGKILL');
  }
});

test('a restarted watcher neither duplicates the jump nor leaves a stale one', { skip, timeout: 30_000 }, async () => {
  // State from the previous test: preview, one jump. Add a stale PREROUTING jump and a duplicate.
  await ns.run('iptables', ['-w', '5', '-t', 'nat', '-A', 'OUTPUT', '-j', 'CANARY_DNAT']);
  await ns.run('iptables', ['-w', '5', '-t', 'nat', '-A', 'PREROUTING', '-j', 'CANARY_DNAT']);
  const w = await startWatcher();
  try {
    await until('single jump', jumpLines, (l) => l.length === 1 && l[0] === '-A OUTPUT -j CANARY_DNAT');
    await until('healthz 200', () => agent.http(`http://127.0.0.1:${w.port}/healthz`), (h) => h.status === 200);
    stub.setLabels({ role: 'active' });
    await until('no jump', jumpLines, (l) => l.length === 0);
    assert.equal(await agent.probe('10.96.0.20', 80), 'orders');
    w.child.kill('SIGINT');
    assert.equal(await w.exited, 0);
  } finally {
    w.child.kill('SIGKILL');
  }
});

test('while the API is down the watcher keeps routing and reports 200; it follows labels again once back', { skip, timeout: 30_000 }, async () => {
  stub.setLabels({ role: 'active' });
  const w = await startWatcher();
  try {
    await until('healthz 200', () => agent.http(`http://127.0.0.1:${w.port}/healthz`), (h) => h.status === 200);
    stub.failPods = 503;
    stub.breakWatches();
    const down = await until('watch down', () => agent.http(`http://127.0.0.1:${w.port}/healthz`), (h) => /"watch":"down"/.test(h.body));
    assert.equal(down.status, 200);
    assert.equal(await agent.probe('10.96.0.20', 80), 'orders');
    stub.failPods = undefined;
    stub.setLabels({ role: 'preview' });
    await until('preview after recovery', () => agent.probe('10.96.0.20', 80), (v) => v === 'orders-preview', 15_000);
    const metrics = (await agent.http(`http://127.0.0.1:${w.port}/metrics`)).body;
    assert.match(metrics, /^ghostwire_errors_total\{type="api_watch"\} [1-9]\d*$/m);
    w.child.kill('SIGTERM');
    assert.equal(await w.exited, 0);
  } finally {
    w.child.kill('SIGKILL');
  }
});
