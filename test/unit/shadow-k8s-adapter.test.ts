// K8sShadowApi against a tiny HTTP stand-in for the API server: checks the requests client-node sends
// (server-side apply, merge patch, delete preconditions, get-or-create races) and the error messages we keep.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { describeApiError } from '../../src/k8s/api-errors.js';
import { K8sShadowApi } from '../../src/k8s/shadow-api.js';
import { wireGuardKeysSecret } from '../../src/shadow/keys-secret.js';
import { planShadow } from '../../src/shadow/manifests.js';
import { input } from '../helpers/shadow-fixtures.js';

interface Seen {
  method: string;
  path: string;
  query: URLSearchParams;
  contentType: string | undefined;
  body: unknown;
}

const DISCOVERY: Record<string, Array<{ name: string; kind: string }>> = {
  '/api/v1': [
    { name: 'pods', kind: 'Pod' },
    { name: 'services', kind: 'Service' },
    { name: 'secrets', kind: 'Secret' },
    { name: 'configmaps', kind: 'ConfigMap' },
    { name: 'events', kind: 'Event' },
  ],
  '/apis/apps/v1': [
    { name: 'deployments', kind: 'Deployment' },
    { name: 'replicasets', kind: 'ReplicaSet' },
    { name: 'statefulsets', kind: 'StatefulSet' },
    { name: 'daemonsets', kind: 'DaemonSet' },
  ],
  '/apis/networking.k8s.io/v1': [
    { name: 'ingresses', kind: 'Ingress' },
    { name: 'networkpolicies', kind: 'NetworkPolicy' },
  ],
  '/apis/discovery.k8s.io/v1': [{ name: 'endpointslices', kind: 'EndpointSlice' }],
};

let server: Server;
let kc: KubeConfig;
const seen: Seen[] = [];
type Handler = (s: Seen, res: ServerResponse) => boolean;
let handler: Handler = () => false;

const send = (res: ServerResponse, code: number, body: unknown): void => {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};
const status = (code: number, reason: string, message: string) => ({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code, reason, message });

