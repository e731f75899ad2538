// A pod's routing as its watcher reports it: the metrics text read back (from the real registries, and from hostile
// pods), and the findings that need attention: wrong jump, stale sync, watches down, old config, unreachable.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeObject } from '../../src/kube/objects.js';
import { parseSamples, sampleSum, sampleValue } from '../../src/status/prom-text.js';
import { type PodContext, podStatus, probeTarget } from '../../src/status/pods.js';
import { CURRENT, NOW, inject, owned, pod, watcherText, workload } from '../helpers/status-cluster.js';

const deployment = inject(workload('Deployment', 'shop', 'orders', { role: 'preview' }), CURRENT);
const rs = owned('ReplicaSet', deployment, 'orders-1');
const running = pod(rs, 'orders-1-a', { ip: '10.244.0.5' });
const hash = JSON.parse((running.metadata?.annotations as Record<string, string>)['ghostwire.dev/status'] as string).configHash as string;
const ctx = (probe: PodContext['probe'], extra: Partial<PodContext> = {}): PodContext => ({ probe, workloadHash: hash, expectedHash: hash, workloadInjected: true, now: NOW, options: { syncStaleSeconds: 300 }, ...extra });

test('metrics text: the samples asked for, labels with escapes, special values; everything else ignored', () => {
  const text = [
    '# HELP ghostwire_jump_state x',
    '# TYPE ghostwire_jump_state gauge',
    'ghostwire_jump_state{state="preview"} 1',
    'ghostwire_jump_state{state="active"} 0',
    'ghostwire_dnat_rules{service="a\\"b\\\\c\\nd"} 2',
    'ghostwire_dnat_rules{service="x",} 3 1700000000000',
    'ghostwire_errors_total{type="iptables"} +Inf',
    'ghostwire_errors_total{type="map"} NaN',
    'other_metric 5',
    'ghostwire_dnat_rules_extra 9',
  ].join('\n');
  const s = parseSamples(text, new Set(['ghostwire_jump_state', 'ghostwire_dnat_rules', 'ghostwire_errors_total']));
  assert.equal(sampleValue(s, 'ghostwire_jump_state', { state: 'preview' }), 1);
  assert.equal(s.find((x) => x.name === 'ghostwire_dnat_rules')?.labels.service, 'a"b\\c\nd');
  assert.equal(sampleSum(s, 'ghostwire_dnat_rules'), 5);
  assert.equal(sampleSum(s, 'ghostwire_errors_total'), 0, 'infinite and NaN values are not summed');
  assert.equal(s.some((x) => x.name === 'other_metric' || x.name === 'ghostwire_dnat_rules_extra'), false);
});

test('metrics text from a hostile pod: malformed lines skipped, line length, label count and line count bounded', () => {
  const wanted = new Set(['ghostwire_jump_state']);
  for (const line of ['ghostwire_jump_state{state="preview" 1', 'ghostwire_jump_state{state=preview} 1', 'ghostwire_jump_state 1e', 'ghostwire_jump_state', 'ghostwire_jump_state{="x"} 1', `ghostwire_jump_state{${Array.from({ length: 40 }, (_, i) => `l${i}="v"`).join(',')}} 1`]) {
    assert.deepEqual(parseSamples(line, wanted), [], line.slice(0, 60));
  }
  const long = `ghostwire_jump_state{state="${'p'.repeat(10_000)}"} 1`;
  assert.deepEqual(parseSamples(long, wanted), [], 'a line over the length bound is not trusted');
  const many = `${'x 1\n'.repeat(60_000)}ghostwire_jump_state{state="preview"} 1\n`;
  const started = performance.now();
  assert.deepEqual(parseSamples(many, wanted), [], 'lines after the bound are not read');
  assert.ok(performance.now() - started < 5000);
  assert.deepEqual(parseSamples('\u0000\u001b[2J garbage \n{}} \n', wanted), []);
});

test('a healthy watcher: its routing, rules, last sync and errors by type, read from the real registry text', async () => {
  const row = podStatus(running, ctx(await watcherText({ jump: 'preview', rules: { api: 2, payments: 1 }, syncAgo: 4, errors: { events: 2 } })));
  assert.equal(row.state, 'ok', row.findings.join('; '));
  assert.equal(row.role, 'preview');
  assert.equal(row.wantsJump, 'preview');
  assert.deepEqual(row.watcher, { jump: 'preview', dnatRules: 3, lastSyncAgeSeconds: 4, errors: 2, errorsByType: { events: 2 }, podWatchUp: true, serviceWatchUp: true });
  assert.deepEqual(probeTarget(running), { namespace: 'shop', pod: 'orders-1-a', port: 8081 });
});

