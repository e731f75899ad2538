// When is a shadow ready? Pure evaluation over objects read from the API server, so the rule is tested directly.
//   1. the shadow Deployment's status reflects its current spec (observedGeneration) and it is Available;
//   2. its CURRENT ReplicaSet (the one carrying the Deployment's revision) has a pod that is Running, Ready=True and
//      not terminating; a pod that merely has an IP, an old ReplicaSet's pod or a terminating pod does not count;
//   3. the Service's EndpointSlices list one of those pods as a ready endpoint.
import type { V1Deployment, V1EndpointSlice, V1Pod, V1ReplicaSet } from '@kubernetes/client-node';

export const REVISION_ANNOTATION = 'deployment.kubernetes.io/revision';
export const POD_TEMPLATE_HASH_LABEL = 'pod-template-hash';
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

export interface ReadinessInput {
  deployment: V1Deployment | undefined;
  replicaSets: readonly V1ReplicaSet[];
  pods: readonly V1Pod[];
  endpointSlices: readonly V1EndpointSlice[];
}

export interface Readiness {
  ready: boolean;
  /** What is still missing, for the Pending reason and the timeout message. */
  waitingFor: string[];
  /** Names of the current ReplicaSet's ready pods. */
  readyPods: string[];
}

const controllerUid = (o: { metadata?: { ownerReferences?: Array<{ uid: string; controller?: boolean }> } }): string | undefined =>
  o.metadata?.ownerReferences?.find((r) => r.controller)?.uid;

export function isPodReady(pod: V1Pod): boolean {
  if (pod.metadata?.deletionTimestamp) return false;
  if (pod.status?.phase !== 'Running') return false;
  return (pod.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

export function evaluateReadiness(input: ReadinessInput, names: { deployment: string; service: string }): Readiness {
  const waitingFor: string[] = [];
  const d = input.deployment;
  if (!d) return { ready: false, waitingFor: [`Deployment ${names.deployment} to exist`], readyPods: [] };
  const generation = d.metadata?.generation ?? 0;
  const observed = d.status?.observedGeneration ?? 0;
  if (observed < generation) waitingFor.push(`Deployment ${names.deployment} status for generation ${generation} (observed ${observed})`);
  const available = (d.status?.conditions ?? []).some((c) => c.type === 'Available' && c.status === 'True');
  if (!available) waitingFor.push(`Deployment ${names.deployment} Available=True`);

  const revision = d.metadata?.annotations?.[REVISION_ANNOTATION];
  const current = input.replicaSets.find(
    (rs) => controllerUid(rs) === d.metadata?.uid && revision !== undefined && rs.metadata?.annotations?.[REVISION_ANNOTATION] === revision,
  );
  let readyPods: string[] = [];
  if (!current) {
    waitingFor.push(`the ReplicaSet of Deployment ${names.deployment} revision ${revision ?? '(none yet)'}`);
  } else {
    const hash = current.metadata?.labels?.[POD_TEMPLATE_HASH_LABEL];
    readyPods = input.pods
      .filter((p) => controllerUid(p) === current.metadata?.uid && hash !== undefined && p.metadata?.labels?.[POD_TEMPLATE_HASH_LABEL] === hash)
      .filter(isPodReady)
      .map((p) => p.metadata?.name ?? '')
      .sort();
    if (readyPods.length === 0) waitingFor.push(`a Ready, non-terminating pod of ReplicaSet ${current.metadata?.name ?? '?'}`);
  }

  const endpointReady = input.endpointSlices.some(
    (s) =>
      s.metadata?.labels?.[SERVICE_NAME_LABEL] === names.service &&
      (s.endpoints ?? []).some(
        (e) => e.conditions?.ready === true && e.addresses.length > 0 && e.targetRef?.kind === 'Pod' && readyPods.includes(e.targetRef.name ?? ''),
      ),
  );
  if (!endpointReady) waitingFor.push(`a ready endpoint of Service ${names.service} backed by the current pod`);
  return { ready: waitingFor.length === 0, waitingFor, readyPods };
}
