// Runtime figures (not tests): programming time (one iptables-restore batch vs one exec per rule), label-flip ->
// jump latency, the watcher's resident and private memory (idle, after a burst of flips, in a large namespace), API
// requests at steady state, init wall time and resident peak. The in-pod programs run as in a pod: in-cluster
// credentials and the NODE_OPTIONS the injector sets. Needs root and iptables; prints the reason and returns
// otherwise. `npm run bench runtime` (all of it) or `npm run bench pods` (init and watcher only);
// BENCH_CLI=/other/checkout/dist/src/cli.js measures another build's programs (say, the previous release on its
// Node) with this harness, on the node that runs the bench.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI } from '../test/helpers/paths.js';
import { createNetns, iptablesBackend, runtimeSkipReason, NETNS_TOOL, type Netns } from '../test/helpers/netns.js';
import { startKubeStub, svc, type KubeStub, type StubService } from '../test/helpers/kube-stub.js';
import { formatMemory, memoryOf, pct, summarize } from './proc.js';
import { type Launch, fmtWindow, inClusterLauncher, injectedNodeOptions, mb, peakRssOf, sampleWindow } from './pod-memory.js';
import { type WatcherProcess, lineTime, startWatcher } from './watcher-process.js';
import { chainRestorePayload, dnatArgs, exclusionArgs, tokenize, type ChainSpec } from '../src/runtime/iptables/rules.js';

const CHAIN = 'CANARY_DNAT';

function spec(pairs: number): ChainSpec {
  return {
    chain: CHAIN,
    family: 4,
    exclusions: [
      { family: 4, cidr: '169.254.169.254/32', source: 'imds' },
      { family: 4, cidr: '10.96.0.10/32', source: 'dns' },
    ],
    rules: Array.from({ length: pairs }, (_, i) => ({
      family: 4 as const,
      service: `svc-${i}`,
      preview: `svc-${i}-preview`,
      protocol: 'TCP' as const,
      port: 8080,
      activeIP: `10.97.${Math.floor(i / 250)}.${(i % 250) + 1}`,
      previewIP: `10.98.${Math.floor(i / 250)}.${(i % 250) + 1}`,
    })),
  };
}

async function timeInNetns(ns: Netns, runs: Array<{ cmd: string; args: string[]; input?: string }>): Promise<number> {
  const r = await ns.exec(process.execPath, [NETNS_TOOL, 'time-exec'], { input: JSON.stringify(runs), timeoutMs: 600_000 });
  const line = r.stdout.split('\n').find((l) => l.startsWith('result '));
  if (!line) throw new Error(`time-exec failed: ${r.stderr}`);
  const res = JSON.parse(line.slice(7)) as { ms: number; failed: number; firstError?: string };
  if (res.failed > 0) throw new Error(`${res.failed} commands failed: ${res.firstError}`);
  return res.ms;
}

async function rulesIn(ns: Netns): Promise<number> {
  return (await ns.run('iptables-save', ['-t', 'nat'])).split('\n').filter((l) => l.startsWith(`-A ${CHAIN} `)).length;
}

async function programOnce(pairs: number, how: 'batch' | 'per-rule'): Promise<number> {
  const s = spec(pairs);
  const ns = await createNetns('gw-bench');
  try {
    let ms: number;
    if (how === 'batch') {
      ms = await timeInNetns(ns, [{ cmd: 'iptables-restore', args: ['--noflush', '-w', '5'], input: chainRestorePayload(s) }]);
    } else {
      const args = [...s.exclusions.map(exclusionArgs), ...s.rules.map(dnatArgs)].map((a) => tokenize(a.join(' ')));
      ms = await timeInNetns(ns, [
        { cmd: 'iptables', args: ['-w', '5', '-t', 'nat', '-N', CHAIN] },
        ...args.map((a) => ({ cmd: 'iptables', args: ['-w', '5', '-t', 'nat', '-A', CHAIN, ...a] })),
      ]);
    }
    if ((await rulesIn(ns)) !== pairs + 2) throw new Error(`${how} did not program every rule`);
    return ms;
  } finally {
    await ns.destroy();
  }
}

