// The chart's whole life with both supported Helm majors against the real API server: install, upgrade (new defaults,
// the generated certificate and tunnel key kept through `lookup`), uninstall (every object gone), and a Helm 3 release
// taken over by Helm 4 (first as it was applied, then moved to server-side apply). Helm 4 applies server-side, which
// the objects' managedFields show; it also orders the MutatingWebhookConfiguration last on install and first on
// uninstall, where Helm 3 deletes it last: the API server's audit log shows the order.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoPath } from '../helpers/paths.js';
import { parseManifests } from '../helpers/helm.js';
import { type ControlPlane, startControlPlane } from './harness.js';

const CHART = repoPath('charts', 'ghostwire');
let cp: ControlPlane;

interface Ref {
  kind: string;
  name: string;
  namespace?: string;
}

before(async () => {
  // Deletions are audited too, to see the order in which each helm removes the release's objects.
  cp = await startControlPlane({ auditRules: [{ level: 'Metadata', verbs: ['delete'], omitStages: ['RequestReceived'] }] });
});

after(async () => {
  await cp?.stop();
});

const helm = (major: 3 | 4, args: string[]) => cp.helm(args, { major });
const getJson = async (args: string[]) => JSON.parse((await cp.kubectl([...args, '-o', 'json'])).stdout);

/** The release's objects, from the manifest helm stored. */
async function releaseObjects(major: 3 | 4, release: string, ns: string): Promise<Ref[]> {
  const manifest = (await helm(major, ['get', 'manifest', release, '-n', ns])).stdout;
  return parseManifests(manifest).map((o) => ({ kind: o.kind, name: o.metadata.name, namespace: o.metadata.namespace }));
}

const CLUSTER_SCOPED = new Set(['ClusterRole', 'ClusterRoleBinding', 'MutatingWebhookConfiguration']);
const kubectlRef = (r: Ref, ns: string) => [r.kind.toLowerCase(), r.name, ...(CLUSTER_SCOPED.has(r.kind) ? [] : ['-n', r.namespace ?? ns])];

async function assertAllExist(refs: Ref[], ns: string): Promise<void> {
  for (const r of refs) {
    const got = await cp.kubectl(['get', ...kubectlRef(r, ns), '-o', 'name'], { allowFail: true });
    assert.equal(got.code, 0, `${r.kind}/${r.name} exists: ${got.stderr}`);
  }
}

async function assertNoneExist(refs: Ref[], ns: string): Promise<void> {
  for (const r of refs) {
    const got = await cp.kubectl(['get', ...kubectlRef(r, ns), '-o', 'name'], { allowFail: true });
    assert.notEqual(got.code, 0, `${r.kind}/${r.name} is gone after uninstall`);
    assert.match(got.stderr, /NotFound|not found/, `${r.kind}/${r.name}: ${got.stderr}`);
  }
}

/** How the ConfigMap was last written by helm: 'Apply' (server-side) or 'Update' (client-side). */
async function helmOperations(ns: string, configMap: string): Promise<string[]> {
  const cm = await getJson(['-n', ns, 'get', 'configmap', configMap, '--show-managed-fields']);
  return cm.metadata.managedFields.filter((f: { manager: string }) => f.manager === 'helm').map((f: { operation: string }) => f.operation);
}

interface Snapshot {
  tls: Record<string, string>;
  tunnelKey: Record<string, string>;
  caBundle: string;
  config: string;
}

async function snapshot(ns: string, fullname: string): Promise<Snapshot> {
  const tls = await getJson(['-n', ns, 'get', 'secret', `${fullname}-tls`]);
  const key = await getJson(['-n', ns, 'get', 'secret', `${fullname}-tunnel-key`]);
  const mwc = await getJson(['get', 'mutatingwebhookconfiguration', fullname]);
  const cm = await getJson(['-n', ns, 'get', 'configmap', `${fullname}-defaults`]);
  return { tls: tls.data, tunnelKey: key.data, caBundle: mwc.webhooks[0].clientConfig.caBundle, config: cm.data['config.yaml'] };
}

/** The order in which the API server saw the release's deletions (audit log, one JSON event per line). */
function deletionOrder(ns: string, fullname: string): string[] {
  return readFileSync(join(cp.dir, 'audit.log'), 'utf8').split('\n').filter((l) => l.includes('"verb":"delete"')).map((l) => JSON.parse(l))
    .filter((e) => e.stage === 'ResponseComplete' && e.objectRef?.name?.startsWith(fullname) && (e.objectRef.namespace === ns || !e.objectRef.namespace))
    .map((e) => e.objectRef.resource as string);
}

