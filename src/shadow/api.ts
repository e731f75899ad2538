// The shadow controller's port to the cluster (ShadowApi: one implementation on @kubernetes/client-node in
// src/k8s/shadow-api.ts, a test double in test/helpers) and the types and errors the reconciler and the work queue
// share.
import type { V1EndpointSlice, V1Pod, V1PodTemplateSpec, V1ReplicaSet, V1Secret } from '@kubernetes/client-node';
import type { Defaults } from '../config/defaults.js';
import { resolveConfig } from '../config/resolve.js';
import type { EventObject } from '../kube/event.js';
import type { ObjectRef, OwnerRef } from '../kube/objects.js';
import { SHADOW_APP_NAME, SHADOW_MANAGED_BY } from './identity.js';
import type { ShadowObject, ShadowSecret } from './manifests.js';

export const FIELD_MANAGER = 'ghostwire-shadow';
export const EVENT_COMPONENT = 'ghostwire.dev/ghostwire-shadow';
export const EVENT_REASONS = { Pending: 'ShadowPending', Ready: 'ShadowReady', Failed: 'ShadowFailed', Removed: 'ShadowRemoved' } as const;
/** What the controller needs of a workload object. */
export interface Workload {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    generation?: number;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    deletionTimestamp?: Date | string;
  };
  spec?: { template?: V1PodTemplateSpec };
}

/** A read object: enough to check ownership and uid. */
export interface ApiObject {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; uid?: string; ownerReferences?: Array<{ uid: string; controller?: boolean }> };
  [key: string]: unknown;
}

/**
 * Everything the controller does to the cluster. Implementations throw on API errors (with messages that never
 * include object bodies), return undefined for "not found".
 */
export interface ShadowApi {
  /** Server-side apply (fieldManager ghostwire-shadow, force); returns the object as stored (with its uid). */
  apply(obj: ShadowObject): Promise<ApiObject>;
  get(ref: ObjectRef): Promise<ApiObject | undefined>;
  /** Delete exactly the object with this uid (precondition); "not found" is success. */
  delete(ref: ObjectRef, uid: string): Promise<void>;
  listPods(namespace: string, selector: Record<string, string>): Promise<V1Pod[]>;
  listReplicaSets(namespace: string, selector: Record<string, string>): Promise<V1ReplicaSet[]>;
  listEndpointSlices(namespace: string, serviceName: string): Promise<V1EndpointSlice[]>;
  /** JSON merge patch of metadata.annotations (null deletes a key). */
  patchAnnotations(ref: ObjectRef, annotations: Record<string, string | null>): Promise<void>;
  createEvent(event: EventObject): Promise<void>;
  /** Read the Secret; when absent, create build() (called only then); on AlreadyExists, read it again. */
  getOrCreateSecret(ref: ObjectRef, build: () => ShadowSecret): Promise<{ secret: V1Secret; created: boolean }>;
}

export interface Clock {
  now(): number;
}

/** Minimal logger (pino-compatible). Callers never pass key material or object bodies. */
export interface ShadowLog {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** A failure that retrying cannot fix (bad config, name conflict): reported, retried only when the workload changes. */
export class PermanentError extends Error {
  override name = 'PermanentError';
}
/** Writing the status annotation failed: returned to the queue, which retries with backoff. */
export class StatusWriteError extends Error {
  override name = 'StatusWriteError';
}
/** The attempt was abandoned because the workload changed; a new reconcile follows. */
export class AbortedError extends Error {
  override name = 'AbortedError';
}

export function workloadRef(w: Workload): ObjectRef {
  return { apiVersion: w.apiVersion, kind: w.kind, namespace: w.metadata.namespace, name: w.metadata.name };
}

export function workloadKey(w: { kind: string; metadata: { namespace: string; name: string } }): string {
  return `${w.kind}/${w.metadata.namespace}/${w.metadata.name}`;
}

/** The controller's own shadow Deployments are never treated as workloads. */
export function isShadowObject(w: { metadata?: { labels?: Record<string, string> } }): boolean {
  const l = w.metadata?.labels ?? {};
  return l['app.kubernetes.io/name'] === SHADOW_APP_NAME && l['app.kubernetes.io/managed-by'] === SHADOW_MANAGED_BY;
}

/** Whether a workload's effective config turns the tunnel on (annotations over the defaults document). */
export function wantsTunnel(defaults: Defaults, w: Workload): boolean {
  return resolveConfig(defaults, [w.metadata.annotations, w.spec?.template?.metadata?.annotations]).config.tunnel;
}

export const ownedBy = (o: ApiObject, uid: string): boolean => (o.metadata?.ownerReferences ?? []).some((r) => r.uid === uid);

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export const systemClock: Clock = { now: () => Date.now() };

export function ownerOf(w: Workload): OwnerRef {
  return { apiVersion: w.apiVersion, kind: w.kind, namespace: w.metadata.namespace, name: w.metadata.name, uid: w.metadata.uid };
}