async function programmingBench(): Promise<void> {
  console.log('\n[runtime] (1) programming the chain: one iptables-restore batch vs one `iptables -w 5 -t nat -A` exec per rule');
  console.log('  (fresh netns per run, timed inside the netns; median of 3 runs, per-rule 1000 once)');
  console.log('  pairs  rules  batch ms  per-rule ms  ratio   (targets: 1000 pairs < 300 ms, >= 20x)');
  for (const pairs of [10, 100, 1000]) {
    const batch: number[] = [];
    const perRule: number[] = [];
    for (let i = 0; i < 3; i++) batch.push(await programOnce(pairs, 'batch'));
    for (let i = 0; i < (pairs >= 1000 ? 1 : 3); i++) perRule.push(await programOnce(pairs, 'per-rule'));
    const b = pct(batch, 50);
    const r = pct(perRule, 50);
    console.log(`  ${String(pairs).padStart(5)}  ${String(pairs + 2).padStart(5)}  ${b.toFixed(1).padStart(8)}  ${r.toFixed(1).padStart(11)}  ${(r / b).toFixed(1).padStart(5)}x`);
  }
}

const BENCH_CLI = process.env.BENCH_CLI ?? CLI;
const TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;
const TARGET = '(target: private <= 13.4 MB, the Node 20 watcher of issue 12)';

interface Run {
  ms: number;
  /** User + system CPU, ms (with /usr/bin/time): steadier than wall time on a busy machine. */
  cpuMs: number;
  peakMb: number;
}

