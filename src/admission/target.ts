// Which part of an object is the pod template, for every kind ghostwire mutates.
import { clipText } from '../config/index.js';
import type { KubeObject, ObjectMeta, PodTemplate } from '../kube/objects.js';
import { pointer } from '../kube/patch.js';

export interface TargetKind {
  group: string;
  /** The served version ghostwire registers for (webhook rules, admission policy match rules). */
  version: string;
  kind: string;
  /** The resource (plural) the API server matches rules against. */
  resource: string;
  /** JSON pointer segments from the object root to the pod template; [] for a Pod. */
  templatePath: readonly string[];
}

export const TARGET_KINDS: readonly TargetKind[] = [
  { group: '', version: 'v1', kind: 'Pod', resource: 'pods', templatePath: [] },
  { group: 'apps', version: 'v1', kind: 'Deployment', resource: 'deployments', templatePath: ['spec', 'template'] },
  { group: 'apps', version: 'v1', kind: 'StatefulSet', resource: 'statefulsets', templatePath: ['spec', 'template'] },
  { group: 'apps', version: 'v1', kind: 'DaemonSet', resource: 'daemonsets', templatePath: ['spec', 'template'] },
  { group: 'apps', version: 'v1', kind: 'ReplicaSet', resource: 'replicasets', templatePath: ['spec', 'template'] },
  { group: 'batch', version: 'v1', kind: 'Job', resource: 'jobs', templatePath: ['spec', 'template'] },
  { group: 'batch', version: 'v1', kind: 'CronJob', resource: 'cronjobs', templatePath: ['spec', 'jobTemplate', 'spec', 'template'] },
  { group: 'argoproj.io', version: 'v1alpha1', kind: 'Rollout', resource: 'rollouts', templatePath: ['spec', 'template'] },
];

export type Target =
  | {
      found: true;
      kind: TargetKind;
      objectMeta: ObjectMeta;
      template: PodTemplate;
      /** JSON pointer (escaped) of the template, '' for a Pod. */
      pointer: string;
      isPod: boolean;
    }
  | { found: false; reason: 'unsupported-kind' | 'no-pod-template' | 'workload-ref'; detail: string };

export function findTargetKind(group: string, kind: string): TargetKind | undefined {
  return TARGET_KINDS.find((t) => t.group === group && t.kind === kind);
}

export function selectTarget(group: string, kind: string, object: KubeObject): Target {
  const tk = findTargetKind(group, kind);
  if (!tk) return { found: false, reason: 'unsupported-kind', detail: `${group ? `${group}/` : ''}${kind} has no pod template ghostwire knows` };
  const objectMeta = (object.metadata ?? {}) as ObjectMeta;
  if (tk.templatePath.length === 0) {
    return { found: true, kind: tk, objectMeta, template: { metadata: object.metadata ?? {}, spec: (object.spec ?? {}) as PodTemplate['spec'] }, pointer: '', isPod: true };
  }
  let node: unknown = object;
  for (const seg of tk.templatePath) node = typeof node === 'object' && node !== null ? (node as Record<string, unknown>)[seg] : undefined;
  if (typeof node !== 'object' || node === null) {
    const spec = object.spec as Record<string, unknown> | undefined;
    if (tk.kind === 'Rollout' && spec && spec.workloadRef) {
      const ref = (typeof spec.workloadRef === 'object' && spec.workloadRef !== null ? spec.workloadRef : {}) as { kind?: unknown; name?: unknown };
      return {
        found: false,
        reason: 'workload-ref',
        detail: `Rollout uses spec.workloadRef (${clipText(ref.kind ?? 'workload', 63)} ${clipText(ref.name ?? '')}) and has no template: annotate the referenced workload with ghostwire.dev/enabled instead`,
      };
    }
    return { found: false, reason: 'no-pod-template', detail: `${tk.kind} has no ${tk.templatePath.join('.')}` };
  }
  return { found: true, kind: tk, objectMeta, template: node as PodTemplate, pointer: pointer(tk.templatePath), isPod: false };
}
