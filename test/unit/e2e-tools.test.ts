// The e2e tool versions in one place: test/e2e/tools/versions.env agrees with the wrapper modules, the chart's
// kubeVersion range and docs/install.md; GHOSTWIRE_K8S_VERSION and the tool paths are read strictly (hostile values
// get an error naming the variable); build-tools.sh refuses bad arguments before it builds anything.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { repoPath } from '../helpers/paths.js';
import { buildableK8sVersions, readToolsEnv, selectedK8sVersion, toolVersions, toolsEnvFile } from '../helpers/tools.js';

const minor = (v: string) => Number(v.split('.')[1]);

test('versions.env: the default and the oldest Kubernetes release have wrapper modules, with the etcd each pins; rollouts too', () => {
  const v = toolVersions();
  const k8s = buildableK8sVersions();
  assert.ok(k8s.includes(v.K8S_VERSION), `modules/kubernetes-${v.K8S_VERSION}`);
  assert.ok(k8s.includes(v.K8S_OLDEST), `modules/kubernetes-${v.K8S_OLDEST}`);
  assert.equal(k8s[k8s.length - 1], v.K8S_VERSION, 'CI runs the newest release that can be built');
  assert.equal(k8s[0], v.K8S_OLDEST, 'the oldest buildable release is the oldest supported one');
  for (const release of k8s) {
    const gomod = readFileSync(repoPath('test', 'e2e', 'tools', 'modules', `kubernetes-${release}`, 'go.mod'), 'utf8');
    assert.match(gomod, new RegExp(`^require k8s\\.io/kubernetes ${release.replace(/\./g, '\\.')}$`, 'm'));
    const etcd = /^\s*go\.etcd\.io\/etcd\/client\/v3 (v\S+)/m.exec(gomod)?.[1];
    assert.ok(etcd && existsSync(repoPath('test', 'e2e', 'tools', 'modules', `etcd-${etcd}`, 'go.sum')), `Kubernetes ${release} pins etcd ${etcd}: its wrapper module exists`);
  }
  assert.ok(existsSync(repoPath('test', 'e2e', 'tools', 'modules', `argo-rollouts-${v.ROLLOUTS_VERSION}`, 'go.sum')));
});

test("the chart's kubeVersion and docs/install.md name the supported range the e2e tools can build", () => {
  const v = toolVersions();
  const chart = parseYaml(readFileSync(repoPath('charts', 'ghostwire', 'Chart.yaml'), 'utf8')) as { kubeVersion: string };
  assert.equal(chart.kubeVersion, `>=1.${minor(v.K8S_OLDEST)}.0-0 <1.${minor(v.K8S_VERSION) + 1}.0-0`);
  const install = readFileSync(repoPath('docs', 'install.md'), 'utf8');
  const requirements = install.slice(install.indexOf('## Requirements'), install.indexOf('## The image'));
  for (const s of [chart.kubeVersion, v.K8S_VERSION, v.K8S_OLDEST, v.HELM3_VERSION, v.HELM4_VERSION]) assert.ok(requirements.includes(s), `docs/install.md requirements mention ${s}`);
});

test('GHOSTWIRE_K8S_VERSION: unset means versions.env; a release without a wrapper module, or a hostile value, is refused by name', () => {
  assert.equal(selectedK8sVersion({}), toolVersions().K8S_VERSION);
  assert.equal(selectedK8sVersion({ GHOSTWIRE_K8S_VERSION: '' }), toolVersions().K8S_VERSION);
  assert.equal(selectedK8sVersion({ GHOSTWIRE_K8S_VERSION: toolVersions().K8S_OLDEST }), toolVersions().K8S_OLDEST);
  for (const bad of ['v1.34.4', '1.37.2', '../../etc', 'v1.37.2; rm -rf /', 'x'.repeat(5000)]) {
    assert.throws(() => selectedK8sVersion({ GHOSTWIRE_K8S_VERSION: bad }), (err: Error) => {
      assert.match(err.message, /^GHOSTWIRE_K8S_VERSION: "/);
      assert.match(err.message, /allowed: v1\.\d+\.\d+/);
      assert.ok(err.message.length < 200, 'the value is clipped');
      return true;
    });
  }
});

test('versions.env and env-<version>.sh are parsed strictly: bad lines name the file and line; %q escapes are undone', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gw-tools-env-'));
  try {
    const versions = join(dir, 'versions.env');
    writeFileSync(versions, 'K8S_VERSION=v1.37.2\nK8S_OLDEST=$(id)\n');
    assert.throws(() => toolVersions(versions), /versions\.env:2: expected KEY=vX\.Y\.Z, got "K8S_OLDEST=\$\(id\)"/);
    writeFileSync(versions, 'K8S_VERSION=v1.37.2\n');
    assert.throws(() => toolVersions(versions), /does not set K8S_OLDEST/);

    const env = join(dir, 'env-v1.37.2.sh');
    writeFileSync(env, '# comment\nexport KUBECTL=/opt/tools\\ dir/kubectl\nexport ETCD=/opt/etcd\nnot an export\n');
    assert.deepEqual(readToolsEnv(env), { KUBECTL: '/opt/tools dir/kubectl', ETCD: '/opt/etcd' });
    writeFileSync(env, "export KUBECTL=$'/opt/\\n/kubectl'\n");
    assert.throws(() => readToolsEnv(env), /KUBECTL has a path with control characters/);
    assert.deepEqual(readToolsEnv(join(dir, 'missing.sh')), {});
    assert.match(toolsEnvFile('v1.35.4'), /env-v1\.35\.4\.sh$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('build-tools.sh refuses an unknown release, an unknown component and a cache inside the repo before building', () => {
  const script = repoPath('test', 'e2e', 'tools', 'build-tools.sh');
  const runScript = (args: string[], env: Record<string, string>) => spawnSync('bash', [script, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 30_000 });
  const old = runScript([], { GHOSTWIRE_K8S_VERSION: 'v1.34.4' });
  assert.equal(old.status, 1);
  assert.match(old.stderr, /GHOSTWIRE_K8S_VERSION: "v1\.34\.4" has no wrapper module; allowed: v1\.35\.4 .*v1\.37\.2/);
  const component = runScript(['kube-scheduler'], {});
  assert.equal(component.status, 1);
  assert.match(component.stderr, /unknown argument: kube-scheduler/);
  const inRepo = runScript(['etcd'], { GHOSTWIRE_TOOLS_CACHE: repoPath('tools-cache') });
  assert.equal(inRepo.status, 1);
  assert.match(inRepo.stderr, /is inside the repository/);
  assert.equal(existsSync(repoPath('tools-cache')), false, 'nothing was created in the repo');
});
