// One identity everywhere: the endpoint host is the same in the Ingress rule, the TLS hosts, the client command,
// the pre-exec script, the endpoint annotation and the status annotation, for every mode and TLS setting, and for
// names that must be shortened.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  TUNNEL_CLIENT_COMMAND_ANNOTATION,
  TUNNEL_ENDPOINT_ANNOTATION,
  TUNNEL_PRE_EXEC_ANNOTATION,
  TUNNEL_STATUS_ANNOTATION,
} from '../../src/config/options.js';
import { refKey } from '../../src/kube/objects.js';
import { shadowObjectRefs } from '../../src/shadow/object-refs.js';
import { ShadowReconciler } from '../../src/shadow/reconciler.js';
import { tunnelAnnotations } from '../../src/shadow/annotations.js';
import { shadowIdentity } from '../../src/shadow/identity.js';
import { type ShadowDeployment, type ShadowIngress, planShadow } from '../../src/shadow/manifests.js';
import { parseStatus } from '../../src/shadow/status.js';
import { FakeShadowApi, deploymentWorkload, nullLog } from '../helpers/fake-shadow-api.js';
import { TEST_TUNNEL_KEY, config, defaults, input, network } from '../helpers/shadow-fixtures.js';

const NAMES: Array<[string, string]> = [
  ['web', 'shop'],
  ['my-pod', 'default'],
  [`checkout-${'x'.repeat(60)}`, 'team-payments'],
  ['9lives', 'a-b'],
];

for (const [name, namespace] of NAMES) {
  for (const fullMesh of [false, true]) {
    for (const tls of [false, true]) {
      test(`one host everywhere: ${name.slice(0, 20)} in ${namespace}, ${fullMesh ? 'full mesh' : 'plain'}, TLS ${tls ? 'on' : 'off'}`, async () => {
        const net = network({ ingressTLS: tls });
        const host = shadowIdentity(name, namespace, net).host;
        const i = input({ workloadName: name, namespace, network: net, config: config({ fullMesh }) });

        const objects = planShadow(i).objects;
        const ingress = objects.find((o) => o.kind === 'Ingress') as ShadowIngress;
        assert.deepEqual(ingress.spec!.rules!.map((r) => r.host), [host]);
        if (tls) assert.deepEqual(ingress.spec!.tls!.map((t) => t.hosts), [[host]]);
        else assert.equal(ingress.spec!.tls, undefined);
        assert.equal((objects.find((o) => o.kind === 'Deployment') as ShadowDeployment).metadata.annotations![TUNNEL_ENDPOINT_ANNOTATION], host);

        const a = tunnelAnnotations(i);
        assert.equal(a.set[TUNNEL_ENDPOINT_ANNOTATION], host);
        const remote = a.set[fullMesh ? TUNNEL_PRE_EXEC_ANNOTATION : TUNNEL_CLIENT_COMMAND_ANNOTATION]!;
        const urls = [...remote.matchAll(/wss?:\/\/([^:\s]+):(\d+)/g)].map((m) => [m[1], m[2]]);
        assert.deepEqual(urls, [[host, tls ? '443' : '80']]);
        if (fullMesh) assert.ok(remote.includes(` via ${host}`));

        const api = new FakeShadowApi();
        const w = api.addWorkload(deploymentWorkload(name, namespace, { 'ghostwire.dev/tunnel': 'true', 'ghostwire.dev/fullMesh': String(fullMesh) }));
        w.spec!.template!.spec!.containers[0]!.ports = [{ containerPort: 8080 }, { containerPort: 9090 }];
        const reconciler = new ShadowReconciler({ api, defaults: defaults({ ingressTLS: tls }), tunnelKey: TEST_TUNNEL_KEY, log: nullLog, waitForChange: async () => {} });
        assert.equal((await reconciler.reconcile(structuredClone(w))).state, 'Ready');
        assert.equal(parseStatus(w.metadata.annotations![TUNNEL_STATUS_ANNOTATION])!.endpoint, host);
        const stored = api.objects.get(refKey({ apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', namespace, name: shadowIdentity(name, namespace, net).name })) as unknown as ShadowIngress;
        assert.equal(stored.spec!.rules![0]!.host, host, 'the applied Ingress carries the same host');
        // Every object the controller created is one of the identity's names (cleanup and delete use the same list).
        const allowed = new Set(shadowObjectRefs(shadowIdentity(name, namespace, net)).map(refKey));
        for (const k of api.objects.keys()) assert.ok(allowed.has(k), `${k} is a known shadow name`);
      });
    }
  }
}
