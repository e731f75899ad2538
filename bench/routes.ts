// Route-truth figures (not tests): how fast the watcher follows a Service change and a burst of them, and how fast
// connections opened before a role flip reach the new backend. Real iptables and conntrack in a network namespace;
// the API is the kube stub (test/helpers/kube-stub.ts) so that event delivery is instant and the watcher's own time
// is what is measured. Needs root, iptables and conntrack; prints the reason and returns otherwise.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { CLI, repoPath } from '../test/helpers/paths.js';
import { createNetns, runtimeSkipReason, waitForLine, type Netns } from '../test/helpers/netns.js';
import { type KubeStub, type StubService, startKubeStub, svc } from '../test/helpers/kube-stub.js';
import { summarize } from './proc.js';
import { type WatcherProcess, lineTime, startWatcher } from './watcher-process.js';

const TRAFFIC_TOOL = repoPath('dist', 'test', 'helpers', 'traffic-tool.js');
const PAIRS = 100;
const CONNECTIONS = 100;
const FLIPS = 20;
const SERVICE_CHANGES = 60;
const BURST = 500;

const activeIP = (i: number) => `10.97.0.${i + 1}`;
const previewIP = (i: number) => `10.98.0.${i + 1}`;

function pairs(): StubService[] {
  const out: StubService[] = [];
  for (let i = 0; i < PAIRS; i++) out.push(svc(`svc-${i}`, activeIP(i), [8080]), svc(`svc-${i}-preview`, previewIP(i), [8080]));
  return out;
}

/** The services with svc-i-preview moved to another ClusterIP. */
function movePreview(services: StubService[], i: number, ip: string): StubService[] {
  return services.map((s) => (s.metadata.name === `svc-${i}-preview` ? svc(`svc-${i}-preview`, ip, [8080]) : s));
}

interface Answer {
  t: number;
  conn?: number;
  answer?: string;
}

async function flipBench(stub: KubeStub, w: WatcherProcess, answers: Answer[], ns: Netns): Promise<void> {
  console.log(`\n[routes] (1) role flip -> every one of ${CONNECTIONS} open connections answered by the new role's backend`);
  console.log('  (long-lived TCP connections to svc-0 asking every 50 ms; flipConnections=reset; time from the label write');
  console.log('   to each connection\'s first answer from the right backend, including its reconnect after the reset)');
  const perConnection: number[] = [];
  const resets: number[] = [];
  const closed: number[] = [];
  for (let i = 0; i < FLIPS; i++) {
    const preview = i % 2 === 0;
    const expected = preview ? `svc-0-preview@${previewIP(0)}` : `svc-0@${activeIP(0)}`;
    const resetLine = w.next(/^reset \d+ connection\(s\)/);
    const from = answers.length;
    const sent = stub.setLabels({ role: preview ? 'preview' : 'active' });
    const firstRight = new Map<number, number>();
    const deadline = Date.now() + 10_000;
    while (firstRight.size < CONNECTIONS) {
      if (Date.now() > deadline) {
        const stuck = [...Array(CONNECTIONS).keys()].filter((c) => !firstRight.has(c));
        if (process.env.GW_BENCH_DEBUG) {
          console.log(await ns.run('conntrack', ['-L', '-p', 'tcp']).catch((e: Error) => e.message));
          console.log(await ns.run('ss', ['-tn']).catch((e: Error) => e.message));
          console.log(await ns.run('iptables-save', ['-t', 'nat']).catch((e: Error) => e.message));
        }
        const last = stuck.slice(0, 3).map((c) => JSON.stringify(answers.filter((a) => a.conn === c).slice(-3)));
        throw new Error(`flip ${i}: only ${firstRight.size}/${CONNECTIONS} connections reached ${expected} within 10 s; last answers of ${stuck.slice(0, 3).join(', ')}: ${last.join(' ')}`);
      }
      await new Promise((r) => setTimeout(r, 10));
      for (let k = from; k < answers.length; k++) {
        const a = answers[k] as Answer;
        if (a.conn !== undefined && a.answer === expected && a.t >= sent && !firstRight.has(a.conn)) firstRight.set(a.conn, a.t - sent);
      }
    }
    perConnection.push(...firstRight.values());
    const line = await resetLine;
    resets.push(Number(line.deleted));
    closed.push(Number(line.closed));
    await new Promise((r) => setTimeout(r, 300));
  }
  console.log(`  label write -> right answer, per connection: ${summarize(perConnection)}`);
  console.log(`  per flip: conntrack entries deleted min ${Math.min(...resets)} max ${Math.max(...resets)}, sockets closed min ${Math.min(...closed)} max ${Math.max(...closed)} (${FLIPS} flips)`);
}

async function serviceChangeBench(stub: KubeStub, w: WatcherProcess): Promise<void> {
  console.log(`\n[routes] (2) Service change -> rules reprogrammed, ${SERVICE_CHANGES} changes (a preview recreated on another ClusterIP; role preview, ${PAIRS} pairs)`);
  const internal: number[] = [];
  const outside: number[] = [];
  let services = stub.services;
  for (let i = 0; i < SERVICE_CHANGES; i++) {
    const k = 1 + (i % (PAIRS - 1));
    services = movePreview(services, k, `10.${99 + (i % 2)}.0.${k + 1}`);
    const line = w.next(/^rules reprogrammed \(services\)/);
    const sent = Date.now();
    stub.setServices(services);
    const l = await line;
    internal.push(Number(l.latencyMs));
    outside.push(lineTime(l) - sent);
  }
  console.log(`  watcher (event arrival -> iptables-restore done, incl. the 20 ms coalescing window): ${summarize(internal)}`);
  console.log(`  stub write -> log line (ms clock):                                                  ${summarize(outside)}`);
}

