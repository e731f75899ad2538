// A stub Kubernetes API server over real HTTPS for the in-pod programs: lists Services, serves and watches one
// Pod (newline-delimited JSON watch stream), counts requests, injects failures. Listens on 127.0.0.1 or on a unix
// socket (which a network namespace reaches through test/helpers/netns.ts bridgeIntoNetns).
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTestPki, type TestPki } from './stub-tls.js';

export interface StubService {
  metadata: { name: string; namespace?: string };
  spec: { type?: string; clusterIP?: string; clusterIPs?: string[]; ports?: Array<{ name?: string; port: number; protocol?: string }> };
}

export interface StubRequest {
  path: string;
  query: URLSearchParams;
  kind: 'list-services' | 'get-pod' | 'watch-pod' | 'other';
  at: number;
  authorized: boolean;
}

export interface KubeStubOptions {
  /** Default: 127.0.0.1 on a free port. */
  listen?: { path: string } | { port: number };
  namespace?: string;
  podName?: string;
  labels?: Record<string, string>;
  services?: StubService[];
  token?: string;
  pki?: TestPki;
}

export interface KubeStub {
  readonly url: string | undefined;
  readonly socketPath: string | undefined;
  readonly pki: TestPki;
  readonly token: string;
  readonly namespace: string;
  readonly podName: string;
  services: StubService[];
  requests: StubRequest[];
  /** HTTP status to answer Service lists with (e.g. 500), or undefined for normal answers. */
  failServices: number | undefined;
  /** HTTP status to answer Pod GETs and watches with. */
  failPods: number | undefined;
  /** Watches asking for a resourceVersion below this get an ERROR 410 event (as the real API server does). */
  expiredBelow: number;
  readonly resourceVersion: number;
  labels: Record<string, string>;
  /** Change the Pod's labels: new resourceVersion, MODIFIED to every open watch. Returns Date.now() at the write. */
  setLabels(labels: Record<string, string>): number;
  /** Send a BOOKMARK with the current resourceVersion. */
  bookmark(): void;
  /** ERROR 410 event on every open watch (then the stream ends). */
  sendGone(): void;
  /** End every open watch normally (what a server-side timeout looks like). */
  endWatches(): void;
  /** Destroy every open watch connection (network failure). */
  breakWatches(): void;
  openWatches(): number;
  /** Requests of a kind since `since` (ms epoch). */
  count(kind: StubRequest['kind'], since?: number): number;
  /** Write a kubeconfig for this stub (server defaults to its URL). */
  writeKubeconfig(dir: string, opts?: { server?: string; auth?: 'token' | 'cert' | 'none'; name?: string }): string;
  close(): Promise<void>;
}

