// Why a workload is not what it asked for, in the terms an operator acts on. The pipeline (drift.ts) already says
// what the webhook itself would decide; this adds what decides whether the API server calls the webhook at all:
// the configuration's rules, namespaceSelector and objectSelector, and when the object was written.
import { selectorMismatch } from '../kube/label-selector.js';
import type { KubeObject } from '../kube/objects.js';
import type { Drift } from './drift.js';
import { clip } from './format.js';
import { type AdmissionScope, excludedNamespaces, registers } from './webhook.js';
import type { KindInfo } from './workloads.js';

export interface Reason {
  /** Stable code (README, "ghostwire status"). */
  code: string;
  message: string;
}

export interface ReasonContext {
  scope: AdmissionScope | undefined;
  /** Labels of the workload's namespace; undefined when the namespace could not be read. */
  namespaceLabels: Record<string, string> | undefined;
}

/** Every reason code the report can give, with what an operator does about it (docs/operations.md is generated from this). */
export const REASON_CODES: ReadonlyArray<readonly [code: string, meaning: string]> = [
  ['config-changed', 'rollout-needed: the template runs another config hash than the defaults and annotations give now. Roll the workload'],
  ['not-enabled', 'removal-pending: `ghostwire.dev/enabled` was turned off after injection; the next write removes ghostwire'],
  ['removed', 'removal-pending while still enabled, for a reason the webhook did not name; the message says what it said'],
  ['no-webhook', 'no MutatingWebhookConfiguration carries a `*.ghostwire.dev` webhook: nothing is injected'],
  ['kind-not-registered', "the configuration's rules do not send this resource (e.g. rollouts without `webhook.argoRollouts`)"],
  ['namespace-excluded', "the namespaceSelector's `kubernetes.io/metadata.name NotIn` list names the namespace"],
  ['namespace-not-opted-in', "the namespace's labels do not match the namespaceSelector (the message names the missing label)"],
  ['object-selector', "the workload's labels are excluded by the objectSelector"],
  ['created-before-webhook', 'created before the webhook configuration existed, never written since. Write it again'],
  ['not-admitted', 'in scope now, but last written when the webhook was not called (before the namespace opted in, or during an outage with failurePolicy Ignore). Write it again'],
  ['system-namespace', 'kube-system, kube-public, kube-node-lease: never injected'],
  ['webhook-namespace', "the webhook's own namespace: never injected"],
  ['host-network', '`hostNetwork: true`: the rules would apply to the whole node (not injected; or, once injected, removed at the next write)'],
  ['workload-ref', 'a Rollout with `spec.workloadRef`: annotate the referenced workload'],
  ['no-pod-template', 'the object has no pod template'],
  ['invalid-annotations', 'refused: the webhook denies the object (deny mode) naming every bad annotation'],
  ['unknown', 'the expected hash cannot be computed: the defaults are rejected or unreadable, or a tunnel workload without `--tunnel-key-file`'],
];

const ROLL = 'write it again to get it injected (kubectl rollout restart, or re-apply its manifest)';

/** Reasons the pipeline gives, as operators read them. */
const PIPELINE: Record<string, (ns: string) => string> = {
  'system-namespace': (ns) => `${ns} is a system namespace: ghostwire never injects there`,
  'own-namespace': (ns) => `${ns} is the webhook's own namespace: ghostwire never injects there`,
  'host-network': () => 'the pod template has hostNetwork: true: the rules would apply to the whole node',
  'workload-ref': () => 'the Rollout uses spec.workloadRef: annotate the referenced workload instead',
  'no-pod-template': () => 'the object has no pod template',
  'invalid-annotations': () => 'its ghostwire.dev annotations are invalid',
};

/** Codes as printed: the pipeline's own-namespace is the webhook's namespace from the operator's side. */
const CODE_ALIASES: Record<string, string> = { 'own-namespace': 'webhook-namespace' };

/** Why `drift` (state skipped or refused) happened. */
export function pipelineReason(drift: Drift, namespace: string): Reason {
  // An invalid ghostwire.dev/enabled is skipped as not-enabled by the pipeline; for the operator it is a bad annotation.
  if (drift.state === 'refused' && drift.reason !== 'invalid-annotations') {
    return { code: 'invalid-annotations', message: `its ghostwire.dev annotations are invalid${drift.detail ? `: ${clip(drift.detail, 400)}` : ''}` };
  }
  const text = PIPELINE[drift.reason]?.(namespace) ?? drift.reason;
  const detail = drift.detail ? `: ${clip(drift.detail, 400)}` : '';
  return { code: CODE_ALIASES[drift.reason] ?? drift.reason, message: drift.reason === 'invalid-annotations' || !PIPELINE[drift.reason] ? `${text}${detail}` : text };
}

/** Why an enabled workload that the webhook would inject is not injected. */
export function notInjectedReason(object: KubeObject, kind: KindInfo, ctx: ReasonContext): Reason {
  const { scope } = ctx;
  const namespace = String(object.metadata?.namespace ?? '');
  if (!scope) return { code: 'no-webhook', message: 'no ghostwire webhook configuration is registered: nothing is injected' };
  const ops = kind.kind.kind === 'Pod' ? ['CREATE'] : ['CREATE', 'UPDATE'];
  if (!registers(scope, kind.kind.group, kind.resource, ops)) {
    return { code: 'kind-not-registered', message: `the webhook configuration ${scope.configuration} does not register ${kind.resource}${kind.kind.group ? `.${kind.kind.group}` : ''} for ${ops.join('/')}: the API server never sends them` };
  }
  if (excludedNamespaces(scope).includes(namespace)) {
    return { code: 'namespace-excluded', message: `namespace ${namespace} is excluded by the webhook's namespaceSelector` };
  }
  if (ctx.namespaceLabels !== undefined) {
    // The API server adds kubernetes.io/metadata.name to every namespace; selectors may use it.
    const labels = { 'kubernetes.io/metadata.name': namespace, ...ctx.namespaceLabels };
    const why = selectorMismatch(scope.namespaceSelector, labels);
    if (why !== undefined) return { code: 'namespace-not-opted-in', message: `namespace ${namespace} is not opted in: ${why} (namespaceSelector of ${scope.configuration}); label it, then ${ROLL.replace('write it again to get it injected', 'write the workload again')}` };
  }
  const objectWhy = selectorMismatch(scope.objectSelector, object.metadata?.labels);
  if (objectWhy !== undefined) return { code: 'object-selector', message: `its labels are excluded by the webhook's objectSelector: ${objectWhy}` };
  const created = typeof object.metadata?.creationTimestamp === 'string' ? Date.parse(object.metadata.creationTimestamp) : NaN;
  const registered = scope.createdAt ? Date.parse(scope.createdAt) : NaN;
  if (Number.isFinite(created) && Number.isFinite(registered) && created < registered) {
    return { code: 'created-before-webhook', message: `created ${object.metadata?.creationTimestamp}, before the webhook configuration ${scope.configuration} (${scope.createdAt}); ${ROLL}` };
  }
  return {
    code: 'not-admitted',
    message: `last written when the webhook was not called for it (before its namespace opted in, or while the webhook was unavailable with failurePolicy Ignore); ${ROLL}`,
  };
}
