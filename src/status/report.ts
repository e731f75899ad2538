// The report from what was read: every workload that asks for ghostwire or carries it, judged by the webhook's own
// pipeline (drift.ts), the reason when it is not what it asked for, its pods' routing, the webhook's health, what
// needs attention and the exit code. Pure: the clock and the reads are inputs.
import { builtinDefaults } from '../config/index.js';
import type { KubeObject } from '../kube/objects.js';
import { type Drift, type DriftContext, judgeWorkload } from './drift.js';
import { byText, clip, isoTime } from './format.js';
import { type PodStatus, type ProbeResult, STATUS_EXIT, STATUS_FORMAT, type StatusReport, type WebhookStatus, type WorkloadStatus } from './model.js';
import { type PodOptions, podStatus } from './pods.js';
import { type Reason, notInjectedReason, pipelineReason } from './reasons.js';
import type { AdmissionScope } from './webhook.js';
import { type KindInfo, type WorkloadRef, isStandalone, owningWorkload, workloadKey } from './workloads.js';

export interface Listed {
  kind: KindInfo;
  object: KubeObject;
}

export interface ReportInput {
  scope: { namespaces: string[] | 'all'; object: { kind: KindInfo; name: string } | null };
  /** Every object read in scope, of every kind (owned ReplicaSets, Jobs and Pods included). */
  objects: readonly Listed[];
  /** Labels of the namespaces in scope (undefined: not readable). */
  namespaceLabels: ReadonlyMap<string, Record<string, string> | undefined>;
  admission: AdmissionScope | undefined;
  webhook: WebhookStatus;
  /** Undefined when the defaults in force are unknown: hashes are then not compared. */
  drift: DriftContext | undefined;
  driftUnknown: string;
  /** Pod proxy reads by "namespace/pod". */
  probes: ReadonlyMap<string, ProbeResult>;
  incomplete: readonly string[];
  now: number;
  options: PodOptions;
}

const ROLLABLE = new Set(['Deployment', 'StatefulSet', 'DaemonSet']);

function rollHint(kind: string, namespace: string, name: string): string {
  if (ROLLABLE.has(kind)) return `kubectl -n ${namespace} rollout restart ${kind.toLowerCase()}/${name}`;
  if (kind === 'Pod') return 'delete and re-create the Pod';
  return 're-apply its manifest';
}

function judge(l: Listed, input: ReportInput): Drift {
  if (input.drift) return judgeWorkload(l.object, l.kind.kind, input.drift);
  // Enabled, injected and the running hash do not depend on the defaults; the expected hash does.
  const d = judgeWorkload(l.object, l.kind.kind, { defaults: builtinDefaults(), version: '', tunnelKey: 'unknown-tunnel-key-0000', tunnelKeyKnown: false });
  if (d.state !== 'current' && d.state !== 'rollout-needed') return { ...d, expectedHash: null };
  return { ...d, state: 'unknown', expectedHash: null, detail: input.driftUnknown };
}

function describe(l: Listed, d: Drift, input: ReportInput): Reason | undefined {
  const ns = String(l.object.metadata?.namespace ?? '');
  const name = String(l.object.metadata?.name ?? '');
  switch (d.state) {
    case 'rollout-needed':
      return { code: 'config-changed', message: `runs config ${d.runningHash ?? '(none)'}, the current defaults and its annotations give ${d.expectedHash}: roll it (${rollHint(l.kind.kind.kind, ns, name)})` };
    case 'removal-pending':
      if (!d.enabled) return { code: 'not-enabled', message: `ghostwire.dev/enabled is off but ghostwire is still injected: the next write removes it (${rollHint(l.kind.kind.kind, ns, name)})` };
      return { code: d.reason, message: `the webhook now removes ghostwire from it (${d.reason}${d.detail ? `: ${clip(d.detail, 400)}` : ''}); the next write does (${rollHint(l.kind.kind.kind, ns, name)})` };
    case 'not-injected':
      return notInjectedReason(l.object, l.kind, { scope: input.admission, namespaceLabels: input.namespaceLabels.get(ns) });
    case 'refused':
    case 'skipped':
      return pipelineReason(d, ns);
    case 'unknown':
      return { code: 'unknown', message: d.detail ?? 'the expected config hash cannot be computed' };
    default:
      return undefined;
  }
}

const ATTENTION_STATES = new Set(['rollout-needed', 'removal-pending', 'not-injected', 'refused', 'skipped']);

/** The workloads to report: the named one, else every standalone workload that asks for ghostwire or carries it. */
function selected(input: ReportInput): Array<{ l: Listed; d: Drift }> {
  const want = input.scope.object;
  const out: Array<{ l: Listed; d: Drift }> = [];
  for (const l of input.objects) {
    if (want) {
      if (l.kind !== want.kind || l.object.metadata?.name !== want.name) continue;
    } else if (!isStandalone(l.object, l.kind.kind.kind)) continue;
    const d = judge(l, input);
    if (!want && d.state === 'not-enabled' && !d.injected) continue;
    out.push({ l, d });
  }
  return out.sort((a, b) => byText(String(a.l.object.metadata?.namespace), String(b.l.object.metadata?.namespace)) || a.l.kind.order - b.l.kind.order || byText(String(a.l.object.metadata?.name), String(b.l.object.metadata?.name)));
}