test('findings: jump against the role, a stale or missing sync, the Pod watch down, each one line', async () => {
  const row = podStatus(running, ctx(await watcherText({ jump: 'active', rules: {}, syncAgo: 301, podWatch: false })));
  assert.equal(row.state, 'attention');
  assert.deepEqual(row.findings, [
    'its role asks for preview routing, the watcher reports active',
    'routing last verified 5m ago (over 300s)',
    'its Pod watch is down (the API server is unreachable or forbids it): role changes are polled',
  ]);
  const never = podStatus(running, ctx(await watcherText({ jump: 'preview', rules: {}, syncAgo: null })));
  assert.deepEqual(never.findings, ['the watcher has not verified its routing since it started']);
  const garbage = podStatus(running, ctx({ ok: true, text: 'not metrics at all' }));
  assert.equal(garbage.watcher?.jump, 'unknown');
  assert.equal(garbage.state, 'attention');
});

test('unreachable, not running, not injected, and an unfinished rollout', async () => {
  const unreachable = podStatus(running, ctx({ ok: false, error: 'HTTP 503 ServiceUnavailable: no endpoints' }));
  assert.equal(unreachable.state, 'unreachable');
  assert.deepEqual(unreachable.findings, ['watcher metrics not readable through the pod proxy: HTTP 503 ServiceUnavailable: no endpoints']);
  const pending = pod(rs, 'orders-1-b', { phase: 'Pending' });
  assert.equal(probeTarget(pending), undefined);
  assert.equal(podStatus(pending, ctx(undefined)).state, 'not-running');
  const bare = pod(rs, 'orders-1-c', { ip: '10.244.0.6', template: (workload('Deployment', 'shop', 'orders').spec as any).template });
  assert.equal(probeTarget(bare), undefined, 'no watcher, nothing to read');
  assert.equal(podStatus(bare, ctx(undefined)).state, 'attention', 'a pod of an injected workload without ghostwire');
  assert.equal(podStatus(bare, ctx(undefined, { workloadInjected: false })).state, 'not-injected', 'the workload itself is not injected: its line says why');
  const old = podStatus(running, ctx(await watcherText({ jump: 'preview', rules: {}, syncAgo: 1 }), { workloadHash: 'new', expectedHash: 'new' }));
  assert.match(old.findings[0] ?? '', /runs config [0-9a-f]{16}, its workload's template runs new and the current defaults give new: its rollout did not finish/);
  const sameAsTemplate = podStatus(running, ctx(await watcherText({ jump: 'preview', rules: {}, syncAgo: 1 }), { expectedHash: 'new' }));
  assert.deepEqual(sameAsTemplate.findings, [], 'a template that is itself old is said on the workload line');
});

test('hostile pod specs: ports, env and status of the wrong types fall back, never throw', () => {
  const odd = structuredClone(running) as KubeObject;
  const watcher = (odd.spec as any).containers.find((c: any) => c.name === 'ghostwire-watcher');
  watcher.ports = [{ name: 'gw-metrics', containerPort: 99_999 }];
  watcher.env = [{ name: 'GW_ROLE_LABEL_KEY', value: 5 }, null];
  assert.equal(probeTarget(odd)?.port, 8081);
  for (const status of [null, 'x', { phase: 5, podIP: {} }]) {
    const o = { ...structuredClone(running), status } as KubeObject;
    assert.equal(probeTarget(o), undefined);
    assert.doesNotThrow(() => podStatus(o, ctx(undefined)));
  }
  const ann = structuredClone(running) as KubeObject;
  ann.metadata!.annotations = { 'ghostwire.dev/status': '{"configHash":' };
  assert.equal(podStatus(ann, ctx(undefined)).injected, false);
});

test('a workload that is not injected whose pods were injected one by one (the owner-not-injected webhook): its line counts them', async () => {
  const { allWellFixture } = await import('../helpers/status-cluster.js');
  const { buildReport } = await import('../../src/status/report.js');
  const { KINDS } = await import('../../src/status/workloads.js');
  const late = workload('Deployment', 'shop', 'late', { templateAnnotations: { 'ghostwire.dev/enabled': 'true' } });
  const lateRs = owned('ReplicaSet', late, 'late-1');
  const injectedTemplate = (inject(workload('Deployment', 'shop', 'late', { templateAnnotations: { 'ghostwire.dev/enabled': 'true' } }), CURRENT).spec as any).template;
  const objects = [late, lateRs, pod(lateRs, 'late-1-a', { phase: 'Pending', template: injectedTemplate }), pod(lateRs, 'late-1-b', { phase: 'Pending' })];
  const input = (await allWellFixture()).input;
  const report = buildReport({ ...input, objects: objects.map((object) => ({ kind: KINDS.find((k) => k.kind.kind === object.kind)!, object })) });
  const w = report.workloads.find((x) => x.name === 'late')!;
  assert.equal(w.state, 'not-injected');
  assert.match(w.message ?? '', /; 1 of its 2 pods were injected one by one when they were created$/);
  assert.deepEqual(w.pods.map((p) => [p.name, p.injected, p.state]), [['late-1-a', true, 'not-running'], ['late-1-b', false, 'not-injected']]);
});
