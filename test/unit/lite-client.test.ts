import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LiteClient } from '../../src/k8s/lite/client.js';
import { AccessError, inClusterAccess, loadAccess, loadKubeconfig } from '../../src/k8s/lite/credentials.js';
import { ApiError, type PodLike, type WatchEvent } from '../../src/k8s/lite/objects.js';
import { startKubeStub, svc, type KubeStub } from '../helpers/kube-stub.js';
import { makeTestPki, type TestPki } from '../helpers/stub-tls.js';

let stub: KubeStub;
let pki: TestPki;
let dir: string;

before(async () => {
  pki = makeTestPki();
  stub = await startKubeStub({ pki, labels: { role: 'active' } });
  dir = mkdtempSync(join(tmpdir(), 'gw-lite-'));
});
after(async () => {
  await stub.close();
  rmSync(dir, { recursive: true, force: true });
});

async function client(auth: 'token' | 'cert' | 'none' = 'token'): Promise<LiteClient> {
  const path = stub.writeKubeconfig(dir, { auth, name: `kubeconfig-${auth}` });
  return new LiteClient(await loadKubeconfig(path), { timeoutMs: 5000 });
}

test('kubeconfig token + CA: lists Services across pages and sends the bearer token', async () => {
  stub.services = Array.from({ length: 1203 }, (_, i) => svc(`s${i}`, `10.96.${Math.floor(i / 250)}.${(i % 250) + 1}`));
  const before = stub.requests.length;
  const c = await client('token');
  try {
    const items = await c.listServices(stub.namespace);
    assert.equal(items.length, 1203);
    assert.equal(items[1202]?.metadata?.name, 's1202');
    const reqs = stub.requests.slice(before);
    assert.deepEqual(reqs.map((r) => [r.kind, r.authorized, r.query.get('limit'), r.query.get('continue')]), [
      ['list-services', true, '500', null],
      ['list-services', true, '500', '500'],
      ['list-services', true, '500', '1000'],
    ]);
  } finally {
    c.close();
    stub.services = [];
  }
});

test('kubeconfig client certificate authenticates without a token', async () => {
  const c = await client('cert');
  try {
    const pod = await c.getPod(stub.namespace, stub.podName);
    assert.equal(pod.metadata?.labels?.role, 'active');
    assert.equal(stub.requests.at(-1)?.authorized, true);
  } finally {
    c.close();
  }
});

test('errors carry the HTTP status and the Status message, never the token', async () => {
  const c = await client('none');
  try {
    await assert.rejects(c.getPod(stub.namespace, stub.podName), (err: unknown) => {
      assert.ok(err instanceof ApiError);
      assert.equal(err.status, 401);
      assert.equal(err.apiMessage, 'Unauthorized');
      return true;
    });
  } finally {
    c.close();
  }
  const t = await client('token');
  stub.failServices = 500;
  try {
    await assert.rejects(t.listServices(stub.namespace), (err: unknown) => {
      assert.ok(err instanceof ApiError);
      assert.equal(err.status, 500);
      assert.equal(err.reason, 'InternalError');
      assert.match(err.message, /^GET \/api\/v1\/namespaces\/shop\/services\?limit=500: HTTP 500 InternalError: stub: services are unavailable$/);
      assert.ok(!err.message.includes(stub.token));
      return true;
    });
  } finally {
    stub.failServices = undefined;
    t.close();
  }
});

test('a server certificate from another CA is refused', async () => {
  const other = makeTestPki();
  const access = await loadKubeconfig(stub.writeKubeconfig(dir, { name: 'kc-wrongca' }));
  access.ca = Buffer.from(other.caPem);
  const c = new LiteClient(access, { timeoutMs: 5000 });
  try {
    await assert.rejects(c.getPod(stub.namespace, stub.podName), /certificate/i);
  } finally {
    c.close();
  }
});

