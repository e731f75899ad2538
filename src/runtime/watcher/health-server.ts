// The watcher's HTTP endpoints on :8081: /healthz (200 once the labels were read and the chain verified) and
// /metrics (prom-client). Plain HTTP: the kubelet probes it, Prometheus scrapes it, nothing secret is served.
import http from 'node:http';
import type { WatcherMetrics } from './metrics.js';

export type ListenTarget = { path: string } | { host: string | undefined; port: number };

/** HOST:PORT, [V6]:PORT, :PORT or unix:/path. */
export function parseListen(text: string): ListenTarget | undefined {
  if (text.startsWith('unix:')) return text.length > 5 ? { path: text.slice(5) } : undefined;
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  const host = m[1] ?? (m[2] === '' ? undefined : m[2]);
  return { host, port };
}

export function createHealthServer(watcher: { health(): { ok: boolean } }, metrics: WatcherMetrics): http.Server {
  return http.createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      return;
    }
    if (url === '/healthz') {
      const h = watcher.health();
      res.writeHead(h.ok ? 200 : 503, { 'Content-Type': 'application/json' }).end(`${JSON.stringify(h)}\n`);
      return;
    }
    if (url === '/metrics') {
      metrics.registry.metrics().then(
        (text) => res.writeHead(200, { 'Content-Type': metrics.registry.contentType }).end(text),
        (err: Error) => res.writeHead(500).end(`${err.message}\n`),
      );
      return;
    }
    res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
  });
}
