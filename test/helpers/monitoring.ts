// What the monitoring tests check the chart's alerts and dashboard against: the alert set, the runbook's sections,
// and the metric contract (the names and labels the webhook, the watcher and the shadow controller export).
import { readFileSync } from 'node:fs';
import { repoPath } from './paths.js';

/** The alerts of templates/monitoring-prometheusrule.yaml; docs/runbook.md has one section per name. */
export const ALERT_NAMES = [
  'GhostwireWebhookDown',
  'GhostwireWebhookCallsFailing',
  'GhostwireAdmissionErrors',
  'GhostwireAdmissionLatencyHigh',
  'GhostwireWebhookCertificateExpiring',
  'GhostwireWebhookCertificateRejected',
  'GhostwireDefaultsRejected',
  'GhostwireWatcherDown',
  'GhostwireWatcherSyncStale',
  'GhostwireWatcherErrors',
  'GhostwireWorkloadConfigStale',
] as const;

/** Anchors of the "## " sections of docs/runbook.md, slugged as GitHub renders them. */
export function runbookAnchors(): Set<string> {
  const text = readFileSync(repoPath('docs', 'runbook.md'), 'utf8');
  const out = new Set<string>();
  for (const m of text.matchAll(/^##\s+(.+?)\s*$/gm)) {
    out.add((m[1] as string).toLowerCase().replace(/[^\w\- ]/g, '').replace(/ /g, '-'));
  }
  return out;
}

/** Metric name -> its label names (without the target labels a scrape adds). Histograms are listed by base name. */
export const METRIC_CONTRACT: Readonly<Record<string, readonly string[]>> = {
  // webhook: ghostwire serve, HTTPS :8443 /metrics
  ghostwire_admission_requests_total: ['kind', 'result', 'reason'],
  ghostwire_admission_duration_seconds: ['kind', 'result'],
  ghostwire_webhook_certificate_expiry_timestamp_seconds: [],
  ghostwire_webhook_certificate_rejections_total: [],
  ghostwire_defaults_reloads_total: ['result'],
  ghostwire_defaults_valid: [],
  ghostwire_events_dropped_total: [],
  ghostwire_webhook_info: ['version'],
  // watcher: ghostwire watch, HTTP :8081 /metrics (port gw-metrics)
  ghostwire_jump_state: ['state'],
  ghostwire_dnat_rules: ['service'],
  ghostwire_errors_total: ['type'],
  ghostwire_watch_up: [],
  ghostwire_service_watch_up: [],
  ghostwire_last_sync_timestamp_seconds: [],
  ghostwire_reprograms_total: ['cause'],
  ghostwire_conntrack_entries_reset_total: ['trigger'],
  ghostwire_label_to_jump_seconds: [],
  ghostwire_chain_repairs_total: ['reason'],
  ghostwire_api_requests_total: ['kind'],
  ghostwire_watcher_info: ['version', 'config_hash'],
  // shadow controller: ghostwire shadow run, HTTP :8080 /metrics
  ghostwire_workload_config_stale: ['namespace', 'kind', 'name'],
};

export const HISTOGRAMS = new Set(['ghostwire_admission_duration_seconds', 'ghostwire_label_to_jump_seconds']);

/** Series from outside ghostwire that alerts or panels may read (Prometheus, the API server, kube-state-metrics). */
export const FOREIGN_METRICS = new Set([
  'up',
  'kube_deployment_status_replicas_available',
  'apiserver_admission_webhook_rejection_count',
  'apiserver_admission_webhook_fail_open_count',
  'apiserver_admission_webhook_admission_duration_seconds_bucket',
]);

const PROMQL_WORDS = new Set([
  'sum', 'min', 'max', 'avg', 'count', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or',
  'unless', 'bool', 'offset', 'rate', 'increase', 'irate', 'time', 'vector', 'absent', 'histogram_quantile',
  'label_values', 'topk', 'bottomk', 'clamp_min', 'clamp_max', 'le', 'inf', 'nan',
]);

/**
 * Metric names a PromQL expression reads: identifiers followed by a selector, a range or used bare as an operand,
 * skipping function names, keywords, label names inside braces or by-clauses, and string contents.
 */
export function metricNames(expr: string): string[] {
  const cleaned = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\[[^\]]*\]/g, '[]')
    .replace(/\b\d+(\.\d+)?([eE][+-]?\d+)?\b/g, '0')
    .replace(/\{[^}]*\}/g, '{}')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '');
  const out = new Set<string>();
  for (const m of cleaned.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const word = m[0];
    const next = cleaned.slice((m.index ?? 0) + word.length).trimStart()[0];
    if (PROMQL_WORDS.has(word.toLowerCase()) || next === '(') continue;
    if (/^\d/.test(word) || /^\$/.test(word)) continue;
    out.add(word);
  }
  return [...out];
}

/** Why a metric name is not allowed (undefined when it is in the contract or a known foreign series). */
export function contractViolation(name: string): string | undefined {
  if (FOREIGN_METRICS.has(name)) return undefined;
  if (Object.prototype.hasOwnProperty.call(METRIC_CONTRACT, name)) {
    return HISTOGRAMS.has(name) ? `${name} is a histogram: read ${name}_bucket/_sum/_count` : undefined;
  }
  const base = name.replace(/_(bucket|sum|count)$/, '');
  if (base !== name && HISTOGRAMS.has(base)) return undefined;
  return `${name} is neither in the metric contract nor a known foreign series`;
}
