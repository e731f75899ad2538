// Scale figures (not tests): every injected pod holds two watches (its own Pod, its namespace's Services). This
// holds 1,000 pods' worth of them against the REAL kube-apiserver of the e2e harness, through the watcher's own
// client code (one LiteClient per simulated pod, so one connection pair each, as in a real pod; PodSource and
// ServiceSource as the watcher runs them), and reports what the API server and etcd pay for it, and how long one
// Service change takes to reach the last of the 1,000. Needs the e2e tools (test/e2e/tools/build-tools.sh); prints
// the reason and returns otherwise.
import { existsSync } from 'node:fs';
import { LiteClient } from '../src/k8s/lite/client.js';
import { createLogger } from '../src/log.js';
import { WatcherMetrics } from '../src/runtime/watcher/metrics.js';
import { PodSource } from '../src/runtime/watcher/pod-source.js';
import { ServiceSource } from '../src/runtime/watcher/service-source.js';
import { type ControlPlane, startControlPlane, waitFor } from '../test/e2e/harness.js';
import { readToolsEnv, toolsEnvFile } from '../test/helpers/tools.js';
import { grantInjectedRbac } from '../test/e2e/pod-netns.js';
import { cpuSecondsOf, formatMemory, memoryOf, pct, summarize } from './proc.js';

const NS = 'scale';
const SA = 'app';
const PODS = Number(process.env.BENCH_SCALE_PODS ?? 1000);
const PAIRS = 50;
const CHANGES = 10;

interface Simulated {
  client: LiteClient;
  pods: PodSource;
  services: ServiceSource;
  /** hrtime of each Service event's arrival, by Service name. */
  arrivals: Map<string, bigint[]>;
}

function usage(cp: ControlPlane): { cpu: number; apiserver: string; etcd: string } {
  return {
    cpu: cpuSecondsOf(cp.pids.apiserver) + cpuSecondsOf(cp.pids.etcd),
    apiserver: formatMemory(memoryOf(cp.pids.apiserver)),
    etcd: formatMemory(memoryOf(cp.pids.etcd)),
  };
}

async function idleCpu(cp: ControlPlane, seconds: number): Promise<{ apiserver: number; etcd: number }> {
  const a0 = cpuSecondsOf(cp.pids.apiserver);
  const e0 = cpuSecondsOf(cp.pids.etcd);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  return { apiserver: (cpuSecondsOf(cp.pids.apiserver) - a0) / seconds, etcd: (cpuSecondsOf(cp.pids.etcd) - e0) / seconds };
}

const list = (items: unknown[]) => JSON.stringify({ apiVersion: 'v1', kind: 'List', items });
const service = (name: string, i: number) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: NS }, spec: { selector: { app: name }, ports: [{ port: 80 + (i % 3), targetPort: 8080 }] } });
const pod = (i: number) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: `app-${i}`, namespace: NS, labels: { app: 'app', role: 'active' } }, spec: { serviceAccountName: SA, automountServiceAccountToken: false, containers: [{ name: 'app', image: 'app:1' }] } });

