// The report for a terminal: the webhook's health, one row per workload, one row per pod, then what needs
// attention. Every value from the cluster passes through clip(), so an annotation cannot move the cursor or
// rewrite the screen.
import { age, clip } from './format.js';
import type { PodStatus, StatusReport, WebhookStatus, WorkloadStatus } from './model.js';

/** Columns padded to the widest cell, two spaces apart, no trailing spaces. */
export function columns(rows: readonly (readonly string[])[]): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd());
}

const yesNo = (b: boolean): string => (b ? 'yes' : 'no');
const cell = (v: string | null | undefined): string => (v === null || v === undefined || v === '' ? '-' : clip(v, 120));

function webhookLines(w: WebhookStatus): string[] {
  const rows: string[][] = [];
  if (w.configuration) rows.push(['configuration', `${w.configuration} (webhook ${w.webhook}, failurePolicy ${w.failurePolicy}, ${w.endpoint})`]);
  else rows.push(['configuration', 'not found']);
  if (w.namespaceSelector) rows.push(['namespaces', w.namespaceSelector]);
  rows.push(['deployment', w.deployment ? `${w.deployment}${w.replicas ? `: ${w.replicas.ready}/${w.replicas.desired} ready` : ''}` : 'not found']);
  const certs = [w.caNotAfter ? `CA until ${w.caNotAfter}` : 'CA unknown'];
  for (const r of w.replicaStatus) {
    if (r.certificateNotAfter) certs.push(`${r.pod} serves until ${r.certificateNotAfter}`);
    else if (r.error) certs.push(`${r.pod}: ${r.error}`);
  }
  rows.push(['certificates', certs.join('; ')]);
  const d = w.defaults;
  rows.push(['defaults', `${d.source}: ${d.state}${d.resourceVersion ? ` (resourceVersion ${d.resourceVersion})` : ''}`]);
  return ['WEBHOOK', ...columns(rows.map((r) => ['  ' + r[0], clip(r[1] as string, 400)]))];
}

function configCell(w: WorkloadStatus): string {
  if (w.state === 'rollout-needed') return `${w.configHash ?? '(none)'} -> ${w.expectedHash ?? '?'}`;
  if (w.injected) return cell(w.configHash);
  return w.expectedHash ? `(would be ${w.expectedHash})` : '-';
}

function workloadLines(workloads: readonly WorkloadStatus[]): string[] {
  if (workloads.length === 0) return ['WORKLOADS', '  none ask for ghostwire or carry it in this scope'];
  const rows = [['NAMESPACE', 'KIND', 'NAME', 'ENABLED', 'INJECTED', 'MODE', 'CONFIG', 'STATE']];
  for (const w of workloads) {
    const state = w.reason && w.reason !== w.state && w.state !== 'rollout-needed' ? `${w.state} (${w.reason})` : w.state;
    rows.push([w.namespace, w.kind, w.name, yesNo(w.enabled), yesNo(w.injected), cell(w.sidecarMode), configCell(w), state]);
  }
  return ['WORKLOADS', ...columns(rows)];
}

function podRow(w: WorkloadStatus, p: PodStatus): string[] {
  const x = p.watcher;
  const state = p.state === 'not-running' ? `not running (${p.phase})` : p.state;
  return [
    w.namespace,
    p.name,
    `${w.kind}/${w.name}`,
    cell(p.role),
    x ? x.jump : '-',
    x ? String(x.dnatRules) : '-',
    x ? (x.lastSyncAgeSeconds === null ? 'never' : age(x.lastSyncAgeSeconds)) : '-',
    x ? String(x.errors) : '-',
    state,
  ];
}

function podLines(workloads: readonly WorkloadStatus[]): string[] {
  const pods = workloads.flatMap((w) => w.pods.map((p) => podRow(w, p)));
  if (pods.length === 0) return [];
  return ['', 'PODS', ...columns([['NAMESPACE', 'POD', 'WORKLOAD', 'ROLE', 'JUMP', 'RULES', 'LAST SYNC', 'ERRORS', 'STATE'], ...pods])];
}

function list(title: string, items: readonly string[]): string[] {
  return items.length === 0 ? [] : ['', `${title} (${items.length})`, ...items.map((i) => `  - ${clip(i, 600)}`)];
}

export function renderTable(report: StatusReport): string {
  const notes = [
    ...report.webhook.notes,
    // Warnings of workloads that need attention are already said there.
    ...report.workloads.filter((w) => w.state === 'unknown' || (!w.attention && w.warnings.length > 0)).map((w) => `${w.kind} ${w.namespace}/${w.name}: ${[w.state === 'unknown' ? w.message : null, ...(w.attention ? [] : w.warnings)].filter(Boolean).join('; ')}`),
  ];
  const lines = [
    ...webhookLines(report.webhook),
    '',
    ...workloadLines(report.workloads),
    ...podLines(report.workloads),
    ...list('NOTES', notes),
    ...list('NEEDS ATTENTION', report.attention),
    ...list('INCOMPLETE: could not read', report.incomplete),
    '',
    report.exitCode === 0 ? 'All is well.' : report.exitCode === 1 ? 'Status incomplete (exit code 1).' : `${report.attention.length} thing(s) need attention (exit code ${report.exitCode}).`,
  ];
  return `${lines.join('\n')}\n`;
}
