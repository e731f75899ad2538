import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { TUNNEL_PRE_EXEC_ANNOTATION } from '../../src/config/options.js';
import { tunnelAnnotations } from '../../src/shadow/annotations.js';
import { shadowIdentity } from '../../src/shadow/identity.js';
import {
  type ShadowConfigMap,
  type ShadowDeployment,
  type ShadowIngress,
  type ShadowObject,
  type ShadowService,
  ShadowRenderError,
  planShadow,
} from '../../src/shadow/manifests.js';
import { validateShadowObjects } from '../../src/shadow/validate-objects.js';
import { upgradePathPrefix } from '../../src/shadow/tunnel-key.js';
import { CLI } from '../helpers/paths.js';
import { config, input, network } from '../helpers/shadow-fixtures.js';

const kinds = (objects: ShadowObject[]): string[] => objects.map((o) => `${o.kind}/${o.metadata.name}`);
const find = <T extends ShadowObject>(objects: ShadowObject[], kind: string): T => objects.find((o) => o.kind === kind) as T;

test('plain mode renders NetworkPolicy, Service, Deployment, Ingress, in apply order, and no WireGuard objects', () => {
  assert.deepEqual(kinds(planShadow(input()).objects), [
    'NetworkPolicy/shadow-my-pod',
    'Service/shadow-my-pod',
    'Deployment/shadow-my-pod',
    'Ingress/shadow-my-pod',
  ]);
});

test('full mesh selects the WireGuard manifests, never the plain ones', () => {
  const objects = planShadow(input({ config: config({ fullMesh: true }) })).objects;
  assert.deepEqual(kinds(objects), ['ConfigMap/shadow-my-pod-wg-config', 'Service/shadow-my-pod', 'Deployment/shadow-my-pod', 'Ingress/shadow-my-pod']);
  const d = find<ShadowDeployment>(objects, 'Deployment');
  const [wstunnel, wireguard] = d.spec!.template.spec!.containers;
  assert.deepEqual(wstunnel!.args!.slice(2, 4), ['--restrict-to', '127.0.0.1:51820']);
  assert.equal(wireguard!.name, 'wireguard');
  assert.equal(d.spec!.strategy!.type, 'Recreate');
  const volumes = d.spec!.template.spec!.volumes!.map((v) => v.secret?.secretName ?? v.configMap?.name ?? v.name);
  assert.ok(volumes.includes('shadow-my-pod-wg-keys') && volumes.includes('shadow-my-pod-wg-config'));
  const plainArgs = find<ShadowDeployment>(planShadow(input()).objects, 'Deployment').spec!.template.spec!.containers[0]!.args!;
  assert.ok(!plainArgs.includes('--restrict-to'));
});

test('TLS on: cert-manager issuer annotation and spec.tls for exactly the endpoint; off: neither', () => {
  const on = find<ShadowIngress>(planShadow(input({ network: network({ ingressTLS: true, ingressClusterIssuer: 'corp-ca' }) })).objects, 'Ingress');
  assert.equal(on.metadata.annotations!['cert-manager.io/cluster-issuer'], 'corp-ca');
  assert.deepEqual(on.spec!.tls, [{ hosts: ['my-pod-default.tunnel.example.com'], secretName: 'shadow-my-pod-tls' }]);
  assert.equal(on.spec!.rules![0]!.host, 'my-pod-default.tunnel.example.com');
  const defaultIssuer = find<ShadowIngress>(planShadow(input({ network: network({ ingressTLS: true }) })).objects, 'Ingress');
  assert.equal(defaultIssuer.metadata.annotations!['cert-manager.io/cluster-issuer'], 'lets-issuer');
  const off = find<ShadowIngress>(planShadow(input({ network: network({ ingressTLS: false }) })).objects, 'Ingress');
  assert.equal(off.spec!.tls, undefined);
  assert.equal(off.metadata.annotations!['cert-manager.io/cluster-issuer'], undefined);
  assert.equal(off.spec!.ingressClassName, 'nginx');
});

