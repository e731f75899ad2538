// The shadow controller (`ghostwire shadow run`, the real binary) against a real kube-apiserver + etcd +
// kube-controller-manager from test/e2e/harness.ts. There is no kubelet: the test plays it by binding the shadow pod
// to a fake Node and setting its status, so the EndpointSlice controller publishes a ready endpoint.
// Failure paths, readiness rules and status write failures have their own files (shadow-*.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { upgradePathPrefix } from '../../src/shadow/tunnel-key.js';
import { waitFor } from './harness.js';
import { TUNNEL_KEY, defaultsConfigMap, startShadowTest, tunnelWorkload } from './shadow-env.js';

const NS = 'shop';

test('shadow controller on a real API server: apply, readiness, status, events, mode switch, teardown, GC', { timeout: 120_000 }, async (t) => {
  const { env: e, paths: shadowPath } = await startShadowTest(t, NS);
  const getJson = e.getJson;
  const workload = () => e.workload('web');
  const status = () => e.status('web');
  const events = async () => (await e.events('web')).map((ev) => ev.reason);
  const annotate = (...kv: string[]) => e.kubectl(['-n', NS, 'annotate', 'deployment', 'web', '--overwrite', ...kv]);
  const exists = e.exists;

  try {
    await e.startController();
    await e.apply(tunnelWorkload(NS, 'web', { 'ghostwire.dev/tunnel': 'true', 'ghostwire.dev/tunnelTimeout': '90s' }, ['http:8080', 'dns:5353/UDP']));

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
    assert.equal(args[args.indexOf('--restrict-http-upgrade-path-prefix') + 1], upgradePathPrefix(TUNNEL_KEY, NS, 'web'));
    assert.ok(await exists(shadowPath.policy));
    assert.equal((await status())?.phase, 'Pending');

    // Not ready while the pod only exists; Ready once the current pod is Ready and has a ready endpoint.
    await e.nextShadowPod('web', '10.244.0.9', true);
    const ready = await waitFor('status Ready', 60_000, async () => ((await status())?.phase === 'Ready' ? status() : undefined));
    assert.deepEqual(ready, { phase: 'Ready', mode: 'plain', endpoint: 'web-shop.tunnel.example.com', hash: ready!.hash });
    const shadowEvents = await waitFor('the ShadowReady Event', 10_000, async () => {
      const r = (await events()).filter((x) => x.startsWith('Shadow'));
      return r.includes('ShadowReady') ? r : undefined;
    });
    assert.deepEqual(shadowEvents, ['ShadowPending', 'ShadowReady']);

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
      assert.ok(!e.controllerLog().includes(p), 'a private key was logged');
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
    await e.kubectl(['-n', NS, 'delete', 'deployment', 'web', '--wait=false']);
    await waitFor('garbage collection of the shadow', 90_000, async () => !(await exists(shadowPath.service)) && !(await exists(shadowPath.ingress)) && !(await exists(shadowPath.deployment)));
  } catch (err) {
    e.dump();
    throw err;
  }
});

test('the controller follows the defaults ConfigMap live: a new wildcardDNS moves the Ingress and the status endpoint, no restart', { timeout: 120_000 }, async (t) => {
  const { env: e, paths } = await startShadowTest(t, NS);
  try {
    await e.startController({ defaultsConfigMap: true });
    await e.apply(tunnelWorkload(NS, 'web', { 'ghostwire.dev/tunnel': 'true', 'ghostwire.dev/tunnelTimeout': '60s' }));
    const host = async () => (await e.getJson(paths.ingress))?.spec?.rules?.[0]?.host;
    await waitFor('the first Ingress host', 30_000, async () => (await host()) === 'web-shop.tunnel.example.com');
    await e.nextShadowPod('web', '10.244.0.9', true);
    await waitFor('status Ready', 60_000, async () => (await e.status('web'))?.phase === 'Ready');
    // What the webhook would see at the same moment: one ConfigMap, one identity for both processes.
    await e.apply(defaultsConfigMap(NS, 'network:\n  wildcardDNS: other.example.com\n  ingressTLS: true\n'));
    await waitFor('the Ingress host to follow the ConfigMap', 60_000, async () => (await host()) === 'web-shop.other.example.com');
    const ingress = await e.getJson(paths.ingress);
    assert.deepEqual(ingress.spec.tls, [{ hosts: ['web-shop.other.example.com'], secretName: 'shadow-web-tls' }]);
    await waitFor('the status endpoint to follow', 60_000, async () => (await e.status('web'))?.endpoint === 'web-shop.other.example.com');
  } catch (err) {
    e.dump();
    throw err;
  }
});