async function installUpgradeUninstall(major: 3 | 4): Promise<void> {
  const ns = `lifecycle-helm${major}`;
  const release = `lc${major}`;
  const fullname = `${release}-ghostwire`;
  await helm(major, ['install', release, CHART, '-n', ns, '--create-namespace']);
  const refs = await releaseObjects(major, release, ns);
  const kinds = new Set(refs.map((r) => r.kind));
  // No ClusterRole: the webhook's RBAC is namespaced, granted only where namespaces opted in.
  for (const k of ['Deployment', 'Service', 'ServiceAccount', 'ConfigMap', 'Secret', 'MutatingWebhookConfiguration', 'PodDisruptionBudget']) {
    assert.ok(kinds.has(k), `helm ${major}: the release has a ${k} (${[...kinds].join(', ')})`);
  }
  await assertAllExist(refs, ns);
  assert.deepEqual(await helmOperations(ns, `${fullname}-defaults`), [major === 4 ? 'Apply' : 'Update'], `helm ${major} wrote the objects ${major === 4 ? 'server-side' : 'client-side'}`);
  const first = await snapshot(ns, fullname);
  assert.equal(first.caBundle, first.tls['ca.crt'], 'the webhook trusts the generated CA');

  await helm(major, ['upgrade', release, CHART, '-n', ns, '--reuse-values', '--set', 'defaults.natChain=TEAM_DNAT']);
  const second = await snapshot(ns, fullname);
  assert.match(second.config, /natChain: TEAM_DNAT/);
  assert.deepEqual(second.tls, first.tls, 'the serving certificate and CA are kept on upgrade (lookup)');
  assert.deepEqual(second.tunnelKey, first.tunnelKey, 'the tunnel signing key is kept on upgrade (lookup)');
  assert.equal(second.caBundle, first.caBundle);
  const status = JSON.parse((await helm(major, ['status', release, '-n', ns, '-o', 'json'])).stdout);
  assert.equal(status.version, 2);
  assert.equal(status.info.status, 'deployed');
  const records = async () => (await getJson(['-n', ns, 'get', 'secrets', '-l', `owner=helm,name=${release}`])).items.length;
  assert.equal(await records(), 2, 'one release Secret per revision');

  await helm(major, ['uninstall', release, '-n', ns]);
  await assertNoneExist(refs, ns);
  assert.equal(await records(), 0, 'no release record left');
  const order = deletionOrder(ns, fullname);
  assert.ok(order.includes('mutatingwebhookconfigurations') && order.includes('deployments'), order.join(', '));
  const webhookAt = order.indexOf('mutatingwebhookconfigurations');
  if (major === 4) assert.equal(webhookAt, 0, `helm 4 deletes the webhook configuration first: ${order.join(', ')}`);
  else assert.equal(webhookAt, order.length - 1, `helm 3 deletes the webhook configuration last: ${order.join(', ')}`);
}

test('Helm 3: install, upgrade (certificate and tunnel key kept), uninstall removes every object, the webhook configuration last', async () => {
  await installUpgradeUninstall(3);
});

test('Helm 4: install server-side, upgrade (certificate and tunnel key kept), uninstall removes every object, the webhook configuration first', async () => {
  await installUpgradeUninstall(4);
});

test('a Helm 3 release upgraded with Helm 4: client-side by default (auto), then moved to server-side apply, then uninstalled', async () => {
  const ns = 'lifecycle-migrate';
  const fullname = 'mig-ghostwire';
  await helm(3, ['install', 'mig', CHART, '-n', ns, '--create-namespace']);
  const first = await snapshot(ns, fullname);
  await helm(4, ['upgrade', 'mig', CHART, '-n', ns, '--reuse-values', '--set', 'defaults.natChain=TEAM_DNAT']);
  assert.deepEqual(await helmOperations(ns, `${fullname}-defaults`), ['Update'], 'helm 4 keeps a Helm 3 release client-side (--server-side=auto)');
  await helm(4, ['upgrade', 'mig', CHART, '-n', ns, '--reuse-values', '--server-side=true', '--set', 'defaults.natChain=SSA_DNAT']);
  assert.deepEqual(await helmOperations(ns, `${fullname}-defaults`), ['Apply'], 'after --server-side=true helm owns the fields through server-side apply only');
  const last = await snapshot(ns, fullname);
  assert.match(last.config, /natChain: SSA_DNAT/);
  assert.deepEqual(last.tls, first.tls, 'the certificate survives the move to Helm 4');
  assert.deepEqual(last.tunnelKey, first.tunnelKey);
  const history = JSON.parse((await helm(4, ['history', 'mig', '-n', ns, '-o', 'json'])).stdout) as Array<{ revision: number; status: string }>;
  assert.deepEqual(history.map((h) => [h.revision, h.status]), [[1, 'superseded'], [2, 'superseded'], [3, 'deployed']]);
  const refs = await releaseObjects(4, 'mig', ns);
  await helm(4, ['uninstall', 'mig', '-n', ns]);
  await assertNoneExist(refs, ns);
});
