// The chart's alerts, checked by the real promtool (`check rules`, `test rules`): rendered by helm exactly as the
// PrometheusRule ships them, then evaluated on the synthetic series of test/fixtures/monitoring/alerts.test.yaml,
// where every alert fires in one case and stays silent in another.
import { test } from 'node:test';
import { execFile } from 'node:child_process';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml, stringify } from 'yaml';
import { repoPath } from '../helpers/paths.js';
import { helmOrSkip, parseManifests, runHelm } from '../helpers/helm.js';
import { promtoolOrSkip, runPromtool } from '../helpers/promtool.js';
import { ALERT_NAMES, contractViolation, metricNames } from '../helpers/monitoring.js';

const CHART = repoPath('charts', 'ghostwire');
const FIXTURE = repoPath('test', 'fixtures', 'monitoring', 'alerts.test.yaml');
/** The values the fixture's series are written for (see its header). */
const FIXTURE_SET = ['metrics.prometheusRule.enabled=true', 'metrics.podMonitor.enabled=true'];

/** The PrometheusRule's groups, rendered by helm (release gw in ghostwire-system). */
function ruleGroups(helm: string, set: string[], values?: unknown): any[] {
  const args = ['template', 'gw', CHART, '--namespace', 'ghostwire-system', '--show-only', 'templates/monitoring-prometheusrule.yaml'];
  for (const s of set) args.push('--set', s);
  const dir = values === undefined ? undefined : mkdtempSync(join(tmpdir(), 'gw-rules-values-'));
  try {
    if (dir) {
      writeFileSync(join(dir, 'values.yaml'), JSON.stringify(values));
      args.push('-f', join(dir, 'values.yaml'));
    }
    const r = runHelm(helm, args);
    assert.equal(r.status, 0, `helm template ${set.join(' ')}:\n${r.stderr}`);
    const [rule] = parseManifests(r.stdout);
    assert.equal(rule?.kind, 'PrometheusRule');
    return rule.spec.groups;
  } finally {
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs promtool in a directory holding rules.yaml (the groups) and, when asked, the fixture next to it. */
function withRules<T>(groups: any[], fn: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'gw-rules-'));
  try {
    writeFileSync(join(dir, 'rules.yaml'), stringify({ groups }, { lineWidth: 0 }));
    copyFileSync(FIXTURE, join(dir, 'alerts.test.yaml'));
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function testRules(promtool: string, groups: any[]): { status: number | null; output: string } {
  return withRules(groups, (dir) => {
    const r = runPromtool(promtool, ['test', 'rules', join(dir, 'alerts.test.yaml')]);
    return { status: r.status, output: r.stdout + r.stderr };
  });
}

test('promtool check rules: the rendered rules are valid with and without the PodMonitor, with custom selectors and with one alert left', (t) => {
  const helm = helmOrSkip(t);
  if (!helm) return;
  const promtool = promtoolOrSkip(t);
  if (!promtool) return;
  const variants: Array<{ set: string[]; values?: unknown; count: number }> = [
    { set: FIXTURE_SET, count: ALERT_NAMES.length },
    { set: ['metrics.prometheusRule.enabled=true'], count: ALERT_NAMES.length - 1 },
    {
      set: ['metrics.prometheusRule.enabled=true'],
      values: { metrics: { prometheusRule: { webhookSelector: ' job="ghostwire", cluster=~"eu-.*", ', watcherSelector: 'job!="other",namespace=~"shop|pay"', admissionErrorsPerSecond: 0.00001, admissionLatencySeconds: 0.25, configStaleFor: '1d12h' } } },
      count: ALERT_NAMES.length,
    },
    { set: ['metrics.prometheusRule.enabled=true'], values: { metrics: { prometheusRule: { disabledAlerts: ALERT_NAMES.filter((a) => a !== 'GhostwireWatcherSyncStale') } } }, count: 1 },
  ];
  for (const v of variants) {
    const groups = ruleGroups(helm, v.set, v.values);
    withRules(groups, (dir) => {
      const r = runPromtool(promtool, ['check', 'rules', join(dir, 'rules.yaml')]);
      assert.equal(r.status, 0, `promtool check rules (${v.set.join(' ')} ${JSON.stringify(v.values ?? {})}):\n${r.stdout}${r.stderr}`);
      assert.match(r.stdout, new RegExp(`SUCCESS: ${v.count} rules found`));
    });
  }
});

test('promtool test rules: every alert fires and stays silent on the fixture\'s synthetic series', (t) => {
  const helm = helmOrSkip(t);
  if (!helm) return;
  const promtool = promtoolOrSkip(t);
  if (!promtool) return;
  const groups = ruleGroups(helm, FIXTURE_SET);
  const r = testRules(promtool, groups);
  assert.equal(r.status, 0, `promtool test rules:\n${r.output}`);
  assert.match(r.output, /SUCCESS/);

  // The fixture covers each rendered alert both ways, and names no alert that does not exist.
  const fixture = parseYaml(readFileSync(FIXTURE, 'utf8')) as { tests: Array<{ alert_rule_test?: Array<{ alertname: string; exp_alerts?: unknown[] }> }> };
  const fires = new Set<string>();
  const silent = new Set<string>();
  for (const c of fixture.tests.flatMap((x) => x.alert_rule_test ?? [])) {
    ((c.exp_alerts ?? []).length > 0 ? fires : silent).add(c.alertname);
  }
  const rendered = groups.flatMap((g: any) => g.rules.map((rule: any) => rule.alert as string));
  assert.deepEqual([...rendered].sort(), [...ALERT_NAMES].sort());
  for (const name of rendered) {
    assert.ok(fires.has(name), `${name}: the fixture has a case where it fires`);
    assert.ok(silent.has(name), `${name}: the fixture has a case where it stays silent`);
  }
  for (const name of [...fires, ...silent]) assert.ok(rendered.includes(name), `the fixture tests ${name}, which the chart does not render`);
});

test('promtool test rules: each threshold value reaches its alert (changing it changes what the fixture sees)', async (t) => {
  const helm = helmOrSkip(t);
  if (!helm) return;
  const promtool = promtoolOrSkip(t);
  if (!promtool) return;
  const knobs: Array<[string, string]> = [
    ['metrics.prometheusRule.certificateExpiryDays=5', 'GhostwireWebhookCertificateExpiring'],
    ['metrics.prometheusRule.watcherSyncStaleSeconds=3600', 'GhostwireWatcherSyncStale'],
    ['metrics.prometheusRule.admissionErrorsPerSecond=1', 'GhostwireAdmissionErrors'],
    ['metrics.prometheusRule.admissionLatencySeconds=0.001', 'GhostwireAdmissionLatencyHigh'],
    ['metrics.prometheusRule.configStaleFor=2h', 'GhostwireWorkloadConfigStale'],
    ['metrics.prometheusRule.additionalRuleLabels.team=platform', 'GhostwireWebhookDown'],
    ['metrics.prometheusRule.runbookBaseUrl=https://example.com/runbook', 'GhostwireDefaultsRejected'],
  ];
  // promtool spends most of a run waiting, so the variants run side by side.
  const runs = await Promise.all(knobs.map(async ([set]) => {
    const groups = ruleGroups(helm, [...FIXTURE_SET, set]);
    const dir = mkdtempSync(join(tmpdir(), 'gw-rules-'));
    try {
      writeFileSync(join(dir, 'rules.yaml'), stringify({ groups }, { lineWidth: 0 }));
      copyFileSync(FIXTURE, join(dir, 'alerts.test.yaml'));
      return await new Promise<{ status: number | null; output: string }>((resolve) => {
        execFile(promtool, ['test', 'rules', join(dir, 'alerts.test.yaml')], (err, stdout, stderr) => {
          resolve({ status: err ? ((err as { code?: number }).code ?? 1) : 0, output: stdout + stderr });
        });
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }));
  knobs.forEach(([set, alert], i) => {
    const r = runs[i]!;
    assert.notEqual(r.status, 0, `${set}: the fixture must no longer pass`);
    assert.match(r.output, new RegExp(`alertname: ${alert},`), `${set}: ${alert} changed:\n${r.output}`);
  });
});

test('alert expressions read only metrics of the contract, or the API server\'s, kube-state-metrics\' and up', (t) => {
  const helm = helmOrSkip(t);
  if (!helm) return;
  const rules = ruleGroups(helm, FIXTURE_SET).flatMap((g: any) => g.rules);
  const seen = new Set<string>();
  for (const rule of rules) {
    const names = metricNames(rule.expr);
    assert.ok(names.length > 0, `${rule.alert}: reads some metric`);
    for (const name of names) {
      seen.add(name);
      assert.equal(contractViolation(name), undefined, `${rule.alert}: ${contractViolation(name)}`);
    }
  }
  // The helper itself: it finds names and flags strangers.
  assert.deepEqual(metricNames('time() - max by (namespace, pod) (ghostwire_last_sync_timestamp_seconds{job="a"}) > 300').sort(), ['ghostwire_last_sync_timestamp_seconds']);
  assert.match(contractViolation('ghostwire_last_sync_seconds') ?? '', /neither in the metric contract/);
  assert.match(contractViolation('ghostwire_admission_duration_seconds') ?? '', /histogram/);
  assert.ok(seen.has('ghostwire_admission_duration_seconds_bucket') && seen.has('ghostwire_workload_config_stale'));
});
