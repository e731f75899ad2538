// The shadow controller's /metrics (plain HTTP, the chart's container port "metrics", 8080): process metrics and
// ghostwire_workload_config_stale, computed at scrape time from the controller's informer caches. Nothing secret is
// served; /healthz answers 200 while the process runs.
import http from 'node:http';
import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';

export interface StaleSeriesLike {
  namespace: string;
  kind: string;
  name: string;
  value: number;
}

export function controllerRegistry(staleSeries: () => readonly StaleSeriesLike[]): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'ghostwire_shadow_' });
  new Gauge({
    name: 'ghostwire_workload_config_stale',
    help: '1 when an injected workload\'s pod template runs a config hash other than the one the current defaults and its annotations give (or ghostwire is still injected after it was switched off); 0 otherwise',
    labelNames: ['namespace', 'kind', 'name'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const s of staleSeries()) this.set({ namespace: s.namespace, kind: s.kind, name: s.name }, s.value);
    },
  });
  return registry;
}

export type MetricsListen = { path: string } | { host: string | undefined; port: number };

/** Serves the registry; resolves once listening, with the bound address. */
export async function serveMetrics(registry: Registry, at: MetricsListen): Promise<{ server: http.Server; address: string }> {
  const server = http.createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return void res.writeHead(405, { Allow: 'GET, HEAD' }).end();
    if (url === '/healthz') return void res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok\n');
    if (url !== '/metrics') return void res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
    registry.metrics().then(
      (text) => res.writeHead(200, { 'Content-Type': registry.contentType }).end(text),
      (err: Error) => res.writeHead(500, { 'Content-Type': 'text/plain' }).end(`${err.message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const ready = (): void => {
      server.off('error', reject);
      resolve();
    };
    if ('path' in at) server.listen(at.path, ready);
    else if (at.host === undefined) server.listen(at.port, ready);
    else server.listen(at.port, at.host, ready);
  });
  const a = server.address();
  return { server, address: typeof a === 'string' ? `unix:${a}` : a ? `${a.address.includes(':') ? `[${a.address}]` : a.address}:${a.port}` : '' };
}
