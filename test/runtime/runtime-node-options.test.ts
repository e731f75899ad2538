// init and watch with exactly the NODE_OPTIONS the injector gives them (src/inject/render.ts), with REAL iptables in
// a network namespace and the stub API over TLS: --use-openssl-ca still verifies against the cluster's CA, --jitless
// runs the whole program, and --expose-gc turns the watcher's heap trim on.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { NODE_OPTIONS } from '../../src/inject/render.js';
import { CLI } from '../helpers/paths.js';
import { runtimeSkipReason, type Agent, type Netns } from '../helpers/netns.js';
import { svc, type KubeStub } from '../helpers/kube-stub.js';
import { startStubbedPod, type StubbedPod } from '../helpers/stubbed-pod.js';
import { until } from '../helpers/until.js';

const skip = runtimeSkipReason();
if (skip) console.log(`# runtime-node-options skipped: ${skip}`);

let ns: Netns;
let stub: KubeStub;
let agent: Agent;
let dir: string;
let env: NodeJS.ProcessEnv;
let pod: StubbedPod;

before(async () => {
  if (skip) return;
  pod = await startStubbedPod({
    name: 'gw-nodeopts',
    addresses: ['10.96.0.10', '10.96.0.20', '10.96.0.21'],
    backends: ['10.96.0.20:80=orders', '10.96.0.21:80=orders-preview'],
    stub: { labels: { role: 'active' }, services: [svc('orders', '10.96.0.20'), svc('orders-preview', '10.96.0.21')] },
    env: { GW_LOG_LEVEL: 'debug' },
  });
  ({ ns, stub, agent, dir, env } = pod);
});

after(async () => {
  await pod?.close();
});

test('init and watch run with the injected NODE_OPTIONS: TLS to the API, a flip moves traffic, the heap trim runs', { skip, timeout: 90_000 }, async () => {
  assert.match(NODE_OPTIONS.watch, /--expose-gc/);
  const init = await ns.exec(process.execPath, [CLI, 'init', '--resolv-conf', join(dir, 'resolv.conf')], { env: { ...env, NODE_OPTIONS: NODE_OPTIONS.init }, timeoutMs: 30_000 });
  assert.equal(init.code, 0, init.stdout + init.stderr);

  const child: ChildProcess = ns.spawn(process.execPath, [CLI, 'watch', '--listen', '127.0.0.1:0', '--resolv-conf', join(dir, 'resolv.conf')], { env: { ...env, NODE_OPTIONS: NODE_OPTIONS.watch } });
  const logs: Array<Record<string, unknown> & { msg: string }> = [];
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => logs.push(JSON.parse(line) as (typeof logs)[number]));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  try {
    await until('the pod watch', () => logs.some((l) => l.msg === 'pod watch established') || stderr, (v) => v === true || (typeof v === 'string' && v !== ''));
    assert.equal(stderr, '', 'no warnings or errors from node about the flags');
    assert.equal(await agent.probe('10.96.0.20', 80), 'orders');
    stub.setLabels({ role: 'preview' });
    await until('preview answers', () => agent.probe('10.96.0.20', 80), (v) => v === 'orders-preview');
    // The first checks after start trim whatever the size (every 5 s): gc() exists, so --expose-gc took effect.
    const trim = await until('a heap trim', () => logs.find((l) => l.msg === 'heap trimmed'), (l) => l !== undefined);
    assert.ok(typeof trim?.beforeBytes === 'number' && typeof trim.afterBytes === 'number', JSON.stringify(trim));
  } finally {
    child.kill('SIGTERM');
    assert.equal(await exited, 0, stderr);
  }
});
