// A stub Kubernetes API server over real HTTPS for the in-pod programs: lists and watches Services, serves and
// watches one Pod (newline-delimited JSON watch streams), takes Events, counts requests, injects failures. Listens on 127.0.0.1 or on a unix
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
  kind: 'list-services' | 'watch-services' | 'get-pod' | 'watch-pod' | 'create-event' | 'patch-event' | 'other';
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
  /** The Services as stored; assigning it sends no watch events (use setServices for that). */
  services: StubService[];
  requests: StubRequest[];
  /** Events created (and patched) through the API. */
  events: Array<{ name: string; body: Record<string, any> }>;
  /** HTTP status to answer Event writes with (e.g. 403), or undefined. */
  failEvents: number | undefined;
  /** Replace the Services: ADDED, MODIFIED and DELETED events to every open Service watch, one resourceVersion each. */
  setServices(services: StubService[]): void;
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
  /** Open watches: of the Pod (default), of the Services, or all. */
  openWatches(kind?: 'pod' | 'services' | 'all'): number;
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
  const serviceWatches = new Set<ServerResponse>();
  let rv = 1000;
  const serviceRv = new Map<string, number>();
  const withRv = (s: StubService): object => ({ ...s, metadata: { ...s.metadata, namespace, resourceVersion: String(serviceRv.get(s.metadata.name) ?? rv) } });

  const podObject = (): object => ({
    kind: 'Pod',
    apiVersion: 'v1',
    metadata: { name: podName, namespace, uid: 'stub-pod-uid', resourceVersion: String(rv), labels: { ...stub.labels }, annotations: { 'ghostwire.dev/status': '{"configHash":"0123456789abcdef"}' } },
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
    const eventsPath = `/api/v1/namespaces/${namespace}/events`;
    let kind: StubRequest['kind'] = 'other';
    if (u.pathname === servicesPath && u.searchParams.get('watch') === '1') kind = 'watch-services';
    else if (u.pathname === servicesPath) kind = 'list-services';
    else if (u.pathname === eventsPath && req.method === 'POST') kind = 'create-event';
    else if (u.pathname.startsWith(`${eventsPath}/`) && req.method === 'PATCH') kind = 'patch-event';
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
      return send(res, 200, { kind: 'ServiceList', apiVersion: 'v1', metadata: { resourceVersion: String(rv), ...(next ? { continue: next } : {}) }, items: items.map(withRv) });
    }
    if (kind === 'watch-services') {
      if (stub.failServices) return status(res, stub.failServices, 'stub: services are unavailable');
      return openWatch(u, res, serviceWatches, () => undefined);
    }
    if (kind === 'create-event' || kind === 'patch-event') return eventWrite(kind, u, req, res);
    if (kind === 'get-pod') {
      if (stub.failPods) return status(res, stub.failPods, 'stub: pods are unavailable');
      return send(res, 200, podObject());
    }
    if (kind === 'watch-pod') {
      if (stub.failPods) return status(res, stub.failPods, 'stub: pods are unavailable');
      if (u.searchParams.get('fieldSelector') !== `metadata.name=${podName}`) return status(res, 400, 'stub: unexpected fieldSelector');
      // Catch up like the real server: a watch from an older resourceVersion sees the change it missed.
      return openWatch(u, res, watches, (from) => (from < rv ? `${JSON.stringify({ type: 'MODIFIED', object: podObject() })}\n` : undefined));
    }
    status(res, 404, `stub: no route for ${u.pathname}`);
  };

  function openWatch(u: URL, res: ServerResponse, set: Set<ServerResponse>, catchUp: (from: number) => string | undefined): void {
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    res.flushHeaders();
    const from = Number(u.searchParams.get('resourceVersion') ?? '0');
    if (from > 0 && from < stub.expiredBelow) {
      res.end(`${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', status: 'Failure', message: `too old resource version: ${from} (${stub.expiredBelow})`, reason: 'Expired', code: 410 } })}\n`);
      return;
    }
    const missed = from > 0 ? catchUp(from) : undefined;
    if (missed) res.write(missed);
    set.add(res);
    res.on('close', () => set.delete(res));
    const timeout = Number(u.searchParams.get('timeoutSeconds') ?? '0');
    if (timeout > 0) {
      const t = setTimeout(() => {
        set.delete(res);
        if (!res.writableEnded) res.end();
      }, timeout * 1000);
      res.on('close', () => clearTimeout(t));
    }
  }

  function eventWrite(kind: 'create-event' | 'patch-event', u: URL, req: IncomingMessage, res: ServerResponse): void {
    let text = '';
    req.on('data', (d: Buffer) => (text += d.toString()));
    req.on('end', () => {
      if (stub.failEvents) return status(res, stub.failEvents, 'stub: events are unavailable');
      const body = JSON.parse(text) as Record<string, any>;
      if (kind === 'create-event') {
        const name = `${body.metadata?.generateName ?? 'event.'}${stub.events.length}`;
        stub.events.push({ name, body: { ...body, metadata: { ...body.metadata, name } } });
        return send(res, 201, { ...body, metadata: { ...body.metadata, name } });
      }
      const name = u.pathname.split('/').pop() as string;
      const ev = stub.events.find((e) => e.name === name);
      if (!ev) return status(res, 404, 'stub: no such event');
      Object.assign(ev.body, body);
      return send(res, 200, ev.body);
    });
  }

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

  const writeAll = (line: string, set = watches): void => {
    for (const w of set) if (!w.writableEnded) w.write(line);
  };
  const endAll = (last?: string): void => {
    for (const set of [watches, serviceWatches]) {
      for (const w of [...set]) {
        set.delete(w);
        if (!w.writableEnded) w.end(last);
      }
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
    events: [],
    failEvents: undefined,
    setServices(next) {
      const before = new Map(stub.services.map((s) => [s.metadata.name, JSON.stringify(s)]));
      const after = new Set(next.map((s) => s.metadata.name));
      const lines: string[] = [];
      for (const s of stub.services) {
        if (after.has(s.metadata.name)) continue;
        rv++;
        serviceRv.delete(s.metadata.name);
        lines.push(JSON.stringify({ type: 'DELETED', object: { ...s, metadata: { ...s.metadata, namespace, resourceVersion: String(rv) } } }));
      }
      for (const s of next) {
        const was = before.get(s.metadata.name);
        if (was === JSON.stringify(s)) continue;
        rv++;
        serviceRv.set(s.metadata.name, rv);
        lines.push(JSON.stringify({ type: was === undefined ? 'ADDED' : 'MODIFIED', object: withRv(s) }));
      }
      stub.services = next;
      if (lines.length > 0) writeAll(`${lines.join('\n')}\n`, serviceWatches);
    },
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
      for (const w of [...watches, ...serviceWatches]) w.socket?.destroy();
    },
    openWatches: (kind = 'pod') => (kind === 'pod' ? watches.size : kind === 'services' ? serviceWatches.size : watches.size + serviceWatches.size),
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
      for (const w of [...watches, ...serviceWatches]) w.destroy();
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
