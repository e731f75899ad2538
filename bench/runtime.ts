// Runtime figures (not tests): programming time (one iptables-restore batch vs one exec per rule), label-flip ->
// jump latency, idle watcher RSS, API requests at steady state, init wall time. Needs root and iptables; prints
// the reason and returns otherwise. Called from bench/run.ts; standalone:
//   npm run build && node --input-type=module -e "import('./dist/bench/runtime.js').then((m) => m.runRuntimeBench())"
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI } from '../test/helpers/paths.js';
import { createNetns, iptablesBackend, runtimeSkipReason, NETNS_TOOL, type Netns } from '../test/helpers/netns.js';
import { startKubeStub, svc, type StubService } from '../test/helpers/kube-stub.js';
import { formatMemory, memoryOf, pct, summarize } from './proc.js';
import { lineTime, startWatcher } from './watcher-process.js';
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

async function watcherBench(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'gw-bench-'));
  const ns = await createNetns('gw-bench');
  const services: StubService[] = [];
  for (let i = 0; i < 100; i++) services.push(svc(`svc-${i}`, `10.97.0.${i + 1}`, [8080]), svc(`svc-${i}-preview`, `10.98.0.${i + 1}`, [8080]));
  const stub = await startKubeStub({ listen: { path: join(dir, 'api.sock') }, labels: { role: 'active' }, services });
  try {
    const bridge = await ns.bridge({ path: join(dir, 'api.sock') });
    writeFileSync(join(dir, 'resolv.conf'), 'nameserver 10.96.0.10\n');
    const env = {
      PATH: process.env.PATH,
      KUBECONFIG: stub.writeKubeconfig(dir, { server: `https://127.0.0.1:${bridge.port}` }),
      POD_NAMESPACE: stub.namespace,
      POD_NAME: stub.podName,
      GW_IPTABLES_DNAT_MAP: join(dir, 'dnat.map'),
    };
    const resolv = ['--resolv-conf', join(dir, 'resolv.conf')];

    // Init wall time: process start to exit, 100 pairs (200 Services), then 1000 pairs.
    console.log('\n[runtime] (3a) `ghostwire init` wall time (process start to exit, in the netns, API over the bridge)');
    const initTimes: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await ns.exec(process.execPath, [CLI, 'init', ...resolv], { env, timeoutMs: 60_000 });
      if (r.code !== 0) throw new Error(`init failed: ${r.stdout}${r.stderr}`);
      initTimes.push(r.ms);
    }
    console.log(`  100 pairs / 200 Services: median ${pct(initTimes, 50)} ms, min ${Math.min(...initTimes)} ms over 5 runs`);
    const big: StubService[] = [];
    for (let i = 0; i < 1000; i++) big.push(svc(`big-${i}`, `10.99.${Math.floor(i / 250)}.${(i % 250) + 1}`, [8080]), svc(`big-${i}-preview`, `10.100.${Math.floor(i / 250)}.${(i % 250) + 1}`, [8080]));
    stub.services = [...services, ...big];
    const bigTimes: number[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await ns.exec(process.execPath, [CLI, 'init', ...resolv], { env, timeoutMs: 60_000 });
      if (r.code !== 0) throw new Error(`init failed: ${r.stdout}${r.stderr}`);
      bigTimes.push(r.ms);
    }
    console.log(`  1100 pairs / 2200 Services: median ${pct(bigTimes, 50)} ms over 3 runs`);
    stub.services = services;
    const r0 = await ns.exec(process.execPath, [CLI, 'init', ...resolv], { env, timeoutMs: 60_000 });
    if (r0.code !== 0) throw new Error(`init failed: ${r0.stderr}`);

    // Watcher with default intervals (verify 5s, random watch timeout).
    const w = startWatcher(ns, ['--listen', '127.0.0.1:0', ...resolv], env);
    const { next } = w;
    try {
      await next(/^service watch established/);
      const pid = w.pid;
      console.log('\n[runtime] (3b) idle watcher (default intervals: verify 5 s, watch timeout 300-600 s; 100 pairs)');
      await new Promise((r) => setTimeout(r, 10_000));
      const idle = memoryOf(pid);
      const t0 = Date.now();
      const before = stub.requests.length;
      await new Promise((r) => setTimeout(r, 20_000));
      const during = stub.requests.slice(before).filter((q) => q.at >= t0);
      console.log(`  idle (10 s after start): ${formatMemory(idle)}`);
      console.log(`  20 s later:              ${formatMemory(memoryOf(pid))}`);
      console.log(`  API requests in 20 s with ${stub.openWatches('all')} watches open (its Pod, the namespace's Services): ${during.length} (${((during.length * 60) / 20).toFixed(1)}/min; target 0 besides the open watches)`);
      const bare = ns.spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
      await new Promise((r) => setTimeout(r, 1500));
      console.log(`  reference, a bare \`node -e\` process: ${formatMemory(memoryOf(bare.pid as number))}`);
      bare.kill('SIGKILL');

      console.log('\n[runtime] (2) label flip -> jump latency, 60 flips (stub pushes MODIFIED; watcher measures event arrival -> iptables-restore done)');
      const internal: { on: number[]; off: number[] } = { on: [], off: [] };
      const e2e: { on: number[]; off: number[] } = { on: [], off: [] };
      for (let i = 0; i < 60; i++) {
        const preview = i % 2 === 0;
        const wait = next(preview ? /jump to CANARY_DNAT installed/ : /jump to CANARY_DNAT removed/);
        const sent = stub.setLabels({ role: preview ? 'preview' : 'active' });
        const line = await wait;
        const done = lineTime(line);
        (preview ? internal.on : internal.off).push(Number(line.latencyMs));
        (preview ? e2e.on : e2e.off).push(done - sent);
        await new Promise((r) => setTimeout(r, 30));
      }
      const fmt = (v: number[]) => summarize(v);
      console.log(`  jump present (preview): watcher ${fmt(internal.on)}`);
      console.log(`  jump absent  (active):  watcher ${fmt(internal.off)}`);
      console.log(`  all flips:              watcher ${fmt([...internal.on, ...internal.off])}   (target p99 < 300 ms)`);
      console.log(`  all flips, stub write -> log line (ms clock): ${fmt([...e2e.on, ...e2e.off])}`);
      const after: string[] = [];
      const flipsDone = Date.now();
      for (const s2 of [1, 10, 30]) {
        await new Promise((r) => setTimeout(r, Math.max(0, flipsDone + s2 * 1000 - Date.now())));
        const m = memoryOf(pid);
        after.push(`${s2} s: ${m.rss.toFixed(1)} MB (private ${m.private.toFixed(1)})`);
      }
      console.log(`  VmRSS after the flips (V8 young generation grown by the burst, shrunk when idle): ${after.join(', ')}`);
    } finally {
      await w.stop();
    }
  } finally {
    await ns.destroy();
    await stub.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function runRuntimeBench(): Promise<void> {
  const skip = runtimeSkipReason();
  if (skip) {
    console.log(`[runtime] skipped: ${skip}`);
    return;
  }
  console.log(`[runtime] iptables ${iptablesBackend()} backend, node ${process.version}`);
  await programmingBench();
  await watcherBench();
}
