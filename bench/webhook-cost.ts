// The cost of one admission and what a webhook process holds: figures, not tests (nothing here asserts a timing).
//   scaling:  time of one admission (parse + mutate + response body) at 1k/10k/40k/160k containers and volumes,
//             without a memo (every first injection of a new shape pays this); linear means 10k/1k is about 10x.
//   hostile:  RSS and private memory of the real webhook before, during and after a bounded burst of hostile
//             requests over HTTPS, with the latency of small legitimate admissions sent meanwhile.
//   rotation: RSS and private memory under a rotation of 1,000 distinct configs (the memo's honest worst case).
import { Agent } from 'node:https';
import { performance } from 'node:perf_hooks';
import { VERSION } from '../src/version.js';
import { mutate } from '../src/admission/mutate.js';
import { admissionReviewBody } from '../src/admission/response.js';
import { parseAdmissionReview } from '../src/admission/review.js';
import { builtinDefaults } from '../src/config/index.js';
import { type BenchServer, type Memory, memoryOf, postReview, serverCpuUs, serverNodeOptions, startBenchServer } from './webhook-client.js';

/** A Deployment review with `n` app containers or `n` volumes (and one container). */
export function wideReview(n: number, what: 'containers' | 'volumes', uid = 'wide'): string {
  const containers = what === 'containers' ? Array.from({ length: n }, (_, i) => ({ name: `c${i}`, image: 'app:1' })) : [{ name: 'app', image: 'app:1' }];
  const volumes = what === 'volumes' ? Array.from({ length: n }, (_, i) => ({ name: `v${i}`, emptyDir: {} })) : undefined;
  const object = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: `wide-${n}`, namespace: 'shop', annotations: { 'ghostwire.dev/enabled': 'true' } },
    spec: { template: { metadata: { labels: { app: 'wide' } }, spec: { containers, ...(volumes ? { volumes } : {}) } } },
  };
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: { uid, kind: { group: 'apps', version: 'v1', kind: 'Deployment' }, namespace: 'shop', name: object.metadata.name, operation: 'CREATE', object },
  });
}

/** A Deployment review whose config is the i-th of a rotation (a distinct excludeCidrs value per i). */
export function rotationReview(i: number): string {
  const object = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: `web-${i}`, namespace: 'shop', annotations: { 'ghostwire.dev/enabled': 'true', 'ghostwire.dev/excludeCidrs': `10.${i >> 8}.${i & 255}.0/24` } },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: {
          containers: [
            {
              name: 'app',
              image: 'registry.example/app:1.2.3',
              ports: [{ containerPort: 8080, name: 'http' }],
              env: Array.from({ length: 24 }, (_, j) => ({ name: `FLAG_${j}`, value: `value-${j}-${'x'.repeat(12)}` })),
            },
          ],
        },
      },
    },
  };
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: { uid: `rotation-${i}`, kind: { group: 'apps', version: 'v1', kind: 'Deployment' }, namespace: 'shop', name: object.metadata.name, operation: 'CREATE', object },
  });
}

const median = (v: number[]): number => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)] as number;
const mb = (kb: number): string => (kb / 1024).toFixed(1);
const fmtMem = (m: Memory): string => `RSS ${mb(m.rssKb)} MB, private ${mb(m.privateKb)} MB`;

/**
 * Median time of one admission as the webhook does it: JSON.parse, shape checks, mutate, response body. CPU time of
 * this process (user + system) is the figure that holds up on a shared machine; wall time is shown beside it.
 */
function timeOneAdmission(body: string): { cpuMs: number; wallMs: number; runs: number; responseBytes: number } {
  const ctx = { defaults: builtinDefaults(), version: VERSION, tunnelKey: 'bench-tunnel-key-0123456789' };
  const cpu: number[] = [];
  const wall: number[] = [];
  let responseBytes = 0;
  // Warm-up: the first runs compile the code paths this size takes.
  for (let i = 0; i < 2; i++) mutate(parseAdmissionReview(JSON.parse(body)), ctx);
  const deadline = performance.now() + 3000;
  while (cpu.length < 15 && (cpu.length < 3 || performance.now() < deadline)) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const req = parseAdmissionReview(JSON.parse(body));
    responseBytes = admissionReviewBody(req.uid, mutate(req, ctx)).length;
    wall.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  return { cpuMs: median(cpu), wallMs: median(wall), runs: cpu.length, responseBytes };
}

