// The Grafana dashboard shipped in the chart (dashboards/ghostwire.json): its layout and variables, the topics an
// operator needs, every query valid PromQL over the metric contract (promtool), and the key panels' queries
// evaluated on synthetic series with promtool, after Grafana's variables are substituted as Grafana would.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { repoPath } from '../helpers/paths.js';
import { promtoolOrSkip, runPromtool } from '../helpers/promtool.js';
import { contractViolation, metricNames } from '../helpers/monitoring.js';

interface Target { expr: string; refId: string; legendFormat?: string; datasource?: { type: string; uid: string } }
interface Panel { id: number; type: string; title: string; gridPos: { x: number; y: number; w: number; h: number }; datasource?: { type: string; uid: string }; targets?: Target[] }

const dashboard = JSON.parse(readFileSync(repoPath('charts', 'ghostwire', 'dashboards', 'ghostwire.json'), 'utf8')) as {
  uid: string; title: string; schemaVersion: number; panels: Panel[]; templating: { list: Array<Record<string, any>> };
};
const panels = dashboard.panels.filter((p) => p.type !== 'row');
const targets = panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p, target: t })));

/** Grafana's substitutions: a 5m rate interval, a 1h range, the webhook job, "All" (.+) namespaces and pods. */
function substitute(expr: string, job = 'gw-ghostwire'): string {
  return expr.replace(/\$__rate_interval/g, '5m').replace(/\$__range/g, '1h').replace(/\$job\b/g, job).replace(/\$namespace\b/g, '.+').replace(/\$pod\b/g, '.+');
}

function panel(title: string): Panel {
  const p = panels.find((x) => x.title === title);
  assert.ok(p, `panel "${title}" (have: ${panels.map((x) => x.title).join(', ')})`);
  return p;
}

function exprOf(title: string, legend?: string): string {
  const ts = panel(title).targets ?? [];
  const t = legend === undefined ? ts[0] : ts.find((x) => x.legendFormat === legend);
  assert.ok(t, `panel "${title}" has a query${legend ? ` with legend ${legend}` : ''}`);
  return substitute(t.expr);
}

test('dashboard: uid, variables, one data source variable used by every panel and query, a non-overlapping 24-column grid', () => {
  assert.equal(dashboard.uid, 'ghostwire');
  assert.equal(dashboard.title, 'ghostwire');
  assert.ok(dashboard.schemaVersion >= 36);
  const vars = new Map(dashboard.templating.list.map((v) => [v.name as string, v]));
  assert.equal(vars.get('datasource')?.type, 'datasource');
  assert.equal(vars.get('datasource')?.query, 'prometheus');
  for (const name of ['job', 'namespace', 'pod']) {
    const v = vars.get(name);
    assert.equal(v?.type, 'query', `variable ${name}`);
    assert.deepEqual(v?.datasource, { type: 'prometheus', uid: '${datasource}' });
    for (const m of metricNames(String(v?.definition).replace(/^label_values\((.*),\s*\w+\)$/, '$1'))) assert.equal(contractViolation(m), undefined, `variable ${name}: ${m}`);
  }
  // A single webhook job: "All" would turn sum(up{job=~".+"}) into every target of the Prometheus.
  assert.equal(vars.get('job')?.includeAll, false);
  assert.equal(vars.get('job')?.multi, false);

  const ids = dashboard.panels.map((p) => p.id);
  assert.equal(new Set(ids).size, ids.length, 'unique panel ids');
  for (const p of panels) {
    assert.deepEqual(p.datasource, { type: 'prometheus', uid: '${datasource}' }, `${p.title}: data source variable`);
    assert.ok((p.targets ?? []).length > 0, `${p.title}: has a query`);
    const refs = (p.targets ?? []).map((t) => t.refId);
    assert.equal(new Set(refs).size, refs.length, `${p.title}: unique refIds`);
    for (const t of p.targets ?? []) assert.deepEqual(t.datasource, { type: 'prometheus', uid: '${datasource}' }, `${p.title}/${t.refId}`);
  }
  const cells = new Map<string, string>();
  for (const p of dashboard.panels) {
    const g = p.gridPos;
    assert.ok(g.w >= 1 && g.x >= 0 && g.x + g.w <= 24, `${p.title}: within 24 columns`);
    for (let x = g.x; x < g.x + g.w; x++) {
      for (let y = g.y; y < g.y + g.h; y++) {
        const key = `${x},${y}`;
        assert.ok(!cells.has(key), `${p.title} overlaps ${cells.get(key)} at ${key}`);
        cells.set(key, p.title);
      }
    }
  }
});