export async function runWatchScaleBench(): Promise<void> {
  const tools = readToolsEnv(toolsEnvFile());
  if (!tools.KUBE_APISERVER || !existsSync(tools.KUBE_APISERVER)) {
    console.log('[scale] skipped: the e2e tools are not built (bash test/e2e/tools/build-tools.sh)');
    return;
  }
  console.log(`\n[scale] ${PODS} pods' watches (one Pod watch and one Service watch each) against a real kube-apiserver`);
  const cp = await startControlPlane({ controllerManager: false });
  const sims: Simulated[] = [];
  try {
    await cp.kubectl(['create', 'namespace', NS]);
    await cp.kubectl(['-n', NS, 'create', 'serviceaccount', SA]);
    await grantInjectedRbac(cp, NS, SA);
    const services = [];
    for (let i = 0; i < PAIRS; i++) services.push(service(`svc-${i}`, i), service(`svc-${i}-preview`, i));
    await cp.kubectl(['create', '-f', '-'], { input: list(services) });
    for (let i = 0; i < PODS; i += 250) await cp.kubectl(['create', '-f', '-'], { input: list(Array.from({ length: Math.min(250, PODS - i) }, (_, k) => pod(i + k))) });
    const token = (await cp.kubectl(['-n', NS, 'create', 'token', SA, '--duration=2h'])).stdout.trim();
    await new Promise((r) => setTimeout(r, 3000));
    const before = usage(cp);
    const cpuBefore = await idleCpu(cp, 10);
    console.log(`  before: kube-apiserver ${before.apiserver}; etcd ${before.etcd}`);
    console.log(`          idle CPU over 10 s: kube-apiserver ${(cpuBefore.apiserver * 100).toFixed(1)}%, etcd ${(cpuBefore.etcd * 100).toFixed(1)}% of one core`);

    const log = createLogger('scale', 'silent');
    const metrics = new WatcherMetrics();
    const access = { server: new URL(cp.server), ca: Buffer.from(cp.caPem), token: () => token, source: 'bench' };
    const t0 = Date.now();
    for (let i = 0; i < PODS; i++) {
      const client = new LiteClient(access, { userAgent: 'ghostwire-watch/bench' });
      const arrivals = new Map<string, bigint[]>();
      const sim: Simulated = {
        client,
        arrivals,
        pods: new PodSource({ api: client, namespace: NS, name: `app-${i}`, pollIntervalMs: 60_000, log, metrics, onPod: () => undefined }),
        services: new ServiceSource({ api: client, namespace: NS, log, metrics, onChange: (names, at) => { for (const n of names) arrivals.set(n, [...(arrivals.get(n) ?? []), at]); } }),
      };
      sim.pods.start();
      sim.services.start();
      sims.push(sim);
    }
    await waitFor(`${PODS * 2} watches established`, 600_000, async () => sims.every((s) => s.pods.watchIsUp && s.services.watchIsUp), 500);
    console.log(`  ${PODS * 2} watches established in ${((Date.now() - t0) / 1000).toFixed(1)} s (each pod: GET its Pod, list the ${PAIRS * 2} Services, two watches)`);
    await new Promise((r) => setTimeout(r, 5000));
    const held = usage(cp);
    const cpuHeld = await idleCpu(cp, 20);
    console.log(`  holding them: kube-apiserver ${held.apiserver}; etcd ${held.etcd}`);
    console.log(`                idle CPU over 20 s: kube-apiserver ${(cpuHeld.apiserver * 100).toFixed(1)}%, etcd ${(cpuHeld.etcd * 100).toFixed(1)}% of one core`);
    console.log(`  the simulating process (${PODS} clients in one Node process, not what a pod pays): ${formatMemory(memoryOf(process.pid))}`);

    // One Service change at a time: PATCH the preview's port, time until the last simulated pod has the event.
    const lastArrival: number[] = [];
    const p50s: number[] = [];
    const cpu0 = usage(cp).cpu;
    for (let c = 0; c < CHANGES; c++) {
      const name = `svc-${c}-preview`;
      const sent = process.hrtime.bigint();
      const r = await cp.api('PATCH', `/api/v1/namespaces/${NS}/services/${name}`, { spec: { ports: [{ port: 90 + c, targetPort: 8080 }] } }, 'application/merge-patch+json');
      if (r.status !== 200) throw new Error(`PATCH ${name}: HTTP ${r.status}`);
      await waitFor(`every pod has the change of ${name}`, 60_000, async () => sims.every((s) => (s.arrivals.get(name)?.length ?? 0) > 0), 10);
      const delays = sims.map((s) => Number((s.arrivals.get(name)?.[0] as bigint) - sent) / 1e6);
      lastArrival.push(Math.max(...delays));
      p50s.push(pct(delays, 50));
      await new Promise((r) => setTimeout(r, 500));
    }
    const cpuPerChange = (usage(cp).cpu - cpu0) / CHANGES;
    console.log(`  one Service change -> the event at the LAST of ${PODS} pods: ${summarize(lastArrival)} over ${CHANGES} changes (median pod: p50 ${pct(p50s, 50).toFixed(1)} ms)`);
    console.log(`  API server + etcd CPU per change fanned out to ${PODS} watchers: ${(cpuPerChange * 1000).toFixed(0)} ms (incl. 0.5 s idle after each)`);
  } finally {
    await Promise.all(sims.map(async (s) => {
      await Promise.all([s.pods.stop(), s.services.stop()]);
      s.client.close();
    }));
    await cp.stop();
  }
}
