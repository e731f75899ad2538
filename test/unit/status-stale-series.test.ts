// ghostwire_workload_config_stale: the shadow controller's series come from the same drift function as
// `ghostwire status`, one series per injected workload, re-judged only when a workload or the defaults change, and
// served over HTTP by the controller's metrics endpoint.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { VERSION } from '../../src/version.js';
import type { KubeObject } from '../../src/kube/objects.js';
import { controllerRegistry, serveMetrics } from '../../src/server/controller-metrics.js';
import type { DriftContext } from '../../src/status/drift.js';
import { parseSamples } from '../../src/status/prom-text.js';
import { buildReport } from '../../src/status/report.js';
import { StaleSeriesCache } from '../../src/status/stale-series.js';
import { CLI } from '../helpers/paths.js';
import { BEFORE, CURRENT, TUNNEL_KEY, clusterFixture } from '../helpers/status-cluster.js';

const ctx = (defaults = CURRENT): DriftContext => ({ defaults, version: VERSION, tunnelKey: TUNNEL_KEY, tunnelKeyKnown: true, ownNamespace: 'ghostwire' });
const TUNNEL_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet']);

test('one function, two callers: the series agree with the status report for every injected workload the controller watches', async () => {
  const fixture = await clusterFixture();
  const workloads = fixture.objects.filter((l) => TUNNEL_KINDS.has(l.kind.kind.kind) && !l.object.metadata?.ownerReferences).map((l) => l.object);
  const series = new StaleSeriesCache().series(workloads, ctx());
  const byName = Object.fromEntries(series.map((s) => [`${s.kind} ${s.namespace}/${s.name}`, s.value]));
  assert.deepEqual(byName, {
    'Deployment shop/orders': 0,
    'Deployment shop/cart': 1,
    'StatefulSet shop/ledger': 0,
    'Deployment shop/retired': 1,
    'Deployment shop/tunnel': 0,
  });
  // The report (with the key known, as the controller has it) says the same of each of them.
  const report = buildReport({ ...fixture.input, drift: ctx() });
  for (const s of series) {
    const w = report.workloads.find((x) => x.kind === s.kind && x.name === s.name && x.namespace === s.namespace)!;
    assert.equal(s.value === 1, w.state === 'rollout-needed' || w.state === 'removal-pending', `${s.kind} ${s.name}: ${w.state}`);
  }
  // Not injected, not enabled, refused before injection: no series at all (bounded by what carries ghostwire).
  for (const absent of ['early', 'billing', 'netdebug', 'typo', 'plain']) assert.equal(series.some((s) => s.name === absent), false, absent);
  // With the defaults the stale ones were injected with, they are current, and the others stale.
  const before = Object.fromEntries(new StaleSeriesCache().series(workloads, ctx(BEFORE)).map((s) => [s.name, s.value]));
  assert.equal(before.cart, 0);
  assert.equal(before.orders, 1);
});

test('the cache: unchanged workloads are not re-judged; a new resourceVersion or new defaults are; deleted ones drop out', async () => {
  const workloads = (await clusterFixture()).objects.filter((l) => l.kind.kind.kind === 'Deployment').map((l) => l.object);
  const cache = new StaleSeriesCache();
  const c = ctx();
  const first = cache.series(workloads, c);
  const again = cache.series(workloads, c);
  assert.equal(again.length, first.length);
  again.forEach((s, i) => assert.equal(s, first[i], 'the same series object: not judged again'));
  const changed = workloads.map((w) => (w.metadata?.name === 'cart' ? ({ ...w, metadata: { ...w.metadata, resourceVersion: '2' } } as KubeObject) : w));
  const third = cache.series(changed, c);
  assert.notEqual(third.find((s) => s.name === 'cart'), first.find((s) => s.name === 'cart'));
  assert.equal(third.find((s) => s.name === 'orders'), first.find((s) => s.name === 'orders'));
  assert.notEqual(cache.series(workloads, ctx())[0], first[0], 'a new defaults context re-judges');
  assert.equal(cache.series(workloads.filter((w) => w.metadata?.name !== 'cart'), c).some((s) => s.name === 'cart'), false);
});

test('the controller endpoint: /metrics over HTTP with the series of the moment, /healthz, nothing else', async (t) => {
  let series = [{ namespace: 'shop', kind: 'Deployment', name: 'cart', value: 1 }, { namespace: 'shop', kind: 'Deployment', name: 'orders', value: 0 }];
  const { server } = await serveMetrics(controllerRegistry(() => series), { host: '127.0.0.1', port: 0 });
  t.after(() => void server.close());
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const scrape = async () => parseSamples(await (await fetch(`${base}/metrics`)).text(), new Set(['ghostwire_workload_config_stale', 'ghostwire_shadow_process_start_time_seconds']));
  let samples = await scrape();
  assert.deepEqual(samples.filter((s) => s.name === 'ghostwire_workload_config_stale').map((s) => `${s.labels.name}=${s.value}`), ['cart=1', 'orders=0']);
  assert.ok(samples.some((s) => s.name === 'ghostwire_shadow_process_start_time_seconds'), 'process metrics, prefixed');
  series = [{ namespace: 'shop', kind: 'Deployment', name: 'orders', value: 0 }];
  samples = await scrape();
  assert.deepEqual(samples.filter((s) => s.name === 'ghostwire_workload_config_stale').map((s) => s.labels.name), ['orders'], 'a workload gone is gone from the scrape');
  assert.equal((await fetch(`${base}/healthz`)).status, 200);
  assert.equal((await fetch(`${base}/other`)).status, 404);
  assert.equal((await fetch(`${base}/metrics`, { method: 'POST' })).status, 405);
});

test('shadow run --metrics-listen: a bad value is a usage error naming the flag', () => {
  const r = spawnSync(process.execPath, [CLI, 'shadow', 'run', '--metrics-listen', 'everywhere', '--allow-dev-key'], { encoding: 'utf8' });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /--metrics-listen: "everywhere" is not allowed; allowed: HOST:PORT, :PORT, \[V6\]:PORT, unix:\/path or off/);
});