/** One in-pod program run to completion in the netns: wall time and, with /usr/bin/time, CPU and resident peak. */
async function runOnce(ns: Netns, launch: Launch, argv: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  const { cmd, args } = launch(TIME ? [TIME, '-f', 'gw-time %M %U %S', ...argv] : argv);
  const r = await ns.exec(cmd, args, { env, timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`${argv.join(' ')} failed: ${r.stdout}${r.stderr}`);
  const m = /gw-time (\d+) ([\d.]+) ([\d.]+)/.exec(r.stderr);
  return { ms: r.ms, cpuMs: m ? (Number(m[2]) + Number(m[3])) * 1000 : NaN, peakMb: m ? Number(m[1]) / 1024 : NaN };
}

const fmtRuns = (runs: Run[]): string =>
  `median ${pct(runs.map((x) => x.ms), 50)} ms (min ${Math.min(...runs.map((x) => x.ms))}), CPU median ${Math.round(pct(runs.map((x) => x.cpuMs), 50))} ms, resident peak ${mb(Math.max(...runs.map((x) => x.peakMb)))} MB over ${runs.length} runs`;

const bigServices = (): StubService[] =>
  Array.from({ length: 1000 }, (_, i) => [svc(`big-${i}`, `10.99.${Math.floor(i / 250)}.${(i % 250) + 1}`, [8080]), svc(`big-${i}-preview`, `10.100.${Math.floor(i / 250)}.${(i % 250) + 1}`, [8080])]).flat();

async function initBench(ns: Netns, launch: Launch, env: NodeJS.ProcessEnv, resolv: string[], stub: KubeStub, services: StubService[]): Promise<void> {
  console.log('\n[runtime] (3a) `ghostwire init` wall time (process start to exit, in the netns, API over the bridge)');
  const init = () => runOnce(ns, launch, [process.execPath, BENCH_CLI, 'init', ...resolv], env);
  const small: Run[] = [];
  for (let i = 0; i < 9; i++) small.push(await init());
  console.log(`  100 pairs / 200 Services: ${fmtRuns(small)}`);
  stub.services = [...services, ...bigServices()];
  const large: Run[] = [];
  for (let i = 0; i < 3; i++) large.push(await init());
  console.log(`  1100 pairs / 2200 Services: ${fmtRuns(large)}`);
  stub.services = services;
  await init();
}

async function flipBench(w: WatcherProcess, stub: KubeStub): Promise<void> {
  console.log('\n[runtime] (2) label flip -> jump latency, 60 flips (stub pushes MODIFIED; watcher measures event arrival -> iptables-restore done)');
  const internal: { on: number[]; off: number[] } = { on: [], off: [] };
  const e2e: number[] = [];
  let peak = memoryOf(w.pid);
  for (let i = 0; i < 60; i++) {
    const preview = i % 2 === 0;
    const wait = w.next(preview ? /jump to CANARY_DNAT installed/ : /jump to CANARY_DNAT removed/);
    const sent = stub.setLabels({ role: preview ? 'preview' : 'active' });
    const line = await wait;
    (preview ? internal.on : internal.off).push(Number(line.latencyMs));
    e2e.push(lineTime(line) - sent);
    const now = memoryOf(w.pid);
    if (now.anon > peak.anon) peak = now;
    await new Promise((r) => setTimeout(r, 30));
  }
  console.log(`  jump present (preview): watcher ${summarize(internal.on)}`);
  console.log(`  jump absent  (active):  watcher ${summarize(internal.off)}`);
  console.log(`  all flips:              watcher ${summarize([...internal.on, ...internal.off])}   (target p99 < 300 ms)`);
  console.log(`  all flips, stub write -> log line (ms clock): ${summarize(e2e)}`);
  console.log(`  during the flips, at most: ${formatMemory(peak)}`);
  console.log(`  after the flips, 10-30 s: ${fmtWindow(await sampleWindow(w.pid, 10_000, 30_000))}   ${TARGET}`);
}

async function watcherBench(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'gw-bench-'));
  const ns = await createNetns('gw-bench');
  const services: StubService[] = [];
  for (let i = 0; i < 100; i++) services.push(svc(`svc-${i}`, `10.97.0.${i + 1}`, [8080]), svc(`svc-${i}-preview`, `10.98.0.${i + 1}`, [8080]));
  const stub = await startKubeStub({ listen: { path: join(dir, 'api.sock') }, labels: { role: 'active' }, services });
  try {
    const bridge = await ns.bridge({ path: join(dir, 'api.sock') });
    writeFileSync(join(dir, 'resolv.conf'), 'nameserver 10.96.0.10\n');
    const inCluster = inClusterLauncher(dir, stub.token, stub.pki.caPem);
    const launch: Launch = inCluster ?? ((argv) => ({ cmd: argv[0] as string, args: argv.slice(1) }));
    const nodeOptions = await injectedNodeOptions(BENCH_CLI);
    const base: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      ...(inCluster
        ? { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(bridge.port) }
        : { KUBECONFIG: stub.writeKubeconfig(dir, { server: `https://127.0.0.1:${bridge.port}` }) }),
      XTABLES_LOCKFILE: join(dir, 'xtables.lock'),
      POD_NAMESPACE: stub.namespace,
      POD_NAME: stub.podName,
      GW_IPTABLES_DNAT_MAP: join(dir, 'dnat.map'),
    };
    const envFor = (o: string | undefined): NodeJS.ProcessEnv => (o ? { ...base, NODE_OPTIONS: o } : base);
    console.log(`\n[runtime] in-pod programs: ${BENCH_CLI} on ${process.version}, credentials ${inCluster ? 'in-cluster (service-account files, as in a pod)' : 'from a kubeconfig (no unshare or not root: also loads the YAML parser)'}`);
    console.log(`  NODE_OPTIONS as injected: init ${JSON.stringify(nodeOptions.init ?? '')}, watch ${JSON.stringify(nodeOptions.watch ?? '')}`);
    const resolv = ['--resolv-conf', join(dir, 'resolv.conf')];
    await initBench(ns, launch, envFor(nodeOptions.init), resolv, stub, services);

    // Watcher with default intervals (verify 5s, random watch timeout).
    const w = startWatcher(ns, ['--listen', '127.0.0.1:0', ...resolv], envFor(nodeOptions.watch), { cli: BENCH_CLI, launch });
    try {
      await w.next(/^service watch established/);
      console.log('\n[runtime] (3b) idle watcher (default intervals: verify 5 s, watch timeout 300-600 s; 100 pairs)');
      const t0 = Date.now();
      const before = stub.requests.length;
      const idle = await sampleWindow(w.pid, 10_000, 30_000);
      const during = stub.requests.slice(before).filter((q) => q.at >= t0);
      console.log(`  10-30 s after start: ${fmtWindow(idle)}   ${TARGET}`);
      console.log(`  API requests in 30 s with ${stub.openWatches('all')} watches open (its Pod, the namespace's Services): ${during.length} (target 0 besides the open watches)`);
      const bare = ns.spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
      await new Promise((r) => setTimeout(r, 1500));
      console.log(`  reference, a bare \`node -e\` process: ${formatMemory(memoryOf(bare.pid as number))}`);
      bare.kill('SIGKILL');
      await flipBench(w, stub);

      console.log('\n[runtime] (3c) the namespace grows to 1100 pairs / 2200 Services (Service watch events), then idles');
      stub.setServices([...services, ...bigServices()]);
      const large = await sampleWindow(w.pid, 10_000, 30_000);
      console.log(`  10-30 s later: ${fmtWindow(large)}; resident peak since start (VmHWM) ${mb(peakRssOf(w.pid))} MB`);
    } finally {
      await w.stop();
    }
  } finally {
    await ns.destroy();
    await stub.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function runRuntimeBench(only?: 'pods'): Promise<void> {
  const skip = runtimeSkipReason();
  if (skip) {
    console.log(`[runtime] skipped: ${skip}`);
    return;
  }
  console.log(`[runtime] iptables ${iptablesBackend()} backend, node ${process.version}`);
  if (only !== 'pods') await programmingBench();
  await watcherBench();
}