export async function startKubeStub(opts: KubeStubOptions = {}): Promise<KubeStub> {
  const pki = opts.pki ?? makeTestPki();
  const token = opts.token ?? `stub-token-${Math.random().toString(36).slice(2)}`;
  const namespace = opts.namespace ?? 'shop';
  const podName = opts.podName ?? 'orders-client-0';
  const watches = new Set<ServerResponse>();
  let rv = 1000;

  const podObject = (): object => ({
    kind: 'Pod',
    apiVersion: 'v1',
    metadata: { name: podName, namespace, resourceVersion: String(rv), labels: { ...stub.labels } },
  });

  const send = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
  };
  const status = (res: ServerResponse, code: number, message: string): void =>
    send(res, code, { kind: 'Status', apiVersion: 'v1', status: 'Failure', message, reason: code === 500 ? 'InternalError' : code === 401 ? 'Unauthorized' : code === 404 ? 'NotFound' : code === 410 ? 'Expired' : 'Failure', code });

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const u = new URL(req.url ?? '/', 'https://stub');
    const sock = req.socket as TLSSocket;
    const byToken = req.headers.authorization === `Bearer ${token}`;
    const byCert = sock.authorized === true && !!sock.getPeerCertificate()?.subject;
    const authorized = byToken || byCert;
    const servicesPath = `/api/v1/namespaces/${namespace}/services`;
    const podsPath = `/api/v1/namespaces/${namespace}/pods`;
    let kind: StubRequest['kind'] = 'other';
    if (u.pathname === servicesPath) kind = 'list-services';
    else if (u.pathname === `${podsPath}/${podName}`) kind = 'get-pod';
    else if (u.pathname === podsPath && u.searchParams.get('watch') === '1') kind = 'watch-pod';
    stub.requests.push({ path: u.pathname, query: u.searchParams, kind, at: Date.now(), authorized });
    if (!authorized) return status(res, 401, 'Unauthorized');
    if (kind === 'list-services') {
      if (stub.failServices) return status(res, stub.failServices, 'stub: services are unavailable');
      const limit = Number(u.searchParams.get('limit') ?? '0');
      const start = Number(u.searchParams.get('continue') ?? '0');
      const items = limit > 0 ? stub.services.slice(start, start + limit) : stub.services.slice(start);
      const next = limit > 0 && start + limit < stub.services.length ? String(start + limit) : undefined;
      return send(res, 200, { kind: 'ServiceList', apiVersion: 'v1', metadata: { resourceVersion: String(rv), ...(next ? { continue: next } : {}) }, items });
    }
    if (kind === 'get-pod') {
      if (stub.failPods) return status(res, stub.failPods, 'stub: pods are unavailable');
      return send(res, 200, podObject());
    }
    if (kind === 'watch-pod') {
      if (stub.failPods) return status(res, stub.failPods, 'stub: pods are unavailable');
      if (u.searchParams.get('fieldSelector') !== `metadata.name=${podName}`) return status(res, 400, 'stub: unexpected fieldSelector');
      res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
      res.flushHeaders();
      const from = Number(u.searchParams.get('resourceVersion') ?? '0');
      if (from > 0 && from < stub.expiredBelow) {
        res.end(`${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', status: 'Failure', message: `too old resource version: ${from} (${stub.expiredBelow})`, reason: 'Expired', code: 410 } })}\n`);
        return;
      }
      // Catch up like the real server: a watch from an older resourceVersion sees the change it missed.
      if (from > 0 && from < rv) res.write(`${JSON.stringify({ type: 'MODIFIED', object: podObject() })}\n`);
      watches.add(res);
      res.on('close', () => watches.delete(res));
      const timeout = Number(u.searchParams.get('timeoutSeconds') ?? '0');
      if (timeout > 0) {
        const t = setTimeout(() => {
          watches.delete(res);
          if (!res.writableEnded) res.end();
        }, timeout * 1000);
        res.on('close', () => clearTimeout(t));
      }
      return;
    }
    status(res, 404, `stub: no route for ${u.pathname}`);
  };

  const server = https.createServer({ key: pki.serverKeyPem, cert: pki.serverCertPem, ca: pki.caPem, requestCert: true, rejectUnauthorized: false }, handler);
  server.keepAliveTimeout = 60_000;
  const listen = opts.listen ?? { port: 0 };
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if ('path' in listen) server.listen(listen.path, resolve);
    else server.listen(listen.port, '127.0.0.1', resolve);
  });
  const addr = server.address();
  const url = typeof addr === 'object' && addr ? `https://127.0.0.1:${(addr as AddressInfo).port}` : undefined;

  const writeAll = (line: string): void => {
    for (const w of watches) if (!w.writableEnded) w.write(line);
  };
  const endAll = (last?: string): void => {
    for (const w of [...watches]) {
      watches.delete(w);
      if (!w.writableEnded) w.end(last);
    }
  };

  const stub: KubeStub = {
    url,
    socketPath: 'path' in listen ? listen.path : undefined,
    pki,
    token,
    namespace,
    podName,
    services: opts.services ?? [],
    requests: [],
    failServices: undefined,
    failPods: undefined,
    expiredBelow: 0,
    get resourceVersion() {
      return rv;
    },
    labels: { ...(opts.labels ?? {}) },
    setLabels(labels) {
      stub.labels = { ...labels };
      rv++;
      const at = Date.now();
      writeAll(`${JSON.stringify({ type: 'MODIFIED', object: podObject() })}\n`);
      return at;
    },
    bookmark() {
      writeAll(`${JSON.stringify({ type: 'BOOKMARK', object: { kind: 'Pod', apiVersion: 'v1', metadata: { resourceVersion: String(rv) } } })}\n`);
    },
    sendGone() {
      stub.expiredBelow = rv + 1;
      endAll(`${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', status: 'Failure', message: 'too old resource version', reason: 'Expired', code: 410 } })}\n`);
    },
    endWatches() {
      endAll();
    },
    breakWatches() {
      for (const w of watches) w.socket?.destroy();
    },
    openWatches: () => watches.size,
    count: (kind, since = 0) => stub.requests.filter((r) => r.kind === kind && r.at >= since).length,
    writeKubeconfig(dir, o = {}) {
      const server = o.server ?? url;
      if (!server) throw new Error('stub listens on a unix socket: pass the bridged server URL');
      const auth = o.auth ?? 'token';
      const user =
        auth === 'token'
          ? `    token: ${token}\n`
          : auth === 'cert'
            ? `    client-certificate-data: ${Buffer.from(pki.clientCertPem).toString('base64')}\n    client-key-data: ${Buffer.from(pki.clientKeyPem).toString('base64')}\n`
            : '    {}\n';
      const text = [
        'apiVersion: v1',
        'kind: Config',
        'current-context: stub',
        'clusters:',
        '- name: stub',
        '  cluster:',
        `    server: ${server}`,
        `    certificate-authority-data: ${Buffer.from(pki.caPem).toString('base64')}`,
        'users:',
        '- name: stub-user',
        '  user:',
        user.trimEnd(),
        'contexts:',
        '- name: stub',
        '  context:',
        '    cluster: stub',
        '    user: stub-user',
        `    namespace: ${namespace}`,
        '',
      ].join('\n');
      const path = join(dir, o.name ?? 'kubeconfig');
      writeFileSync(path, text, { mode: 0o600 });
      return path;
    },
    async close() {
      for (const w of watches) w.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return stub;
}

/** A ClusterIP Service object for fixtures. */
export function svc(name: string, ip: string | string[] | undefined, ports: Array<number | [number, string]> = [80], type?: string): StubService {
  const ips = ip === undefined ? [] : Array.isArray(ip) ? ip : [ip];
  const spec: StubService['spec'] = {
    ports: ports.map((p) => (Array.isArray(p) ? { port: p[0], protocol: p[1] } : { port: p, protocol: 'TCP' })),
  };
  if (type) spec.type = type;
  if (ips.length > 0) {
    spec.clusterIP = ips[0] as string;
    if (ips[0] !== 'None') spec.clusterIPs = ips;
  }
  return { metadata: { name }, spec };
}