test('every container runs with least privilege and resource requests/limits', () => {
  for (const fullMesh of [false, true]) {
    const d = find<ShadowDeployment>(planShadow(input({ config: config({ fullMesh }) })).objects, 'Deployment');
    const pod = d.spec!.template.spec!;
    assert.equal(pod.automountServiceAccountToken, false);
    for (const c of pod.containers) {
      const sc = c.securityContext!;
      assert.equal(sc.allowPrivilegeEscalation, false, c.name);
      assert.equal(sc.readOnlyRootFilesystem, true, c.name);
      assert.deepEqual(sc.capabilities!.drop, ['ALL'], c.name);
      assert.equal(sc.seccompProfile!.type, 'RuntimeDefault', c.name);
      assert.ok(c.resources!.requests!.cpu && c.resources!.requests!.memory && c.resources!.limits!.cpu && c.resources!.limits!.memory, c.name);
      if (c.name === 'wstunnel') {
        assert.equal(sc.runAsNonRoot, true);
        assert.equal(sc.capabilities!.add, undefined);
      } else {
        assert.deepEqual(sc.capabilities!.add, ['NET_ADMIN'], 'WireGuard gets NET_ADMIN and nothing else');
      }
    }
  }
});

test('labels, selector, exposed ports and owner references', () => {
  const owner = { apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'default', name: 'my-pod', uid: 'u-1' };
  for (const fullMesh of [false, true]) {
    const objects = planShadow(input({ config: config({ fullMesh }) }), { owner }).objects;
    for (const o of objects) {
      for (const k of ['name', 'instance', 'component', 'managed-by']) assert.ok(o.metadata.labels![`app.kubernetes.io/${k}`], `${o.kind} ${k}`);
      assert.deepEqual(o.metadata.ownerReferences, [{ apiVersion: owner.apiVersion, kind: owner.kind, name: owner.name, uid: owner.uid, controller: true }]);
      assert.equal(o.metadata.namespace, 'default');
    }
    const svc = find<ShadowService>(objects, 'Service');
    assert.deepEqual(svc.spec!.ports!.map((p) => `${p.name}:${p.port}/${p.protocol}`), ['ws:28080/TCP', 'http:8080/TCP', 'metrics:9090/TCP']);
    const d = find<ShadowDeployment>(objects, 'Deployment');
    assert.deepEqual(d.spec!.selector.matchLabels, { 'app.kubernetes.io/name': 'ghostwire-shadow', 'app.kubernetes.io/instance': 'shadow-my-pod' });
    const declared = d.spec!.template.spec!.containers.flatMap((c) => (c.ports ?? []).map((p) => p.containerPort));
    assert.deepEqual(declared.sort((a, b) => a - b), [8080, 9090, 28080]);
    assert.equal(d.spec!.template.metadata!.annotations!['ghostwire.dev/tunnel'], 'false', 'a shadow never gets a shadow');
  }
  assert.equal(planShadow(input()).objects[0]!.metadata.ownerReferences, undefined, 'offline render has no owner');
});

test('privileged ports get the namespaced unprivileged-port sysctl, others do not', () => {
  const low = find<ShadowDeployment>(planShadow(input({ containerPorts: [{ port: 80, protocol: 'TCP' }] })).objects, 'Deployment');
  assert.deepEqual(low.spec!.template.spec!.securityContext!.sysctls, [{ name: 'net.ipv4.ip_unprivileged_port_start', value: '0' }]);
  const high = find<ShadowDeployment>(planShadow(input()).objects, 'Deployment');
  assert.equal(high.spec!.template.spec!.securityContext!.sysctls, undefined);
});

test('the WireGuard ConfigMap holds no key material; the keys come from the Secret mount', () => {
  const cm = find<ShadowConfigMap>(planShadow(input({ config: config({ fullMesh: true }) })).objects, 'ConfigMap');
  const text = JSON.stringify(cm.data);
  assert.ok(!/[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=/.test(text));
  assert.ok(cm.data!['up.sh']!.includes('"$(cat "$keys/server-private-key")"'));
  assert.equal(cm.data!['forward-ports'], 'tcp/8080\ntcp/9090\n');
});

test('generated shell scripts parse (sh -n)', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gw-shadow-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const cm = find<ShadowConfigMap>(planShadow(input({ config: config({ fullMesh: true }) })).objects, 'ConfigMap');
  const pre = tunnelAnnotations(input({ config: config({ fullMesh: true }) })).set[TUNNEL_PRE_EXEC_ANNOTATION]!;
  for (const [name, script] of [['up.sh', cm.data!['up.sh']!], ['pre-exec.sh', pre]] as const) {
    writeFileSync(join(dir, name), script);
    const r = spawnSync('sh', ['-n', join(dir, name)], { encoding: 'utf8' });
    assert.equal(r.status, 0, `${name}: ${r.stderr}`);
  }
});

