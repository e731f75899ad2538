// The policy's CEL against the webhook's validators, value by value, on a real API server: every option with its
// hostile and ordinary samples (test/helpers/policy-samples.ts), layered annotations, cross-field rules, unknown
// keys, and the kinds' own wording, in deny and in warn mode. For each object the API server's answer (refusal,
// warnings, stored parts) must be what the webhook's pipeline gives, except where docs/install.md says otherwise.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { type Defaults, builtinDefaults } from '../../src/config/defaults.js';
import { OPTION_LIST } from '../../src/config/options.js';
import { samplesFor } from '../helpers/policy-samples.js';
import { type ControlPlane, startControlPlane } from './harness.js';
import { annotatedDeployment, applyParams, compareOne, expected, installPolicy } from './policy-env.js';

let cp: ControlPlane;
const defaults = (mode: 'deny' | 'warn'): Defaults => ({ ...builtinDefaults(), invalidAnnotations: mode });

before(async () => {
  cp = await startControlPlane({ controllerManager: false });
  await cp.kubectl(['create', 'namespace', 'shop']);
  await cp.kubectl(['label', 'namespace', 'shop', 'ghostwire.dev/injection=enabled']);
  await cp.kubectl(['-n', 'shop', 'create', 'serviceaccount', 'default']);
  await installPolicy(cp);
});

after(async () => {
  await cp?.stop();
});

/** Where policy mode differs on purpose (docs/install.md, "Policy mode"): the text its refusal or warning holds. */
function documented(key: string, value: string): string | undefined {
  if (key === 'tunnel' && value.trim().toLowerCase() === 'true') return 'asks for a shadow tunnel';
  if (key === 'excludeCidrs' && value.includes('::ffff:')) return 'is not one';
  return undefined;
}

async function samples(mode: 'deny' | 'warn'): Promise<void> {
  await applyParams(cp, defaults(mode));
  const failures: string[] = [];
  let n = 0;
  for (const o of OPTION_LIST) {
    for (const value of samplesFor(o)) {
      n++;
      const obj = annotatedDeployment(`opt-${n}`, { 'ghostwire.dev/enabled': 'true', [`ghostwire.dev/${o.key}`]: value });
      failures.push(...(await compareOne(cp, obj, defaults(mode), documented(o.key, value))));
    }
  }
  process.stderr.write(`[e2e] ${mode} mode: ${n} option values compared with the webhook's pipeline\n`);
  assert.deepEqual(failures, []);
}

test('deny mode: every option value is refused, rewritten or injected as the webhook does', async () => {
  await samples('deny');
});

test('warn mode: every invalid value falls back with the webhook\'s warning, the rest as in deny mode', async () => {
  await samples('warn');
});

type Layers = { obj?: Record<string, string>; tpl?: Record<string, string> };
const g = (a: Record<string, string> = {}) => Object.fromEntries(Object.entries(a).map(([k, v]) => [k.includes('/') ? k : `ghostwire.dev/${k}`, v]));

const LAYERS: Layers[] = [
  { obj: { enabled: 'true', natChain: 'OBJ' }, tpl: { natChain: 'TPL' } },
  { obj: { enabled: 'true', natChain: 'OBJ' }, tpl: { natChain: 'bad chain' } },
  { obj: { enabled: 'false' }, tpl: { enabled: 'true' } },
  { obj: { enabled: 'true' }, tpl: { enabled: 'yes' } },
  { obj: { enabled: 'yes' }, tpl: { enabled: 'true' } },
  { obj: { enabled: 'yes' } },
  { tpl: { enabled: 'true', activeSuffix: '-x', previewSuffix: '-x' } },
  { tpl: { enabled: 'true', cpuRequest: '500m' } },
  { obj: { enabled: 'true', memoryLimit: '32Mi' }, tpl: { memoryRequest: '16Mi' } },
  { obj: { enabled: 'true', memoryLimit: '32Mi', cpuRequest: '1' } },
  { tpl: { enabled: 'true', natchain: 'x', foo: 'y' }, obj: { foo: 'z', bar: 'w', 'other.example/x': 'v' } },
  { tpl: { enabled: 'true', jumpHook: 'FORWARD', pollInterval: 'soon', natChain: 'a b', excludeCidrs: 'x' }, obj: { cpuLimit: 'lots', jumpHook: 'OUTPUT' } },
  { tpl: { enabled: 'true', nativeSidecar: 'true', initFirst: 'true', image: 'registry.example/gw:1', cpuRequest: '0.05', memoryLimit: '0.5Gi' } },
];