export function scalingFigures(sizes: readonly number[] = [1000, 10_000, 40_000, 160_000]): string[] {
  const lines = ['[webhook] one admission without a memo (parse + mutate + response body), median CPU time (wall time)'];
  for (const what of ['containers', 'volumes'] as const) {
    const ms: number[] = [];
    for (const n of sizes) {
      const body = wideReview(n, what);
      const r = timeOneAdmission(body);
      ms.push(r.cpuMs);
      lines.push(`  ${String(n).padStart(7)} ${what.padEnd(10)} body ${(body.length / 1e6).toFixed(2).padStart(5)} MB   CPU ${r.cpuMs.toFixed(1).padStart(8)} ms   (wall ${r.wallMs.toFixed(1)} ms, ${r.runs} runs, response ${(r.responseBytes / 1024).toFixed(1)} KB)`);
    }
    const ratios = sizes.slice(1).map((n, i) => `${n / (sizes[i] as number)}x size: ${((ms[i + 1] as number) / (ms[i] as number)).toFixed(1)}x CPU`);
    lines.push(`  ${what}: ${ratios.join(', ')} (linear: the same factor)`);
  }
  return lines;
}

/**
 * The hostile burst: every request is bounded (at most the 6 MiB body limit), the burst is bounded in count. Sizes
 * differ by one between requests so that no request is answered from the memo of an earlier one.
 */