test('kubeconfig edge cases: relative CA path, exec plugins refused, missing context named', async () => {
  writeFileSync(join(dir, 'ca.pem'), pki.caPem);
  const text = [
    'current-context: a',
    'clusters: [{name: c, cluster: {server: "' + stub.url + '", certificate-authority: ca.pem}}]',
    'users: [{name: u, user: {token: "' + stub.token + '"}}, {name: e, user: {exec: {command: aws}}}]',
    'contexts: [{name: a, context: {cluster: c, user: u}}, {name: b, context: {cluster: c, user: e}}]',
  ].join('\n');
  writeFileSync(join(dir, 'kc-rel'), text);
  const c = new LiteClient(await loadKubeconfig(join(dir, 'kc-rel')));
  try {
    assert.equal((await c.getPod(stub.namespace, stub.podName)).metadata?.name, stub.podName);
  } finally {
    c.close();
  }
  await assert.rejects(loadKubeconfig(join(dir, 'kc-rel'), 'b'), (e: Error) => e instanceof AccessError && /exec\/auth-provider plugin/.test(e.message));
  await assert.rejects(loadKubeconfig(join(dir, 'kc-rel'), 'zzz'), /context "zzz" not found/);
  await assert.rejects(loadAccess({}), /no Kubernetes API credentials/);
  const access = await loadAccess({ KUBECONFIG: `${join(dir, 'missing')}:${join(dir, 'kc-rel')}` });
  assert.match(access.source, /context a/);
});

test('in-cluster: the service-account token is re-read on every request (projected tokens rotate)', async () => {
  const sa = mkdtempSync(join(tmpdir(), 'gw-sa-'));
  writeFileSync(join(sa, 'ca.crt'), pki.caPem);
  writeFileSync(join(sa, 'token'), 'stale-token\n');
  const port = new URL(stub.url as string).port;
  const c = new LiteClient(inClusterAccess({ KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: port }, sa));
  try {
    await assert.rejects(c.getPod(stub.namespace, stub.podName), (e: unknown) => e instanceof ApiError && e.status === 401);
    writeFileSync(join(sa, 'token'), `${stub.token}\n`);
    assert.equal((await c.getPod(stub.namespace, stub.podName)).metadata?.name, stub.podName);
  } finally {
    c.close();
  }
  assert.throws(() => inClusterAccess({ KUBERNETES_SERVICE_HOST: '127.0.0.1' }, join(sa, 'nope')), /ca\.crt unreadable/);
  rmSync(sa, { recursive: true, force: true });
});

test('watch: events in order, bookmarks, resourceVersion and fieldSelector sent; resolves when the server ends the stream', async () => {
  const c = await client('token');
  try {
    const seen: Array<WatchEvent<PodLike>> = [];
    const startRv = String(stub.resourceVersion);
    let opened = false;
    const done = c.watchPod(stub.namespace, stub.podName, { resourceVersion: startRv, timeoutSeconds: 30, onOpen: () => (opened = true), onEvent: (e) => seen.push(e) });
    await waitFor(() => stub.openWatches() === 1);
    stub.setLabels({ role: 'preview' });
    stub.bookmark();
    stub.setLabels({ role: 'active' });
    await waitFor(() => seen.length === 3);
    stub.endWatches();
    const { events } = await done;
    assert.equal(events, 3);
    assert.equal(opened, true);
    assert.deepEqual(seen.map((e) => [e.type, e.object.metadata?.labels?.role, e.object.metadata?.resourceVersion]), [
      ['MODIFIED', 'preview', String(Number(startRv) + 1)],
      ['BOOKMARK', undefined, String(Number(startRv) + 1)],
      ['MODIFIED', 'active', String(Number(startRv) + 2)],
    ]);
    const req = stub.requests.filter((r) => r.kind === 'watch-pod').at(-1);
    assert.equal(req?.query.get('fieldSelector'), `metadata.name=${stub.podName}`);
    assert.equal(req?.query.get('resourceVersion'), startRv);
    assert.equal(req?.query.get('allowWatchBookmarks'), 'true');
    assert.equal(req?.query.get('timeoutSeconds'), '30');
  } finally {
    c.close();
  }
});

