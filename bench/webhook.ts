// Webhook throughput: ghostwire vs a bare Fastify HTTPS handler on the same ~5 KB Deployment AdmissionReview,
// side by side in one run. Each server runs in its own process; autocannon drives it from this one.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { parse } from 'yaml';
import { repoPathFromDist } from './paths.js';

export interface WebhookFigures {
  mode: string;
  requestsPerSec: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
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

async function startServer(mode: string): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [fileURLToPath(new URL('./webhook-server.js', import.meta.url)), mode], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) resolve((JSON.parse(line) as { port: number }).port);
    });
    child.on('exit', (code) => reject(new Error(`${mode} server exited ${code}`)));
  });
  return { child, port };
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

export async function runWebhookBench(seconds = Number(process.env.BENCH_SECONDS ?? 10)): Promise<WebhookFigures[]> {
  const body = benchReview();
  const figures: WebhookFigures[] = [];
  // Interleaved rounds so drift on a shared machine hits both sides alike.
  for (const round of [1, 2]) {
    for (const mode of ['bare', 'ghostwire']) {
      const { child, port } = await startServer(mode);
      try {
        await drive(port, body, 2); // warm-up: JIT, TLS session setup
        const r = await drive(port, body, seconds);
        figures.push({ mode: `${mode}#${round}`, requestsPerSec: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors, non2xx: r.non2xx });
      } finally {
        child.kill('SIGKILL');
      }
    }
  }
  return figures;
}

export function summarizeWebhook(figures: WebhookFigures[], bodyBytes: number): string {
  const best = (mode: string) => figures.filter((f) => f.mode.startsWith(`${mode}#`)).sort((a, b) => b.requestsPerSec - a.requestsPerSec)[0]!;
  const bare = best('bare');
  const gw = best('ghostwire');
  const rows = figures.map((f) => `  ${f.mode.padEnd(12)} ${f.requestsPerSec.toFixed(0).padStart(7)} req/s   p50 ${String(f.p50).padStart(3)} ms   p99 ${String(f.p99).padStart(3)} ms   errors ${f.errors} non-2xx ${f.non2xx}`);
  return [
    `Webhook: POST /mutate, ${bodyBytes} byte Deployment AdmissionReview, HTTPS, 20 connections`,
    ...rows,
    `  ratio (best of rounds): ghostwire / bare = ${(gw.requestsPerSec / bare.requestsPerSec).toFixed(2)}x throughput; ghostwire p99 ${gw.p99} ms (target >= 0.85x, p99 < 10 ms)`,
  ].join('\n');
}