export function hostileBodies(): Array<{ label: string; body: (i: number) => string; concurrency: number; count: number }> {
  const review = (request: Record<string, unknown>) => JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request });
  const base = { kind: { group: '', version: 'v1', kind: 'Pod' }, namespace: 'shop', operation: 'CREATE' };
  const pod = (annotations: Record<string, string>) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'shop', annotations }, spec: { containers: [{ name: 'c', image: 'c' }] } });
  const unknownKeys = (n: number) => {
    const annotations: Record<string, string> = { 'ghostwire.dev/enabled': 'true' };
    for (let i = 0; i < n; i++) annotations[`ghostwire.dev/a${i}`] = '';
    return annotations;
  };
  const cidrs = (n: number) => Array.from({ length: n }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32`).join(',');
  return [
    { label: '110,000 unknown ghostwire.dev/ annotations', body: (i) => review({ ...base, uid: `hostile-a${i}`, object: pod(unknownKeys(110_000 + i)) }), concurrency: 1, count: 10 },
    { label: '60,000 volumes, 8 at once', body: (i) => wideReview(60_000 + i, 'volumes', `hostile-v${i}`), concurrency: 8, count: 8 },
    { label: '160,000 containers', body: (i) => wideReview(160_000 + i, 'containers', `hostile-c${i}`), concurrency: 2, count: 4 },
    { label: 'a 5 MB request.uid', body: (i) => review({ ...base, uid: 'u'.repeat(5_000_000 + i), object: pod({}) }), concurrency: 2, count: 10 },
    { label: 'a 40 KB invalid ghostwire.dev/image value', body: (i) => review({ ...base, uid: `hostile-i${i}`, object: pod({ 'ghostwire.dev/enabled': 'true', 'ghostwire.dev/image': `${'a'.repeat(40_000 + i)}!` }) }), concurrency: 1, count: 2 },
    { label: '15,000 CIDRs in ghostwire.dev/excludeCidrs', body: (i) => review({ ...base, uid: `hostile-x${i}`, object: pod({ 'ghostwire.dev/enabled': 'true', 'ghostwire.dev/excludeCidrs': cidrs(15_000 + i) }) }), concurrency: 1, count: 2 },
    // Past the in-flight body budget: most are answered 503 before their bodies are read.
    { label: '32 reviews of 4.8 MB at once', body: (i) => wideReview(150_000 + i, 'containers', `hostile-f${i}`), concurrency: 32, count: 32 },
  ];
}

/** Sends small legitimate admissions every 20 ms until stopped; returns their latencies. */
function legitimateProbe(server: BenchServer): { stop: () => Promise<number[]> } {
  const body = rotationReview(0);
  const latencies: number[] = [];
  let running = true;
  // Its own connection: the latency is the server's, never a wait for a free socket behind the hostile requests.
  const agent = new Agent({ keepAlive: true, maxSockets: 1, rejectUnauthorized: false });
  const loop = (async () => {
    while (running) {
      const t0 = performance.now();
      const r = await postReview(server, body, { agent });
      if (r.status === 200) latencies.push(performance.now() - t0);
      await new Promise((res) => setTimeout(res, 20));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      agent.destroy();
      return latencies;
    },
  };
}

export async function hostileFigures(): Promise<string[]> {
  const server = await startBenchServer('ghostwire');
  const lines = [`[webhook] bounded burst of hostile requests over HTTPS (real app, info log, metrics, memo), server NODE_OPTIONS "${serverNodeOptions()}"`];
  try {
    await postReview(server, rotationReview(0));
    await new Promise((r) => setTimeout(r, 1000));
    lines.push(`  before:              ${fmtMem(memoryOf(server.pid))}`);
    const probe = legitimateProbe(server);
    for (const h of hostileBodies()) {
      let biggest = 0;
      const statuses = new Set<number>();
      let size = 0;
      let busyMs = 0;
      // Bodies are built first: the figure is the server's answer time, not this process building 3 MB of JSON.
      const bodies = Array.from({ length: h.count }, (_, i) => h.body(i));
      await Promise.all(
        Array.from({ length: h.concurrency }, async () => {
          for (let body = bodies.shift(); body !== undefined; body = bodies.shift()) {
            size = body.length;
            const t1 = performance.now();
            // Keep-alive connections, as the API server uses.
            const r = await postReview(server, body, { agent: server.agent });
            busyMs += performance.now() - t1;
            biggest = Math.max(biggest, r.bytes);
            statuses.add(r.status);
          }
        }),
      );
      const m = memoryOf(server.pid);
      lines.push(`  ${h.label} (${h.count} x ${(size / 1e6).toFixed(1)} MB): HTTP ${[...statuses].join('/')}, largest response ${(biggest / 1024).toFixed(1)} KB, ${(busyMs / h.count).toFixed(0)} ms each (${h.concurrency} at a time); ${fmtMem(m)}`);
    }
    const legit = await probe.stop();
    const after = memoryOf(server.pid);
    lines.push(`  after the burst:     ${fmtMem(after)}, peak RSS ${mb(after.peakKb)} MB`);
    await new Promise((r) => setTimeout(r, 10_000));
    lines.push(`  10 s later:          ${fmtMem(memoryOf(server.pid))}`);
    lines.push(`  legitimate admissions during the burst: ${legit.length}, p50 ${median(legit).toFixed(1)} ms, max ${Math.max(...legit).toFixed(1)} ms`);
  } finally {
    await server.stop();
  }
  return lines;
}

export async function rotationFigures(configs = 1000, seconds = Number(process.env.BENCH_SECONDS ?? 10), connections = 20): Promise<string[]> {
  const server = await startBenchServer('ghostwire');
  const lines = [`[webhook] rotation of ${configs} distinct configs, ${connections} keep-alive connections, ${seconds} s, server NODE_OPTIONS "${serverNodeOptions()}"`];
  try {
    const bodies = Array.from({ length: configs }, (_, i) => rotationReview(i));
    await postReview(server, bodies[0] as string);
    await new Promise((r) => setTimeout(r, 1000));
    lines.push(`  before:          ${fmtMem(memoryOf(server.pid))}`);
    let next = 0;
    let done = 0;
    let peak = 0;
    const cpu0 = await serverCpuUs(server);
    const sampler = setInterval(() => (peak = Math.max(peak, memoryOf(server.pid).rssKb)), 250);
    const end = performance.now() + seconds * 1000;
    await Promise.all(
      Array.from({ length: connections }, async () => {
        while (performance.now() < end) {
          const r = await postReview(server, bodies[next++ % configs] as string, { agent: server.agent });
          if (r.status !== 200) throw new Error(`rotation: HTTP ${r.status}`);
          done++;
        }
      }),
    );
    clearInterval(sampler);
    const cpuPer = ((await serverCpuUs(server)) - cpu0) / done;
    lines.push(`  end of load:     ${fmtMem(memoryOf(server.pid))}, sampled peak RSS ${mb(peak)} MB, ${(done / seconds).toFixed(0)} admissions/s, server CPU ${cpuPer.toFixed(0)} us per admission`);
    await new Promise((r) => setTimeout(r, 5000));
    lines.push(`  5 s idle later:  ${fmtMem(memoryOf(server.pid))}`);
  } finally {
    await server.stop();
  }
  return lines;
}

export async function runCostBench(): Promise<void> {
  for (const line of scalingFigures()) console.log(line);
  console.log();
  for (const line of await hostileFigures()) console.log(line);
  console.log();
  for (const configs of [1, 1000]) {
    for (const line of await rotationFigures(configs)) console.log(line);
    console.log();
  }
}