async function burstBench(stub: KubeStub, w: WatcherProcess, mapPath: string): Promise<void> {
  console.log(`\n[routes] (3) a burst of ${BURST} Service events`);
  for (const kind of ['pairing', 'labels'] as const) {
    let services = stub.services;
    const done = w.collect(/^rules reprogrammed \(services\)/);
    const t0 = Date.now();
    let finalIP = '';
    for (let i = 0; i < BURST; i++) {
      const k = i % PAIRS;
      if (kind === 'pairing') {
        finalIP = `10.${101 + Math.floor(i / PAIRS)}.0.${k + 1}`;
        services = movePreview(services, k, finalIP);
      } else {
        services = services.map((s) => (s.metadata.name === `svc-${k}` ? { ...s, metadata: { ...s.metadata, labels: { revision: String(i) } } } : s));
      }
      stub.setServices(services);
    }
    const sent = Date.now() - t0;
    const deadline = Date.now() + 30_000;
    // Settled: the last event's address is in the map (pairing), or 2 s without a reprogram (labels).
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, kind === 'pairing' ? 20 : 2000));
      if (kind === 'labels' || readFileSync(mapPath, 'utf8').includes(finalIP)) break;
    }
    await new Promise((r) => setTimeout(r, 500));
    const lines = done();
    const last = lines.length > 0 ? lineTime(lines[lines.length - 1] as (typeof lines)[number]) - t0 : 0;
    if (kind === 'pairing') console.log(`  ${BURST} events that change the pairing (sent in ${sent} ms): ${lines.length} restores, first event -> last restore ${last} ms`);
    else console.log(`  ${BURST} events that leave the pairing as it is (labels):  ${lines.length} restores`);
  }
}

export async function runRoutesBench(): Promise<void> {
  const skip = runtimeSkipReason();
  if (skip) {
    console.log(`[routes] skipped: ${skip}`);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'gw-bench-routes-'));
  let ns: Netns | undefined;
  let stub: KubeStub | undefined;
  let traffic: ChildProcess | undefined;
  let w: WatcherProcess | undefined;
  try {
    ns = await createNetns('gw-bench-rt');
    stub = await startKubeStub({ listen: { path: join(dir, 'api.sock') }, labels: { role: 'active' }, services: pairs() });
    const bridge = await ns.bridge({ path: join(dir, 'api.sock') });
    writeFileSync(join(dir, 'resolv.conf'), 'nameserver 10.96.0.10\n');
    const mapPath = join(dir, 'dnat.map');
    const env = {
      PATH: process.env.PATH,
      KUBECONFIG: stub.writeKubeconfig(dir, { server: `https://127.0.0.1:${bridge.port}` }),
      POD_NAMESPACE: stub.namespace,
      POD_NAME: stub.podName,
      GW_IPTABLES_DNAT_MAP: mapPath,
    };
    const resolv = ['--resolv-conf', join(dir, 'resolv.conf')];
    traffic = ns.spawn(process.execPath, [TRAFFIC_TOOL]);
    await waitForLine(traffic, 'ready');
    const answers: Answer[] = [];
    createInterface({ input: traffic.stdout as NodeJS.ReadableStream }).on('line', (l) => answers.push(JSON.parse(l) as Answer));
    const send = (cmd: object) => traffic?.stdin?.write(`${JSON.stringify(cmd)}\n`);
    send({ op: 'serve', ip: activeIP(0), ports: [{ port: 8080, protocol: 'TCP' }], name: 'svc-0' });
    send({ op: 'serve', ip: previewIP(0), ports: [{ port: 8080, protocol: 'TCP' }], name: 'svc-0-preview' });

    const init = await ns.exec(process.execPath, [CLI, 'init', ...resolv], { env, timeoutMs: 60_000 });
    if (init.code !== 0) throw new Error(`init failed: ${init.stdout}${init.stderr}`);
    w = startWatcher(ns, ['--listen', '127.0.0.1:0', ...resolv], env);
    await w.next(/^service watch established/);
    send({ op: 'pool', dest: 'svc-0', ip: activeIP(0), port: 8080, connections: CONNECTIONS, every: 50 });
    const started = Date.now();
    while (new Set(answers.filter((a) => a.conn !== undefined && a.answer).map((a) => a.conn)).size < CONNECTIONS) {
      if (Date.now() - started > 10_000) throw new Error('the connection pool did not come up');
      await new Promise((r) => setTimeout(r, 20));
    }
    await flipBench(stub, w, answers, ns);
    send({ op: 'stop' });
    const toPreview = w.next(/^jump to .* installed/);
    stub.setLabels({ role: 'preview' });
    await toPreview;
    await serviceChangeBench(stub, w);
    await burstBench(stub, w, mapPath);
  } finally {
    await w?.stop();
    traffic?.stdin?.end();
    await ns?.destroy();
    await stub?.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