test('watch: 410 Gone as an ERROR event and as an HTTP status both reject with ApiError 410', async () => {
  const c = await client('token');
  try {
    const done = c.watchPod(stub.namespace, stub.podName, { resourceVersion: String(stub.resourceVersion), onEvent: () => undefined });
    await waitFor(() => stub.openWatches() === 1);
    stub.sendGone();
    await assert.rejects(done, (e: unknown) => e instanceof ApiError && e.status === 410 && e.reason === 'Expired');
    // A later watch from the expired version is answered with the ERROR event straight away.
    await assert.rejects(
      c.watchPod(stub.namespace, stub.podName, { resourceVersion: '1', onEvent: () => undefined }),
      (e: unknown) => e instanceof ApiError && e.status === 410 && /too old resource version/.test(e.message),
    );
    stub.expiredBelow = 0;
  } finally {
    c.close();
  }
  // HTTP-level 410 from a raw server.
  await withRawServer((req, res) => {
    res.writeHead(410, { 'Content-Type': 'application/json' }).end(JSON.stringify({ kind: 'Status', code: 410, reason: 'Gone', message: 'resource version expired' }));
  }, async (cl) => {
    await assert.rejects(cl.watchPod('ns', 'p', { onEvent: () => undefined }), (e: unknown) => e instanceof ApiError && e.status === 410 && e.apiMessage === 'resource version expired');
  });
});

test('watch stream parsing: events split across chunks, several per chunk, multi-byte characters split', async () => {
  const ev = (role: string, rv: number) => JSON.stringify({ type: 'MODIFIED', object: { metadata: { resourceVersion: String(rv), labels: { role } } } });
  const text = `${ev('preview', 1)}\n${ev('actïve', 2)}\n\n${ev('preview', 3)}\n${ev('last', 4)}\n`;
  const bytes = Buffer.from(text, 'utf8');
  const cut1 = text.indexOf('resourceVersion') + 3; // inside the first event
  const cut2 = Buffer.from(text.slice(0, text.indexOf('ï')), 'utf8').length + 1; // inside the 2-byte "ï"
  await withRawServer(async (req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.write(bytes.subarray(0, cut1));
    await new Promise((r) => setTimeout(r, 20));
    res.write(bytes.subarray(cut1, cut2));
    await new Promise((r) => setTimeout(r, 20));
    res.end(bytes.subarray(cut2));
  }, async (cl) => {
    const roles: string[] = [];
    const { events } = await cl.watchPod('ns', 'p', { onEvent: (e) => roles.push(e.object.metadata?.labels?.role ?? '') });
    assert.equal(events, 4);
    assert.deepEqual(roles, ['preview', 'actïve', 'preview', 'last']);
  });
});

test('watch: a malformed line, an idle stream and an abort all end the watch with an error', async () => {
  await withRawServer((req, res) => {
    res.writeHead(200).write('{"type":"MODIFIED","object":{}}\nnot json\n');
  }, async (cl) => {
    await assert.rejects(cl.watchPod('ns', 'p', { onEvent: () => undefined }), /malformed event line/);
  });
  await withRawServer((req, res) => {
    res.writeHead(200).write('\n');
  }, async (cl) => {
    await assert.rejects(cl.watchPod('ns', 'p', { idleTimeoutMs: 150, onEvent: () => undefined }), /nothing received for 150 ms/);
    const ac = new AbortController();
    const p = cl.watchPod('ns', 'p', { signal: ac.signal, onEvent: () => undefined });
    setTimeout(() => ac.abort(), 50);
    await assert.rejects(p, (e: Error) => e.name === 'AbortError');
  });
});

async function withRawServer(
  handler: (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => void | Promise<void>,
  body: (c: LiteClient) => Promise<void>,
): Promise<void> {
  const server = https.createServer({ key: pki.serverKeyPem, cert: pki.serverCertPem }, (req, res) => void handler(req, res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const c = new LiteClient({ server: new URL(`https://127.0.0.1:${port}`), ca: Buffer.from(pki.caPem), token: () => 't', source: 'test' }, { timeoutMs: 5000 });
  try {
    await body(c);
  } finally {
    c.close();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
}

async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