test('validation catches objects that disagree with the identity', () => {
  const plan = planShadow(input());
  assert.deepEqual(validateShadowObjects(plan.objects, plan.identity), []);
  const tampered = structuredClone(plan.objects);
  (find<ShadowIngress>(tampered, 'Ingress').spec!.rules![0]!).host = 'ws-my-pod.tunnel.example.com';
  assert.match(validateShadowObjects(tampered, plan.identity).join(), /rule host must be exactly my-pod-default\.tunnel\.example\.com/);
  const other = shadowIdentity('my-pod', 'other', network());
  assert.match(validateShadowObjects(plan.objects, other).join(), /namespace differs/);
});

test('render failures list every reason', () => {
  assert.throws(
    () => planShadow(input({ network: network({ wildcardDNS: '' }), containerPorts: [] })),
    (err: unknown) => err instanceof ShadowRenderError && err.errors.length === 2,
  );
});

test('the plan hash is stable and follows the content', () => {
  assert.equal(planShadow(input()).hash, planShadow(input()).hash);
  assert.notEqual(planShadow(input()).hash, planShadow(input({ network: network({ ingressTLS: true }) })).hash);
});

test('`ghostwire shadow render` prints the same objects as YAML documents or a v1 List', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gw-shadow-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const defaults = join(dir, 'config.yaml');
  writeFileSync(defaults, 'network:\n  enableTunnel: true\n  wildcardDNS: tunnel.example.com\n  ingressTLS: true\n');
  const keyFile = join(dir, 'tunnel.key');
  writeFileSync(keyFile, 'a-real-signing-key-0123456789abcdef\n');
  const args = [CLI, 'shadow', 'render', '--name', 'my-pod', '--namespace', 'default', '--defaults', defaults, '--ports', '8080:http,9090:metrics', '--tunnel-key-file', keyFile];
  const yamlOut = spawnSync(process.execPath, args, { encoding: 'utf8' });
  assert.equal(yamlOut.status, 0, yamlOut.stderr);
  assert.equal(yamlOut.stderr, '', 'no warning with a key file');
  const docs = parseAllDocuments(yamlOut.stdout).map((d) => d.toJSON());
  const expected = planShadow(input({ network: network({ ingressTLS: true }), tunnelKey: 'a-real-signing-key-0123456789abcdef' })).objects;
  assert.deepEqual(docs, JSON.parse(JSON.stringify(expected)));
  const prefix = upgradePathPrefix('a-real-signing-key-0123456789abcdef', 'default', 'my-pod');
  assert.ok(yamlOut.stdout.includes(prefix), 'the key file (trailing newline trimmed) decides the prefix');

  const json = JSON.parse(execFileSync(process.execPath, [...args, '-o', 'json'], { encoding: 'utf8' })) as { kind: string; items: unknown[] };
  assert.equal(json.kind, 'List');
  assert.deepEqual(json.items, JSON.parse(JSON.stringify(expected)));

  const dev = spawnSync(process.execPath, [CLI, 'shadow', 'render', '--name', 'my-pod', '--namespace', 'default', '--defaults', defaults, '--ports', '8080'], { encoding: 'utf8' });
  assert.equal(dev.status, 0);
  assert.match(dev.stderr, /DEVELOPMENT tunnel key/);

  const bad = spawnSync(process.execPath, [CLI, 'shadow', 'render', '--name', 'my-pod', '--namespace', 'default', '--ports', '8080'], { encoding: 'utf8' });
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /wildcardDNS is empty/);
});
