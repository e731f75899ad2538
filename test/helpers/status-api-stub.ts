// A read-only Kubernetes API stand-in over real HTTPS for `ghostwire status`: lists (namespaced and cluster-wide,
// label-selected, paginated with limit/continue as the API server does), gets, and the pod proxy answering from a
// table of metrics texts. Requests are recorded; a missing or wrong bearer token gets 401.
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KubeObject } from '../../src/kube/objects.js';
import { KINDS } from '../../src/status/workloads.js';
import { makeTestPki } from './stub-tls.js';

export interface StubAnswer {
  status: number;
  body: string;
  /** Delay before answering (ms); Infinity never answers. */
  delayMs?: number;
}

export interface StatusApiStub {
  url: string;
  /** Every request path with its query. */
  requests: string[];
  /** Pod proxy answers by "namespace/pod:port" (or "namespace/https:pod:port"); a list is answered in order, its last one from then on. */
  proxy: Map<string, StubAnswer | StubAnswer[]>;
  writeKubeconfig(dir: string): string;
  close(): Promise<void>;
}

const RESOURCES: Record<string, string> = {
  ...Object.fromEntries(KINDS.map((k) => [k.resource, k.kind.kind])),
  namespaces: 'Namespace',
  mutatingwebhookconfigurations: 'MutatingWebhookConfiguration',
  configmaps: 'ConfigMap',
};

function matches(o: KubeObject, selector: string | null): boolean {
  if (!selector) return true;
  return selector.split(',').every((term) => {
    const [k, v] = term.split('=');
    return o.metadata?.labels?.[k as string] === v;
  });
}

const status = (code: number, reason: string, message: string) => JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code, reason, message });

export async function startStatusApiStub(objects: KubeObject[], token = 'status-stub-token'): Promise<StatusApiStub> {
  const pki = makeTestPki();
  const requests: string[] = [];
  const proxy = new Map<string, StubAnswer | StubAnswer[]>();
  const server = https.createServer({ key: pki.serverKeyPem, cert: pki.serverCertPem }, (req, res) => {
    const url = new URL(req.url ?? '/', 'https://stub');
    requests.push(`${url.pathname}${url.search}`);
    const send = (code: number, body: string) => res.writeHead(code, { 'content-type': 'application/json' }).end(body);
    if (req.headers.authorization !== `Bearer ${token}`) return send(401, status(401, 'Unauthorized', 'Unauthorized'));
    const m = /\/pods\/([^/]+)\/proxy(\/.*)$/.exec(url.pathname);
    if (m) {
      const ns = url.pathname.split('/')[4];
      const listed = proxy.get(`${ns}/${decodeURIComponent(m[1] as string)}`);
      const answer = Array.isArray(listed) ? (listed.length > 1 ? listed.shift() : listed[0]) : listed;
      if (!answer) return send(503, status(503, 'ServiceUnavailable', 'error trying to reach service: no route'));
      if (answer.delayMs === Infinity) return undefined;
      setTimeout(() => res.writeHead(answer.status, { 'content-type': 'text/plain' }).end(answer.body), answer.delayMs ?? 0);
      return undefined;
    }
    // /api/v1/... or /apis/GROUP/VERSION/..., then [namespaces/NS/]RESOURCE[/NAME]
    const rest = url.pathname.replace(/^\/(api\/v1|apis\/[^/]+\/[^/]+)\//, '').split('/');
    let namespace: string | undefined;
    if (rest[0] === 'namespaces' && rest.length >= 3) {
      namespace = rest[1];
      rest.splice(0, 2);
    }
    const [resource, name] = rest;
    const kind = RESOURCES[String(resource)];
    if (!kind) return send(404, status(404, 'NotFound', 'the server could not find the requested resource'));
    const clusterScoped = kind === 'Namespace' || kind === 'MutatingWebhookConfiguration';
    const pool = objects.filter((o) => o.kind === kind && (clusterScoped || namespace === undefined || o.metadata?.namespace === namespace));
    if (name !== undefined) {
      const found = pool.find((o) => o.metadata?.name === name);
      return found ? send(200, JSON.stringify(found)) : send(404, status(404, 'NotFound', `${resource} "${name}" not found`));
    }
    const selected = pool.filter((o) => matches(o, url.searchParams.get('labelSelector')));
    const limit = Number(url.searchParams.get('limit') ?? 0) || selected.length;
    const from = Number(url.searchParams.get('continue') ?? 0);
    const page = selected.slice(from, from + limit);
    const next = from + limit < selected.length ? String(from + limit) : undefined;
    // Items of a list carry no kind or apiVersion, as from the real API server.
    const items = page.map(({ kind: _k, apiVersion: _a, ...rest }) => rest);
    return send(200, JSON.stringify({ kind: `${kind}List`, apiVersion: 'v1', metadata: { resourceVersion: '1', ...(next ? { continue: next } : {}) }, items }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    requests,
    proxy,
    writeKubeconfig(dir) {
      const ca = join(dir, 'stub-ca.crt');
      writeFileSync(ca, pki.caPem);
      const file = join(dir, 'kubeconfig');
      writeFileSync(file, [
        'apiVersion: v1',
        'kind: Config',
        `clusters: [{name: stub, cluster: {server: "${url}", certificate-authority: "${ca}"}}]`,
        `users: [{name: stub, user: {token: ${token}}}]`,
        'contexts: [{name: stub, context: {cluster: stub, user: stub, namespace: shop}}, {name: other, context: {cluster: stub, user: stub, namespace: legacy}}]',
        'current-context: stub',
        '',
      ].join('\n'), { mode: 0o600 });
      return file;
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