before(async () => {
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      const text = Buffer.concat(chunks).toString('utf8');
      const s: Seen = { method: req.method ?? '', path: url.pathname, query: url.searchParams, contentType: req.headers['content-type'], body: text ? JSON.parse(text) : undefined };
      const resources = DISCOVERY[url.pathname];
      if (req.method === 'GET' && resources) {
        send(res, 200, { kind: 'APIResourceList', groupVersion: url.pathname.replace(/^\/apis?\//, ''), resources: resources.map((r) => ({ ...r, namespaced: true, singularName: '', verbs: [] })) });
        return;
      }
      seen.push(s);
      if (!handler(s, res)) send(res, 404, status(404, 'NotFound', 'not found'));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: 'u', token: 'test-token' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
});

after(() => new Promise<void>((r) => server.close(() => r())));

test('apply is a server-side apply PATCH with fieldManager ghostwire-shadow and force', async () => {
  seen.length = 0;
  handler = (s, res) => {
    if (s.method !== 'PATCH') return false;
    send(res, 200, { ...(s.body as object), metadata: { ...(s.body as { metadata: object }).metadata, uid: 'u-1' } });
    return true;
  };
  const api = new K8sShadowApi(kc);
  const plan = planShadow(input(), { owner: { apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'default', name: 'my-pod', uid: 'w-1' } });
  for (const obj of plan.objects) {
    const out = await api.apply(obj);
    assert.equal(out.metadata?.uid, 'u-1');
  }
  assert.deepEqual(
    seen.map((s) => `${s.method} ${s.path}`),
    [
      'PATCH /apis/networking.k8s.io/v1/namespaces/default/networkpolicies/shadow-my-pod',
      'PATCH /api/v1/namespaces/default/services/shadow-my-pod',
      'PATCH /apis/apps/v1/namespaces/default/deployments/shadow-my-pod',
      'PATCH /apis/networking.k8s.io/v1/namespaces/default/ingresses/shadow-my-pod',
    ],
  );
  for (const s of seen) {
    assert.equal(s.contentType, 'application/apply-patch+yaml');
    assert.equal(s.query.get('fieldManager'), 'ghostwire-shadow');
    assert.equal(s.query.get('force'), 'true');
  }
  // The body is the whole typed object, nothing dropped by the serializer.
  assert.deepEqual(seen[2]!.body, JSON.parse(JSON.stringify(plan.objects[2])));
  assert.deepEqual(seen[0]!.body, JSON.parse(JSON.stringify(plan.objects[0])), 'empty egress list kept');
});

test('status annotation: JSON merge patch on the workload metadata; null deletes', async () => {
  seen.length = 0;
  handler = (s, res) => {
    if (s.method !== 'PATCH') return false;
    send(res, 200, { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'shop' } });
    return true;
  };
  const api = new K8sShadowApi(kc);
  await api.patchAnnotations({ apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'shop', name: 'web' }, { 'ghostwire.dev/tunnel-status': '{"phase":"Ready"}' });
  await api.patchAnnotations({ apiVersion: 'apps/v1', kind: 'StatefulSet', namespace: 'shop', name: 'db' }, { 'ghostwire.dev/tunnel-status': null });
  assert.equal(seen[0]!.contentType, 'application/merge-patch+json');
  assert.equal(seen[0]!.path, '/apis/apps/v1/namespaces/shop/deployments/web');
  assert.deepEqual((seen[0]!.body as { metadata: unknown }).metadata, { name: 'web', namespace: 'shop', annotations: { 'ghostwire.dev/tunnel-status': '{"phase":"Ready"}' } });
  assert.deepEqual((seen[1]!.body as { metadata: { annotations: unknown } }).metadata.annotations, { 'ghostwire.dev/tunnel-status': null });
  assert.equal(seen[1]!.query.get('force'), null, 'force only for apply');
});

test('a failed status write is an error with the API reason, for the caller to retry', async () => {
  handler = (s, res) => (s.method === 'PATCH' ? (send(res, 409, status(409, 'Conflict', 'the object has been modified')), true) : false);
  const api = new K8sShadowApi(kc);
  await assert.rejects(api.patchAnnotations({ apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'shop', name: 'web' }, { a: 'b' }), /patch annotations of Deployment shop\/web: HTTP 409 Conflict: the object has been modified/);
});

test('delete sends the uid precondition with background propagation; 404 and 409 mean "not ours any more"', async () => {
  seen.length = 0;
  let reply = 200;
  handler = (s, res) => {
    if (s.method !== 'DELETE') return false;
    send(res, reply, reply === 200 ? { kind: 'Status', apiVersion: 'v1', status: 'Success' } : status(reply, 'X', 'x'));
    return true;
  };
  const api = new K8sShadowApi(kc);
  const ref = { apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'default', name: 'shadow-my-pod' };
  await api.delete(ref, 'uid-7');
  assert.deepEqual(seen[0]!.body, { preconditions: { uid: 'uid-7' } });
  assert.equal(seen[0]!.query.get('propagationPolicy'), 'Background');
  reply = 404;
  await api.delete(ref, 'uid-7');
  reply = 409;
  await api.delete(ref, 'uid-7');
  reply = 500;
  await assert.rejects(api.delete(ref, 'uid-7'), /delete Deployment default\/shadow-my-pod: HTTP 500/);
});

test('get-or-create Secret: absent -> create; AlreadyExists -> re-read the winner; errors never echo keys', async () => {
  const identity = planShadow(input()).identity;
  const secret = wireGuardKeysSecret(identity, { serverPrivate: 'S'.repeat(43) + '=', serverPublic: 'P', clientPrivate: 'C'.repeat(43) + '=', clientPublic: 'Q' }, undefined);
  const ref = { apiVersion: 'v1', kind: 'Secret', namespace: 'default', name: identity.keysSecretName };
  const api = new K8sShadowApi(kc);

  // Absent: created.
  seen.length = 0;
  handler = (s, res) => {
    if (s.method === 'POST') return send(res, 201, s.body), true;
    return false;
  };
  let builds = 0;
  const created = await api.getOrCreateSecret(ref, () => (builds++, secret));
  assert.equal(created.created, true);
  assert.equal(builds, 1);
  assert.deepEqual(seen.map((s) => `${s.method} ${s.path}`), ['GET /api/v1/namespaces/default/secrets/shadow-my-pod-wg-keys', 'POST /api/v1/namespaces/default/secrets']);
  assert.equal(seen[1]!.query.get('fieldManager'), 'ghostwire-shadow');

  // Race: the create says AlreadyExists, the re-read returns the other writer's Secret.
  seen.length = 0;
  let gets = 0;
  const winner = { ...secret, metadata: { ...secret.metadata, uid: 'winner' } };
  handler = (s, res) => {
    if (s.method === 'GET') return gets++ === 0 ? false : (send(res, 200, winner), true);
    if (s.method === 'POST') return send(res, 409, status(409, 'AlreadyExists', 'secrets "shadow-my-pod-wg-keys" already exists')), true;
    return false;
  };
  const raced = await api.getOrCreateSecret(ref, () => secret);
  assert.equal(raced.created, false);
  assert.equal(raced.secret.metadata!.uid, 'winner');

  // Present: never built, never created.
  builds = 0;
  handler = (s, res) => (s.method === 'GET' ? (send(res, 200, winner), true) : false);
  assert.equal((await api.getOrCreateSecret(ref, () => (builds++, secret))).created, false);
  assert.equal(builds, 0);

  // An error response that echoes the request body is reduced to code, reason and message.
  handler = (s, res) => {
    if (s.method === 'POST') return send(res, 422, { ...status(422, 'Invalid', 'Secret is invalid'), details: { causes: [{ message: JSON.stringify(s.body) }] } }), true;
    return false;
  };
  await assert.rejects(api.getOrCreateSecret(ref, () => secret), (err: Error) => {
    assert.match(err.message, /create Secret default\/shadow-my-pod-wg-keys: HTTP 422 Invalid: Secret is invalid/);
    assert.ok(!err.message.includes('SSSS') && !err.message.includes(Buffer.from('S'.repeat(43) + '=').toString('base64')));
    return true;
  });
});

test('reads: 404 is "absent"; lists use label selectors', async () => {
  seen.length = 0;
  handler = (s, res) => {
    if (s.method === 'GET' && s.path.endsWith('/pods')) return send(res, 200, { apiVersion: 'v1', kind: 'PodList', metadata: {}, items: [{ metadata: { name: 'p1' } }] }), true;
    if (s.method === 'GET' && s.path.endsWith('/endpointslices')) return send(res, 200, { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSliceList', metadata: {}, items: [] }), true;
    return false;
  };
  const api = new K8sShadowApi(kc);
  assert.equal(await api.get({ apiVersion: 'v1', kind: 'Service', namespace: 'default', name: 'nope' }), undefined);
  const pods = await api.listPods('default', { 'app.kubernetes.io/name': 'ghostwire-shadow', 'app.kubernetes.io/instance': 'shadow-my-pod' });
  assert.equal(pods[0]!.metadata!.name, 'p1');
  await api.listEndpointSlices('default', 'shadow-my-pod');
  const podList = seen.find((s) => s.path === '/api/v1/namespaces/default/pods')!;
  assert.equal(podList.query.get('labelSelector'), 'app.kubernetes.io/instance=shadow-my-pod,app.kubernetes.io/name=ghostwire-shadow');
  const slices = seen.find((s) => s.path === '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices')!;
  assert.equal(slices.query.get('labelSelector'), 'kubernetes.io/service-name=shadow-my-pod');
});

test('describeApiError keeps one line', () => {
  assert.equal(describeApiError(new Error('connect ECONNREFUSED 127.0.0.1:6443\nmore')), 'connect ECONNREFUSED 127.0.0.1:6443');
  assert.equal(describeApiError(Object.assign(new Error('x'), { code: 403, body: JSON.stringify(status(403, 'Forbidden', 'nope')) })), 'HTTP 403 Forbidden: nope');
});