/** Pods by the workload they run for. */
function podsByWorkload(objects: readonly Listed[]): Map<string, KubeObject[]> {
  const byUid = new Map<string, { kind: string; object: KubeObject }>();
  for (const l of objects) if (typeof l.object.metadata?.uid === 'string') byUid.set(l.object.metadata.uid, { kind: l.kind.kind.kind, object: l.object });
  const out = new Map<string, KubeObject[]>();
  for (const l of objects) {
    if (l.kind.kind.kind !== 'Pod') continue;
    const owner: WorkloadRef | undefined = owningWorkload(l.object, byUid);
    if (!owner) continue;
    const key = workloadKey(owner);
    const list = out.get(key);
    if (list) list.push(l.object);
    else out.set(key, [l.object]);
  }
  return out;
}

function workloadStatus(l: Listed, d: Drift, pods: KubeObject[], input: ReportInput): WorkloadStatus {
  const ns = String(l.object.metadata?.namespace ?? '');
  const reason = describe(l, d, input);
  const rows: PodStatus[] = (d.enabled || d.injected ? pods : [])
    .map((p) => podStatus(p, { probe: input.probes.get(`${ns}/${p.metadata?.name}`), workloadHash: d.runningHash, expectedHash: d.expectedHash, workloadInjected: d.injected, now: input.now, options: input.options }))
    .sort((a, b) => byText(a.name, b.name));
  let message = reason?.message ?? null;
  // The chart's owner-not-injected webhook injects such a workload's new Pods one by one (best effort).
  const podInjected = rows.filter((p) => p.injected).length;
  if (d.state === 'not-injected' && podInjected > 0 && l.kind.kind.kind !== 'Pod') message = `${message}; ${podInjected} of its ${rows.length} pods were injected one by one when they were created`;
  return {
    namespace: ns,
    kind: l.kind.kind.kind,
    name: String(l.object.metadata?.name ?? ''),
    enabled: d.enabled,
    injected: d.injected,
    sidecarMode: d.sidecarMode,
    configHash: d.runningHash,
    expectedHash: d.expectedHash,
    state: d.state,
    reason: reason?.code ?? null,
    message,
    warnings: d.warnings,
    attention: ATTENTION_STATES.has(d.state),
    pods: rows,
  };
}

export function buildReport(input: ReportInput): StatusReport {
  const pods = podsByWorkload(input.objects);
  const workloads = selected(input).map(({ l, d }) => {
    const key = workloadKey({ kind: l.kind.kind.kind, namespace: String(l.object.metadata?.namespace ?? ''), name: String(l.object.metadata?.name ?? '') });
    // A bare Pod is its own (only) pod.
    return workloadStatus(l, d, l.kind.kind.kind === 'Pod' ? [l.object] : (pods.get(key) ?? []), input);
  });
  const attention = [
    ...input.webhook.findings.map((f) => `webhook: ${f}`),
    ...workloads.flatMap((w) => [
      ...(w.attention ? [`${w.kind} ${w.namespace}/${w.name}: ${w.message ?? w.state}`] : []),
      ...w.pods.filter((p) => p.state === 'attention' || p.state === 'unreachable').flatMap((p) => p.findings.map((f) => `Pod ${w.namespace}/${p.name} (${w.kind} ${w.name}): ${f}`)),
    ]),
  ];
  const allPods = workloads.flatMap((w) => w.pods);
  const incomplete = [...input.incomplete];
  const want = input.scope.object;
  if (want && workloads.length === 0) incomplete.push(`${want.kind.kind.kind} ${want.name} not found in namespace ${[input.scope.namespaces].flat().join(', ')}`);
  const exitCode = incomplete.length > 0 ? STATUS_EXIT.incomplete : attention.length > 0 ? STATUS_EXIT.attention : STATUS_EXIT.ok;
  return {
    format: STATUS_FORMAT,
    generatedAt: isoTime(input.now),
    scope: { namespaces: input.scope.namespaces, object: input.scope.object ? `${input.scope.object.kind.kind.kind}/${input.scope.object.name}` : null },
    webhook: input.webhook,
    workloads,
    summary: {
      workloads: workloads.length,
      injected: workloads.filter((w) => w.injected).length,
      current: workloads.filter((w) => w.state === 'current').length,
      rolloutNeeded: workloads.filter((w) => w.state === 'rollout-needed').length,
      notInjected: workloads.filter((w) => w.state === 'not-injected').length,
      pods: allPods.length,
      podsRead: allPods.filter((p) => p.watcher !== null).length,
      podsUnreachable: allPods.filter((p) => p.state === 'unreachable').length,
    },
    attention,
    incomplete,
    exitCode,
  };
}
