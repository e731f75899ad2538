// The chart in policy mode on a real API server with real helm: no webhook, certificates or Service installed; the
// API server injects; `helm upgrade` of the defaults reaches the next admission, an invalid default fails the
// upgrade; uninstall removes the policies; a cluster without v1 MutatingAdmissionPolicy (Kubernetes 1.35) fails the
// install with the chart's message.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoPath } from '../helpers/paths.js';
import { type ControlPlane, startControlPlane, waitFor } from './harness.js';
import { annotatedDeployment, collectionPath, request } from './policy-env.js';

let cp: ControlPlane;
const CHART = repoPath('charts', 'ghostwire');
const getJson = async (args: string[]) => JSON.parse((await cp.kubectl([...args, '-o', 'json'])).stdout);
const helm = (...args: string[]) => cp.helm(args, { allowFail: true });

before(async () => {
  cp = await startControlPlane({ controllerManager: false });
  await cp.kubectl(['create', 'namespace', 'shop']);
  await cp.kubectl(['label', 'namespace', 'shop', 'ghostwire.dev/injection=enabled']);
});

after(async () => {
  await cp?.stop();
});

/** The GW_NAT_CHAIN a new annotated Deployment gets (dry run), or the refusal. */
async function chainOfNextAdmission(): Promise<string> {
  const d = annotatedDeployment('probe', { 'ghostwire.dev/enabled': 'true' });
  const r = await request(cp, 'POST', `${collectionPath(d)}?dryRun=All`, d);
  if (r.status !== 201) return `refused: ${r.body?.message}`;
  const w = r.body.spec.template.spec.containers.find((c: { name: string }) => c.name === 'ghostwire-watcher');
  return w ? w.env.find((e: { name: string }) => e.name === 'GW_NAT_CHAIN').value : 'not injected';
}

test('helm install --set injector.mode=policy: policies and their parameters, no webhook, and the API server injects', async () => {
  const r = await helm('install', 'ghostwire', CHART, '-n', 'ghostwire', '--create-namespace', '--set', 'injector.mode=policy', '--set', 'defaults.natChain=TEAM_DNAT');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /injects through admission policies/);
  for (const kind of ['deployments', 'services', 'secrets', 'serviceaccounts']) {
    const items = (await getJson(['-n', 'ghostwire', 'get', kind])).items.map((o: any) => o.metadata.name).filter((n: string) => n.startsWith('ghostwire') && !n.startsWith('default'));
    assert.deepEqual(items, [], `no ${kind} of ghostwire in policy mode`);
  }
  assert.deepEqual((await getJson(['get', 'mutatingwebhookconfigurations'])).items, []);
  const maps = (await getJson(['get', 'mutatingadmissionpolicies'])).items.map((o: any) => o.metadata.name);
  assert.deepEqual(maps, ['ghostwire-inject']);
  assert.equal(await waitFor('injection with the chart\'s defaults', 30_000, async () => ((await chainOfNextAdmission()) === 'TEAM_DNAT' ? 'TEAM_DNAT' : undefined), 250), 'TEAM_DNAT');
});

test('helm upgrade of the defaults reaches the next admission; an invalid default fails the upgrade and changes nothing', async () => {
  const up = await helm('upgrade', 'ghostwire', CHART, '-n', 'ghostwire', '--reuse-values', '--set', 'defaults.natChain=OTHER_DNAT');
  assert.equal(up.code, 0, up.stderr);
  await waitFor('the new default in effect', 30_000, async () => (await chainOfNextAdmission()) === 'OTHER_DNAT', 250);
  const bad = await helm('upgrade', 'ghostwire', CHART, '-n', 'ghostwire', '--reuse-values', '--set', 'defaults.cpuRequest=999');
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /ghostwire: invalid defaults in ConfigMap ghostwire\/ghostwire-policy-defaults: cpuRequest: "999" is invalid; allowed: at most cpuLimit \(200m\)/);
  assert.equal(await chainOfNextAdmission(), 'OTHER_DNAT');
});

test('helm uninstall removes the policies: annotated workloads are admitted uninjected afterwards', async () => {
  const r = await helm('uninstall', 'ghostwire', '-n', 'ghostwire', '--wait');
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual((await getJson(['get', 'mutatingadmissionpolicies'])).items, []);
  assert.equal(await waitFor('no injection', 30_000, async () => ((await chainOfNextAdmission()) === 'not injected' ? 'ok' : undefined), 250), 'ok');
});

