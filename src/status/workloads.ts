// Which objects `ghostwire status` reports on: every kind the webhook mutates, as the API lists them, with their
// resource names, the KIND/NAME argument, and the owner chains that tie a Pod to the workload it runs for.
import { type TargetKind, TARGET_KINDS } from '../admission/target.js';
import type { KubeObject } from '../kube/objects.js';

export interface KindInfo {
  kind: TargetKind;
  /** Resource name (plural) in the API and in webhook rules. */
  resource: string;
  apiVersion: string;
  aliases: readonly string[];
  /** Kubernetes' own order of importance for listings. */
  order: number;
}

const INFO: Record<string, Omit<KindInfo, 'kind'>> = {
  Deployment: { resource: 'deployments', apiVersion: 'apps/v1', aliases: ['deploy', 'deployment'], order: 0 },
  StatefulSet: { resource: 'statefulsets', apiVersion: 'apps/v1', aliases: ['sts', 'statefulset'], order: 1 },
  DaemonSet: { resource: 'daemonsets', apiVersion: 'apps/v1', aliases: ['ds', 'daemonset'], order: 2 },
  Rollout: { resource: 'rollouts', apiVersion: 'argoproj.io/v1alpha1', aliases: ['ro', 'rollout'], order: 3 },
  CronJob: { resource: 'cronjobs', apiVersion: 'batch/v1', aliases: ['cj', 'cronjob'], order: 4 },
  Job: { resource: 'jobs', apiVersion: 'batch/v1', aliases: ['job'], order: 5 },
  ReplicaSet: { resource: 'replicasets', apiVersion: 'apps/v1', aliases: ['rs', 'replicaset'], order: 6 },
  Pod: { resource: 'pods', apiVersion: 'v1', aliases: ['po', 'pod'], order: 7 },
};

/** Every kind the webhook mutates, in listing order. */
export const KINDS: readonly KindInfo[] = TARGET_KINDS.map((kind) => ({ kind, ...(INFO[kind.kind] as Omit<KindInfo, 'kind'>) })).sort((a, b) => a.order - b.order);

export const kindInfo = (kind: string): KindInfo | undefined => KINDS.find((k) => k.kind.kind === kind);

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const clip = (s: string): string => JSON.stringify(s.length > 64 ? `${s.slice(0, 64)}...` : s);

/** KIND/NAME as kubectl spells it (deploy/orders, Deployment/orders, deployments.apps/orders); an error names what is allowed. */
export function parseObjectArg(text: string): { kind: KindInfo; name: string } | { error: string } {
  const slash = text.indexOf('/');
  const allowed = `KIND/NAME with KIND one of ${KINDS.map((k) => k.aliases[0]).join(', ')} (or their full names)`;
  if (slash <= 0) return { error: `${clip(text)} is not KIND/NAME; allowed: ${allowed}` };
  const rawKind = text.slice(0, slash).toLowerCase();
  const name = text.slice(slash + 1);
  const kind = KINDS.find((k) => {
    const names = [...k.aliases, k.resource, k.kind.kind.toLowerCase()];
    const group = k.kind.group;
    return names.includes(rawKind) || (group !== '' && names.some((n) => rawKind === `${n}.${group}`));
  });
  if (!kind) return { error: `kind ${clip(text.slice(0, slash))} is not one ghostwire injects; allowed: ${allowed}` };
  if (name.length === 0 || name.length > 253 || !DNS_SUBDOMAIN.test(name)) {
    return { error: `name ${clip(name)} is not a Kubernetes object name (lower-case letters, digits, "-" and ".", at most 253 characters)` };
  }
  return { kind, name };
}

const controllerOf = (o: KubeObject) => {
  const refs = o.metadata?.ownerReferences;
  return Array.isArray(refs) ? refs.find((r) => r && r.controller === true) : undefined;
};

/** True for objects ghostwire treats as workloads of their own: not made by a controller (a Deployment's ReplicaSet, a CronJob's Job, a Pod of anything). */
export function isStandalone(object: KubeObject, kind: string): boolean {
  if (kind === 'Pod') return !(Array.isArray(object.metadata?.ownerReferences) && object.metadata.ownerReferences.length > 0);
  return controllerOf(object) === undefined;
}

export interface WorkloadRef {
  kind: string;
  namespace: string;
  name: string;
}

export const workloadKey = (r: WorkloadRef): string => `${r.kind}/${r.namespace}/${r.name}`;

/**
 * The workload a Pod runs for, following controller references through ReplicaSets (of a Deployment or Rollout)
 * and Jobs (of a CronJob); `byUid` holds every listed object of the namespace. A bare Pod is its own workload.
 */
export function owningWorkload(pod: KubeObject, byUid: ReadonlyMap<string, { kind: string; object: KubeObject }>): WorkloadRef | undefined {
  const namespace = String(pod.metadata?.namespace ?? '');
  let current: { kind: string; object: KubeObject } = { kind: 'Pod', object: pod };
  for (let depth = 0; depth < 4; depth++) {
    const ref = controllerOf(current.object) ?? (current.kind === 'Pod' ? current.object.metadata?.ownerReferences?.[0] : undefined);
    if (!ref) break;
    const owner = typeof ref.uid === 'string' ? byUid.get(ref.uid) : undefined;
    if (!owner) return kindInfo(ref.kind) ? { kind: ref.kind, namespace, name: String(ref.name) } : undefined;
    current = owner;
  }
  return { kind: current.kind, namespace, name: String(current.object.metadata?.name ?? '') };
}
