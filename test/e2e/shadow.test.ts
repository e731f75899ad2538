// The shadow controller (`ghostwire shadow run`, the real binary) against a real kube-apiserver + etcd +
// kube-controller-manager from test/e2e/harness.ts. There is no kubelet: the test plays it by binding the shadow pod
// to a fake Node and setting its status, so the EndpointSlice controller publishes a ready endpoint.
//
// The harness is loaded at run time; without it (a branch that does not have it yet) the test is skipped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { upgradePathPrefix } from '../../src/shadow/tunnel-key.js';
import { CLI } from '../helpers/paths.js';

interface Plane {
  kubeconfigPath: string;
  kubectl: (args: string[], opts?: { input?: string; allowFail?: boolean }) => Promise<string | { code: number; stdout: string; stderr: string }>;
  api: (method: string, path: string, body?: unknown, contentType?: string) => Promise<{ status: number; body: any }>;
  stop: () => Promise<void>;
}

const HARNESS = join(dirname(fileURLToPath(import.meta.url)), 'harness.js');
const NS = 'shop';
const KEY = 'e2e-tunnel-signing-key-0123456789abcdef';

async function waitFor<T>(what: string, ms: number, probe: () => Promise<T | undefined | false>): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v as T;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}

test('shadow controller on a real API server: apply, readiness, status, events, mode switch, teardown, GC', { timeout: 240_000, skip: !existsSync(HARNESS) && 'test/e2e/harness.ts is not in this tree' }, async () => {
  const { startControlPlane } = (await import(HARNESS)) as { startControlPlane: () => Promise<Plane> };
  const cp = await startControlPlane();
  let controller: ChildProcess | undefined;
  let controllerLog = '';
  const kubectl = async (args: string[], input?: string): Promise<string> => {
    const out = await cp.kubectl(args, input === undefined ? {} : { input });
    return typeof out === 'string' ? out : out.stdout;
  };
  const getJson = async (path: string): Promise<any> => {
    const r = await cp.api('GET', path);
    return r.status === 200 ? r.body : undefined;
  };
  const workload = () => getJson(`/apis/apps/v1/namespaces/${NS}/deployments/web`);
  const status = async () => {
    const text = (await workload())?.metadata?.annotations?.['ghostwire.dev/tunnel-status'];
    return text === undefined ? undefined : (JSON.parse(text) as { phase: string; mode?: string; endpoint?: string; hash?: string; reason?: string });
  };
  const events = async () =>
    ((await getJson(`/api/v1/namespaces/${NS}/events`))?.items ?? [])
      .filter((e: any) => e.involvedObject?.name === 'web')
      .map((e: any) => e.reason as string);
  const annotate = (...kv: string[]) => kubectl(['-n', NS, 'annotate', 'deployment', 'web', '--overwrite', ...kv]);
  const shadowPath = {
    deployment: `/apis/apps/v1/namespaces/${NS}/deployments/shadow-web`,
    service: `/api/v1/namespaces/${NS}/services/shadow-web`,
    ingress: `/apis/networking.k8s.io/v1/namespaces/${NS}/ingresses/shadow-web`,
    policy: `/apis/networking.k8s.io/v1/namespaces/${NS}/networkpolicies/shadow-web`,
    wgConfig: `/api/v1/namespaces/${NS}/configmaps/shadow-web-wg-config`,
    keys: `/api/v1/namespaces/${NS}/secrets/shadow-web-wg-keys`,
  };
  const exists = async (path: string) => (await cp.api('GET', path)).status === 200;

  /** Play kubelet and scheduler for the shadow's current pod. */
  const makeShadowPodReady = async (ip: string) => {
    const pod = await waitFor('a shadow pod', 30_000, async () => {
      const list = await getJson(`/api/v1/namespaces/${NS}/pods?labelSelector=app.kubernetes.io%2Finstance%3Dshadow-web`);
      return (list?.items ?? []).find((p: any) => !p.metadata.deletionTimestamp);
    });
    const name = pod.metadata.name as string;
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const bind = await cp.api('POST', `/api/v1/namespaces/${NS}/pods/${name}/binding`, { apiVersion: 'v1', kind: 'Binding', metadata: { name }, target: { apiVersion: 'v1', kind: 'Node', name: 'n1' } });
    assert.ok(bind.status < 300, `bind: ${JSON.stringify(bind.body)}`);
    const cond = (type: string) => ({ type, status: 'True', lastTransitionTime: now });
    const patched = await cp.api(
      'PATCH',
      `/api/v1/namespaces/${NS}/pods/${name}/status`,
      { status: { phase: 'Running', podIP: ip, podIPs: [{ ip }], conditions: [cond('PodScheduled'), cond('ContainersReady'), cond('Ready')] } },
      'application/merge-patch+json',
    );
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
  };

  try {
    const dir = mkdtempSync(join(tmpdir(), 'gw-shadow-e2e-'));
    writeFileSync(join(dir, 'tunnel.key'), `${KEY}\n`);
    writeFileSync(join(dir, 'config.yaml'), 'network:\n  wildcardDNS: tunnel.example.com\n  ingressTLS: true\n');
    await kubectl(['create', 'namespace', NS]);
    // A Node that reports Ready, so the EndpointSlice controller accepts pods bound to it.
    await kubectl(['apply', '-f', '-'], 'apiVersion: v1\nkind: Node\nmetadata:\n  name: n1\n');
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    await cp.api('PATCH', '/api/v1/nodes/n1/status', { status: { conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', lastHeartbeatTime: now, lastTransitionTime: now }] } }, 'application/merge-patch+json');

    controller = spawn(process.execPath, [CLI, 'shadow', 'run', '--kubeconfig', cp.kubeconfigPath, '--defaults', join(dir, 'config.yaml'), '--tunnel-key-file', join(dir, 'tunnel.key')], { stdio: ['ignore', 'pipe', 'pipe'] });
    controller.stdout!.on('data', (d: Buffer) => (controllerLog += d.toString()));
    controller.stderr!.on('data', (d: Buffer) => (controllerLog += d.toString()));
    await waitFor('the controller to watch', 30_000, async () => controllerLog.includes('shadow controller watching'));

    await kubectl(
      ['apply', '-f', '-'],
      [
        'apiVersion: apps/v1',
        'kind: Deployment',
        'metadata:',
        '  name: web',
        `  namespace: ${NS}`,
        '  annotations: {ghostwire.dev/tunnel: "true", ghostwire.dev/tunnelTimeout: "90s"}',
        'spec:',
        '  replicas: 1',
        '  selector: {matchLabels: {app: web}}',
        '  template:',
        '    metadata: {labels: {app: web}}',
        '    spec:',
        '      containers: [{name: app, image: shop:1, ports: [{containerPort: 8080, name: http}, {containerPort: 5353, protocol: UDP, name: dns}]}]',
        '',
      ].join('\n'),
    );

    // Applied, owned, server-side applied by our field manager, with one host everywhere.
    const ingress = await waitFor('the shadow Ingress', 30_000, () => getJson(shadowPath.ingress));
    const w = await workload();
    assert.deepEqual(ingress.spec.rules.map((r: any) => r.host), ['web-shop.tunnel.example.com']);
    assert.deepEqual(ingress.spec.tls, [{ hosts: ['web-shop.tunnel.example.com'], secretName: 'shadow-web-tls' }]);
    assert.equal(ingress.metadata.annotations['cert-manager.io/cluster-issuer'], 'lets-issuer');
    assert.deepEqual(ingress.metadata.ownerReferences.map((o: any) => [o.kind, o.name, o.uid]), [['Deployment', 'web', w.metadata.uid]]);
    assert.ok(ingress.metadata.managedFields.some((m: any) => m.manager === 'ghostwire-shadow' && m.operation === 'Apply'));
    const shadow = await getJson(shadowPath.deployment);
    const args = shadow.spec.template.spec.containers[0].args as string[];
    assert.equal(args[args.indexOf('--restrict-http-upgrade-path-prefix') + 1], upgradePathPrefix(KEY, NS, 'web'));
    assert.ok(await exists(shadowPath.policy));
    assert.equal((await status())?.phase, 'Pending');

    // Not ready while the pod only exists; Ready once the current pod is Ready and has a ready endpoint.
    await makeShadowPodReady('10.244.0.9');
    const ready = await waitFor('status Ready', 60_000, async () => ((await status())?.phase === 'Ready' ? status() : undefined));
    assert.deepEqual(ready, { phase: 'Ready', mode: 'plain', endpoint: 'web-shop.tunnel.example.com', hash: ready!.hash });
    assert.deepEqual((await events()).filter((r: string) => r.startsWith('Shadow')).sort(), ['ShadowPending', 'ShadowReady']);

    // Full mesh: WireGuard objects appear, the plain NetworkPolicy goes, keys live only in the Secret.
    await annotate('ghostwire.dev/fullMesh=true');
    await waitFor('the keys Secret and the WireGuard ConfigMap', 30_000, async () => (await exists(shadowPath.keys)) && (await exists(shadowPath.wgConfig)));
    await waitFor('the NetworkPolicy to go', 30_000, async () => !(await exists(shadowPath.policy)));
    const secret = await getJson(shadowPath.keys);
    assert.equal(secret.metadata.ownerReferences[0].uid, w.metadata.uid);
    const privates = ['server-private-key', 'client-private-key'].map((k) => Buffer.from(secret.data[k], 'base64').toString());
    const visible = JSON.stringify([await getJson(shadowPath.wgConfig), (await workload()).metadata.annotations, await getJson(`/api/v1/namespaces/${NS}/events`)]);
    for (const p of privates) {
      assert.ok(!visible.includes(p), 'a private key is visible outside its Secret');
      assert.ok(!controllerLog.includes(p), 'a private key was logged');
    }

    // Tunnel off: everything the workload owns goes, with the status annotation.
    await annotate('ghostwire.dev/tunnel=false');
    await waitFor('every shadow object to be deleted', 60_000, async () => {
      for (const p of Object.values(shadowPath)) if (await exists(p)) return false;
      return true;
    });
    await waitFor('the status annotation to be removed', 30_000, async () => (await status()) === undefined);
    await waitFor('a ShadowRemoved event', 30_000, async () => (await events()).includes('ShadowRemoved'));

    // Tunnel on again, then delete the workload: the garbage collector removes the shadow (owner references).
    await annotate('ghostwire.dev/tunnel=true', 'ghostwire.dev/fullMesh=false');
    await waitFor('the shadow Service again', 30_000, () => exists(shadowPath.service));
    await kubectl(['-n', NS, 'delete', 'deployment', 'web', '--wait=false']);
    await waitFor('garbage collection of the shadow', 90_000, async () => !(await exists(shadowPath.service)) && !(await exists(shadowPath.ingress)) && !(await exists(shadowPath.deployment)));
  } catch (err) {
    process.stderr.write(`--- controller log\n${controllerLog.split('\n').slice(-40).join('\n')}\n`);
    throw err;
  } finally {
    if (controller && controller.exitCode === null) {
      const exited = new Promise((r) => controller!.once('exit', r));
      controller.kill('SIGTERM');
      await exited;
    }
    await cp.stop();
  }
});