test('dashboard: the panels an operator needs', () => {
  const need: Array<[string, RegExp]> = [
    ['Admissions by result', /sum by \(result\) \(rate\(ghostwire_admission_requests_total/],
    ['Admissions by reason', /sum by \(result, reason\) \(rate\(ghostwire_admission_requests_total/],
    ['Admission latency', /histogram_quantile\(0\.5, .*ghostwire_admission_duration_seconds_bucket/],
    ['Pods by role (jump state)', /count by \(state\) \(ghostwire_jump_state/],
    ['DNAT rules', /ghostwire_dnat_rules/],
    ['Last sync age', /time\(\) - ghostwire_last_sync_timestamp_seconds/],
    ['Connections reset', /ghostwire_conntrack_entries_reset_total/],
    ['Reprograms by cause', /sum by \(cause\) .*ghostwire_reprograms_total/],
    ['Watcher errors', /sum by \(type\) .*ghostwire_errors_total/],
    ['Serving certificate expires in', /ghostwire_webhook_certificate_expiry_timestamp_seconds.* - time\(\)/],
  ];
  for (const [title, expr] of need) assert.match((panel(title).targets ?? []).map((t) => t.expr).join('\n'), expr, title);
  assert.deepEqual((panel('Admission latency').targets ?? []).map((t) => t.legendFormat).slice(0, 2), ['p50', 'p99']);
  assert.match(exprOf('Admission latency', 'p99'), /^histogram_quantile\(0\.99, /);
});

test('dashboard: every query reads metrics of the contract and is valid PromQL (promtool check rules)', (t) => {
  for (const { panel: p, target } of targets) {
    for (const m of metricNames(target.expr)) assert.equal(contractViolation(m), undefined, `${p.title}/${target.refId}: ${contractViolation(m)}`);
  }
  const promtool = promtoolOrSkip(t);
  if (!promtool) return;
  const rules = targets.map(({ panel: p, target }) => ({ record: `dashboard:panel_${p.id}_${target.refId}`, expr: substitute(target.expr) }));
  const dir = mkdtempSync(join(tmpdir(), 'gw-dashboard-'));
  try {
    writeFileSync(join(dir, 'queries.yaml'), stringify({ groups: [{ name: 'dashboard', rules }] }, { lineWidth: 0 }));
    const r = runPromtool(promtool, ['check', 'rules', join(dir, 'queries.yaml')]);
    assert.equal(r.status, 0, `promtool check rules on the dashboard's queries:\n${r.stdout}${r.stderr}`);
    assert.match(r.stdout, new RegExp(`SUCCESS: ${rules.length} rules found`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('dashboard: key panels evaluated by promtool on synthetic series give the expected figures', (t) => {
  const promtool = promtoolOrSkip(t);
  if (!promtool) return;
  const w = 'job="gw-ghostwire",namespace="ghostwire-system"';
  const watcher = (pod: string) => `job="ghostwire-system/gw-ghostwire-watchers",namespace="shop",pod="${pod}"`;
  const series = [
    // Three injected pods: two in preview, one in active; one has not synced since 60 s, one never.
    ...[['orders-1', 'preview'], ['orders-2', 'preview'], ['cart-1', 'active']].flatMap(([pod, state]) => [
      { series: `ghostwire_jump_state{${watcher(pod!)},state="preview"}`, values: state === 'preview' ? '1x20' : '0x20' },
      { series: `ghostwire_jump_state{${watcher(pod!)},state="active"}`, values: state === 'active' ? '1x20' : '0x20' },
    ]),
    { series: `ghostwire_last_sync_timestamp_seconds{${watcher('orders-1')}}`, values: '0+60x20' },
    { series: `ghostwire_last_sync_timestamp_seconds{${watcher('orders-2')}}`, values: '60x20' },
    { series: `ghostwire_last_sync_timestamp_seconds{${watcher('cart-1')}}`, values: '0x20' },
    { series: `ghostwire_watch_up{${watcher('orders-1')}}`, values: '1x20' },
    { series: `ghostwire_watch_up{${watcher('orders-2')}}`, values: '0x20' },
    { series: `ghostwire_service_watch_up{${watcher('orders-2')}}`, values: '0x20' },
    { series: `ghostwire_service_watch_up{${watcher('cart-1')}}`, values: '1x20' },
    { series: `ghostwire_dnat_rules{${watcher('orders-1')},service="orders"}`, values: '4x20' },
    { series: `ghostwire_dnat_rules{${watcher('orders-1')},service="cart"}`, values: '2x20' },
    // Webhook: two replicas, one certificate expiring sooner; admissions all in the (0.005, 0.01] bucket.
    { series: `ghostwire_webhook_certificate_expiry_timestamp_seconds{${w},pod="a"}`, values: '86400x20' },
    { series: `ghostwire_webhook_certificate_expiry_timestamp_seconds{${w},pod="b"}`, values: '172800x20' },
    { series: `ghostwire_admission_duration_seconds_bucket{${w},pod="a",kind="Deployment",result="injected",le="0.005"}`, values: '0x20' },
    { series: `ghostwire_admission_duration_seconds_bucket{${w},pod="a",kind="Deployment",result="injected",le="0.01"}`, values: '0+60x20' },
    { series: `ghostwire_admission_duration_seconds_bucket{${w},pod="a",kind="Deployment",result="injected",le="+Inf"}`, values: '0+60x20' },
    { series: `ghostwire_admission_requests_total{${w},pod="a",kind="Deployment",result="injected",reason="injected"}`, values: '0+60x20' },
    { series: `ghostwire_admission_requests_total{${w},pod="a",kind="Pod",result="skipped",reason="workload-ref"}`, values: '0+120x20' },
    { series: `ghostwire_admission_requests_total{job="someone-else",namespace="x",pod="z",kind="Pod",result="injected",reason="injected"}`, values: '0+600x20' },
  ];
  const at = '10m';
  const cases: Array<{ expr: string; exp_samples: Array<{ labels: string; value: number }> }> = [
    { expr: exprOf('Pods by role (jump state)'), exp_samples: [{ labels: '{state="preview"}', value: 2 }, { labels: '{state="active"}', value: 1 }] },
    { expr: exprOf('Pods in preview'), exp_samples: [{ labels: '{}', value: 2 }] },
    { expr: exprOf('Pods in active'), exp_samples: [{ labels: '{}', value: 1 }] },
    { expr: exprOf('Watches down'), exp_samples: [{ labels: '{}', value: 2 }] },
    { expr: exprOf('Oldest sync'), exp_samples: [{ labels: '{}', value: 600 }] },
    {
      expr: exprOf('Last sync age'),
      exp_samples: [
        { labels: `{${watcher('orders-1')}}`, value: 0 },
        { labels: `{${watcher('orders-2')}}`, value: 540 },
        { labels: `{${watcher('cart-1')}}`, value: 600 },
      ],
    },
    { expr: exprOf('DNAT rules'), exp_samples: [{ labels: '{namespace="shop",pod="orders-1"}', value: 6 }] },
    { expr: exprOf('Serving certificate expires in'), exp_samples: [{ labels: '{}', value: 86400 - 600 }] },
    { expr: exprOf('Admission latency', 'p50'), exp_samples: [{ labels: '{}', value: 0.0075 }] },
    { expr: exprOf('Admission latency', 'p99'), exp_samples: [{ labels: '{}', value: 0.00995 }] },
    { expr: exprOf('Admissions by result'), exp_samples: [{ labels: '{result="injected"}', value: 1 }, { labels: '{result="skipped"}', value: 2 }] },
    { expr: exprOf('Admissions per second'), exp_samples: [{ labels: '{}', value: 3 }] },
  ];
  const dir = mkdtempSync(join(tmpdir(), 'gw-dashboard-eval-'));
  try {
    writeFileSync(join(dir, 'empty.yaml'), 'groups: []\n');
    const file = { rule_files: ['empty.yaml'], evaluation_interval: '1m', tests: [{ interval: '1m', input_series: series, promql_expr_test: cases.map((c) => ({ ...c, eval_time: at })) }] };
    writeFileSync(join(dir, 'panels.test.yaml'), stringify(file, { lineWidth: 0 }));
    const r = runPromtool(promtool, ['test', 'rules', join(dir, 'panels.test.yaml')]);
    assert.equal(r.status, 0, `promtool test rules on the dashboard's queries:\n${r.stdout}${r.stderr}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