test('helm upgrade switches injector.mode: webhook -> policy -> webhook, swapping the registrations', async () => {
  // Webhook mode pointed at a port where nothing listens: annotated writes in scope fail closed.
  const install = await helm('install', 'switch', CHART, '-n', 'switch', '--create-namespace', '--set', 'webhook.url=https://127.0.0.1:9/mutate', '--set', 'certs.extraIPs={127.0.0.1}');
  assert.equal(install.code, 0, install.stderr);
  assert.match(await waitFor('the webhook registration in effect', 30_000, async () => {
    const r = await chainOfNextAdmission();
    return r.includes('failed calling webhook') ? r : undefined;
  }, 250), /failed calling webhook "inject\.ghostwire\.dev"/);
  const toPolicy = await helm('upgrade', 'switch', CHART, '-n', 'switch', '--reuse-values', '--set', 'injector.mode=policy');
  assert.equal(toPolicy.code, 0, toPolicy.stderr);
  assert.deepEqual((await getJson(['get', 'mutatingwebhookconfigurations'])).items, []);
  assert.deepEqual((await getJson(['-n', 'switch', 'get', 'deployments'])).items, [], 'the webhook Deployment is gone');
  await waitFor('injection by the policies', 30_000, async () => (await chainOfNextAdmission()) === 'CANARY_DNAT', 250);
  const back = await helm('upgrade', 'switch', CHART, '-n', 'switch', '--reuse-values', '--set', 'injector.mode=webhook');
  assert.equal(back.code, 0, back.stderr);
  assert.deepEqual((await getJson(['get', 'mutatingadmissionpolicies'])).items, []);
  await waitFor('the webhook registration back', 30_000, async () => (await chainOfNextAdmission()).includes('failed calling webhook'), 250);
  assert.equal((await helm('uninstall', 'switch', '-n', 'switch', '--wait')).code, 0);
});

test('Kubernetes 1.35 (no admissionregistration.k8s.io/v1 MutatingAdmissionPolicy): the install fails with the chart\'s message', async (t) => {
  // The harness starts the release GHOSTWIRE_K8S_VERSION names, reading its tools from GHOSTWIRE_TOOLS_CACHE.
  const cache = process.env.GHOSTWIRE_TOOLS_CACHE ?? join(homedir(), '.cache', 'ghostwire-tools');
  const env135 = join(cache, 'env-v1.35.4.sh');
  if (!existsSync(env135)) {
    t.skip(`the v1.35.4 tools are not built (GHOSTWIRE_K8S_VERSION=v1.35.4 test/e2e/tools/build-tools.sh)`);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'gw-e2e-k135-'));
  copyFileSync(env135, join(dir, 'env.sh'));
  copyFileSync(env135, join(dir, 'env-v1.35.4.sh'));
  const saved = { cache: process.env.GHOSTWIRE_TOOLS_CACHE, version: process.env.GHOSTWIRE_K8S_VERSION };
  process.env.GHOSTWIRE_TOOLS_CACHE = dir;
  process.env.GHOSTWIRE_K8S_VERSION = 'v1.35.4';
  let old: ControlPlane | undefined;
  try {
    old = await startControlPlane({ controllerManager: false });
  } finally {
    for (const [k, v] of [['GHOSTWIRE_TOOLS_CACHE', saved.cache], ['GHOSTWIRE_K8S_VERSION', saved.version]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
  t.after(async () => {
    await old?.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const version = (await old.api('GET', '/version')).body.gitVersion;
  assert.equal(version, 'v1.35.4');
  const r = await old.helm(['install', 'ghostwire', CHART, '-n', 'ghostwire', '--create-namespace', '--set', 'injector.mode=policy'], { allowFail: true });
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /injector\.mode=policy needs MutatingAdmissionPolicy \(admissionregistration\.k8s\.io\/v1, GA in Kubernetes 1\.36\), which this cluster does not serve/);
  assert.equal((await old.kubectl(['get', 'namespace', 'ghostwire'], { allowFail: true })).code === 0 ? 'ns' : 'none', 'none', 'nothing installed');
});
