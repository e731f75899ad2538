// What one admission decided, in the terms every consumer uses: the response encoder, metrics, audit annotations,
// logs and Events. Reasons are stable codes.
import { clipText } from '../config/index.js';
import { type EventIntent, type KubeObject, type ObjectMeta, type ObjectRef, apiVersionOf } from '../kube/objects.js';
import type { PatchOp } from '../kube/patch.js';
import type { AdmissionRequest } from './types.js';

/** Why an object was let through unchanged. */
export type SkipReason =
  | 'operation'
  | 'pod-update'
  | 'no-object'
  | 'unsupported-kind'
  | 'no-pod-template'
  | 'workload-ref'
  | 'system-namespace'
  | 'own-namespace'
  | 'not-enabled'
  | 'injected-by-owner'
  | 'controller-owned'
  | 'host-network'
  | 'already-injected';

export type Result = 'injected' | 'updated' | 'removed' | 'skipped' | 'denied';

/** The reason code of an outcome: a skip reason, the result itself, or why it was denied. */
export type OutcomeReason = SkipReason | 'injected' | 'updated' | 'removed' | 'invalid-annotations' | 'invalid-object' | 'internal-error';

export interface MutationOutcome {
  allowed: boolean;
  result: Result;
  reason: OutcomeReason;
  patch: PatchOp[];
  warnings: string[];
  auditAnnotations: Record<string, string>;
  denial?: { code: number; message: string };
  event?: EventIntent;
  configHash?: string;
}

export function skipped(reason: SkipReason, extra: Partial<MutationOutcome> = {}): MutationOutcome {
  return {
    allowed: true,
    result: 'skipped',
    reason,
    patch: [],
    warnings: [],
    auditAnnotations: { injected: 'false', 'skip-reason': reason },
    ...extra,
  };
}

/** A skip the workload's owner must hear about: the same message as an AdmissionResponse warning and an Event. */
export function skippedLoudly(reason: SkipReason, message: string, regarding: ObjectRef): MutationOutcome {
  return skipped(reason, { warnings: [message], event: { type: 'Warning', reason: 'GhostwireSkipped', message, regarding } });
}

/** Answer for a bug inside the pipeline: deny (never a 500, never a silent failurePolicy) and point at the logs. */
export function internalError(): MutationOutcome {
  return {
    allowed: false,
    result: 'denied',
    reason: 'internal-error',
    patch: [],
    warnings: [],
    auditAnnotations: { injected: 'false', 'skip-reason': 'internal-error' },
    denial: { code: 500, message: 'ghostwire: internal error while mutating; see the ghostwire webhook logs' },
  };
}

/** An object whose fields ghostwire reads have the wrong type or size: denied naming the field (see review.ts). */
export function invalidObject(kind: string, namespace: unknown, object: KubeObject, problem: string): MutationOutcome {
  const meta = typeof object.metadata === 'object' && object.metadata !== null ? object.metadata : {};
  return {
    allowed: false,
    result: 'denied',
    reason: 'invalid-object',
    patch: [],
    warnings: [],
    auditAnnotations: { injected: 'false', 'skip-reason': 'invalid-object' },
    denial: { code: 400, message: `ghostwire: cannot read ${describeObject(kind, namespace || meta.namespace || 'default', meta)}: ${problem}` },
  };
}

/** "Deployment shop/web" for messages; every part is clipped (names come from the request). */
export function describeObject(kind: string, namespace: unknown, meta: ObjectMeta): string {
  const name = typeof meta.name === 'string' && meta.name !== '' ? meta.name : typeof meta.generateName === 'string' ? meta.generateName : '(unnamed)';
  return `${clipText(kind, 63)} ${clipText(namespace, 63)}/${clipText(name)}`;
}

/**
 * Who an Event should point at: the object itself, or for a Pod without a name yet its controller. This is what
 * the request claims; the Event recorder resolves it against the API server before writing anything.
 */
export function eventTarget(req: AdmissionRequest, object: KubeObject, namespace: string, isPod: boolean): ObjectRef {
  const meta = object.metadata ?? {};
  const owner = meta.ownerReferences?.find((o) => o?.controller) ?? meta.ownerReferences?.[0];
  if (isPod && !meta.name && owner) {
    return { apiVersion: owner.apiVersion, kind: owner.kind, namespace, name: owner.name, uid: owner.uid };
  }
  const ref: ObjectRef = {
    apiVersion: object.apiVersion ?? apiVersionOf(req.kind.group, req.kind.version),
    kind: req.kind.kind,
    namespace,
    name: meta.name ?? req.name ?? '',
  };
  if (meta.uid) ref.uid = meta.uid;
  return ref;
}
