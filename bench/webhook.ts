// Webhook throughput: ghostwire vs a bare Fastify HTTPS handler on the same ~5 KB Deployment AdmissionReview,
// side by side in one run. Each server runs in its own process; autocannon drives it from this one.
import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';
import { parse } from 'yaml';
import { repoPathFromDist } from './paths.js';
import { startBenchServer } from './webhook-client.js';

export interface WebhookFigures {
  mode: string;
  requestsPerSec: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
  /** Server process CPU time per request (user + system), microseconds. */
  cpuUs: number;
}

/** A realistic review: the fixture Deployment plus what kubectl apply and real manifests carry. */
export function benchReview(): string {
  const dep = parse(readFileSync(repoPathFromDist('test', 'fixtures', 'injector', 'deployment.yaml'), 'utf8')) as any;
  const c = dep.spec.template.spec.containers[0];
  c.env = Array.from({ length: 24 }, (_, i) => ({ name: `FEATURE_FLAG_${i}`, value: `value-${i}-${'x'.repeat(12)}` }));
  c.readinessProbe = { httpGet: { path: '/ready', port: 'http' }, periodSeconds: 5 };
  c.livenessProbe = { httpGet: { path: '/live', port: 'http' }, periodSeconds: 10 };
  dep.metadata.labels = { ...dep.metadata.labels, 'app.kubernetes.io/name': 'orders-web', 'app.kubernetes.io/version': '1.4.2', team: 'checkout' };
  dep.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration'] = JSON.stringify({ ...dep, metadata: { name: dep.metadata.name } });
  const review = {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: '0df28fbd-5f5f-11e8-bc74-36e6bb280816',
      kind: { group: 'apps', version: 'v1', kind: 'Deployment' },
      resource: { group: 'apps', version: 'v1', resource: 'deployments' },
      requestKind: { group: 'apps', version: 'v1', kind: 'Deployment' },
      name: dep.metadata.name,
      namespace: 'shop',
      operation: 'CREATE',
      userInfo: { username: 'kubernetes-admin', groups: ['system:masters', 'system:authenticated'] },
      object: dep,
      oldObject: null,
      dryRun: false,
      options: { kind: 'CreateOptions', apiVersion: 'meta.k8s.io/v1', fieldManager: 'kubectl-client-side-apply' },
    },
  };
  return JSON.stringify(review);
}

async function drive(port: number, body: string, seconds: number): Promise<autocannon.Result> {
  return autocannon({
    url: `https://127.0.0.1:${port}/mutate`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
    connections: 20,
    duration: seconds,
  });
}

/** CPU time the server process spent per request over a fixed number of requests (robust to machine noise). */
async function cpuPerRequest(port: number, body: string, requests: number): Promise<number> {
  const { get } = await import('node:https');
  const cpu = () =>
    new Promise<NodeJS.CpuUsage>((resolve, reject) => {
      get({ host: '127.0.0.1', port, path: '/bench/cpu', rejectUnauthorized: false }, (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve(JSON.parse(text) as NodeJS.CpuUsage));
      }).on('error', reject);
    });
  const before = await cpu();
  await autocannon({ url: `https://127.0.0.1:${port}/mutate`, method: 'POST', headers: { 'content-type': 'application/json' }, body, connections: 20, amount: requests });
  const after = await cpu();
  return (after.user + after.system - before.user - before.system) / requests;
}

export const MODES = ['bare', 'bare-patch', 'ghostwire'] as const;

export async function runWebhookBench(seconds = Number(process.env.BENCH_SECONDS ?? 10)): Promise<WebhookFigures[]> {
  const body = benchReview();
  const figures: WebhookFigures[] = [];
  // Interleaved rounds so drift on a shared machine hits every mode alike.
  for (const round of [1, 2]) {
    for (const mode of MODES) {
      const server = await startBenchServer(mode);
      const { port } = server;
      try {
        await drive(port, body, 2); // warm-up: JIT, TLS session setup
        const r = await drive(port, body, seconds);
        const cpuUs = await cpuPerRequest(port, body, 20_000);
        figures.push({ mode: `${mode}#${round}`, requestsPerSec: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors, non2xx: r.non2xx, cpuUs });
      } finally {
        await server.stop();
      }
    }
  }
  return figures;
}

export function summarizeWebhook(figures: WebhookFigures[], bodyBytes: number): string {
  const best = (mode: string) => figures.filter((f) => f.mode.startsWith(`${mode}#`)).sort((a, b) => b.requestsPerSec - a.requestsPerSec)[0]!;
  const leastCpu = (mode: string) => Math.min(...figures.filter((f) => f.mode.startsWith(`${mode}#`)).map((f) => f.cpuUs));
  const bare = best('bare');
  const bp = best('bare-patch');
  const gw = best('ghostwire');
  const rows = figures.map(
    (f) => `  ${f.mode.padEnd(13)} ${f.requestsPerSec.toFixed(0).padStart(7)} req/s   p50 ${String(f.p50).padStart(3)} ms   p99 ${String(f.p99).padStart(3)} ms   server CPU ${f.cpuUs.toFixed(0).padStart(4)} us/req   errors ${f.errors} non-2xx ${f.non2xx}`,
  );
  return [
    `Webhook: POST /mutate, ${bodyBytes} byte Deployment AdmissionReview, HTTPS, 20 connections, ${process.env.BENCH_SECONDS ?? 10} s per run`,
    ...rows,
    `  ghostwire / bare:       ${(gw.requestsPerSec / bare.requestsPerSec).toFixed(2)}x throughput, ${(leastCpu('bare') / leastCpu('ghostwire')).toFixed(2)}x CPU efficiency (target >= 0.85x)`,
    `  ghostwire / bare-patch: ${(gw.requestsPerSec / bp.requestsPerSec).toFixed(2)}x throughput, ${(leastCpu('bare-patch') / leastCpu('ghostwire')).toFixed(2)}x CPU efficiency (same answer size)`,
    `  ghostwire p99 ${gw.p99} ms (target < 10 ms)`,
  ].join('\n');
}