async function layers(mode: 'deny' | 'warn'): Promise<string[]> {
  const failures: string[] = [];
  for (const [i, c] of LAYERS.entries()) {
    const obj = annotatedDeployment(`layers-${i}`, g(c.tpl));
    obj.metadata.annotations = g(c.obj);
    failures.push(...(await compareOne(cp, obj, defaults(mode))));
  }
  return failures;
}

test('layers (template over object over defaults), the enabled switch, cross-field rules and unknown keys, in both modes', async () => {
  for (const mode of ['deny', 'warn'] as const) {
    await applyParams(cp, defaults(mode));
    assert.deepEqual(await layers(mode), [], `${mode} mode`);
  }
});

const template = (annotations: Record<string, string>, spec: Record<string, unknown> = {}) => ({ metadata: { labels: { app: 'k' }, annotations }, spec: { containers: [{ name: 'app', image: 'app:1' }], ...spec } });

test('every kind names itself as the webhook does; a tunnel on a Job is dropped with its warning; hostNetwork is skipped', async () => {
  await applyParams(cp, defaults('deny'));
  const bad = { 'ghostwire.dev/enabled': 'true', 'ghostwire.dev/jumpHook': 'FORWARD' };
  const objects: any[] = [
    { apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'job', namespace: 'shop' }, spec: { template: { ...template(bad), spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'c' }] } } } },
    { apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name: 'cron', namespace: 'shop' }, spec: { schedule: '* * * * *', jobTemplate: { spec: { template: { ...template(bad), spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'c' }] } } } } } },
    { apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'sts', namespace: 'shop' }, spec: { serviceName: 's', selector: { matchLabels: { app: 'k' } }, template: template(bad) } },
    { apiVersion: 'v1', kind: 'Pod', metadata: { generateName: 'pod-', namespace: 'shop', annotations: bad }, spec: { containers: [{ name: 'c', image: 'c' }] } },
    { apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'job-tunnel', namespace: 'shop' }, spec: { template: { ...template({ 'ghostwire.dev/enabled': 'true', 'ghostwire.dev/tunnel': 'true' }), spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'c' }] } } } },
    { apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'ds', namespace: 'shop' }, spec: { selector: { matchLabels: { app: 'k' } }, template: template({ 'ghostwire.dev/enabled': 'true' }, { hostNetwork: true }) } },
  ];
  const failures: string[] = [];
  for (const o of objects) failures.push(...(await compareOne(cp, o, defaults('deny'))));
  assert.deepEqual(failures, []);
});

test('more warnings than fit: at most 16, each and all bounded in bytes, the last one counting the rest, as the webhook bounds them', async () => {
  await applyParams(cp, defaults('warn'));
  const failures: string[] = [];
  for (const [i, value] of ['\u0001bad', 'é'.repeat(60), '😀'.repeat(40)].entries()) {
    const many = Object.fromEntries(OPTION_LIST.map((o) => [`ghostwire.dev/${o.key}`, value]));
    const unknown = Object.fromEntries(Array.from({ length: 7 }, (_, k) => [`ghostwire.dev/unknown-${'k'.repeat(40)}-${k}`, 'x']));
    const obj = annotatedDeployment(`many-${i}`, { ...many, ...unknown, 'ghostwire.dev/enabled': 'true' });
    const exp = expected(obj, defaults('warn'));
    assert.ok(exp.warnings.length <= 16);
    assert.match(exp.warnings[exp.warnings.length - 1]!, /^ghostwire: and \d+ more warnings$/, 'the case reaches the webhook\'s bound');
    failures.push(...(await compareOne(cp, obj, defaults('warn'))));
  }
  assert.deepEqual(failures, []);
});

test('the image allow-list: only the defaults\' image or what allowedImages admits, refused or replaced as the webhook does', async () => {
  const images = ['registry.example/ghostwire:1.2', 'registry.example/ghostwire@sha256:abc', 'registry.example/ghostwire', 'registry.example/ghostwire-evil:1',
    'registry.example/platform/ghostwire:2', 'registry.example:5000/ghostwire:1', 'evil.example/ghostwire:1', 'ghostwire:0.1.0', ' registry.example/platform/x '];
  for (const mode of ['deny', 'warn'] as const) {
    for (const allowed of [[], ['registry.example/ghostwire', 'registry.example/platform/']]) {
      const d = { ...defaults(mode), allowedImages: allowed };
      await applyParams(cp, d);
      const failures: string[] = [];
      for (const [i, image] of images.entries()) {
        failures.push(...(await compareOne(cp, annotatedDeployment(`img-${i}`, { 'ghostwire.dev/enabled': 'true', 'ghostwire.dev/image': image }), d)));
      }
      assert.deepEqual(failures, [], `${mode} mode, allowedImages ${JSON.stringify(allowed)}`);
    }
  }
});
