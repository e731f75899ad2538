// ShadowApi on @kubernetes/client-node: every call goes through KubernetesObjectApi (generic paths from API
// discovery), so one small class covers Deployments, Services, Ingresses, NetworkPolicies, ConfigMaps, Secrets,
// Events and the readiness reads.
import {
  type KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
  PatchStrategy,
  type V1EndpointSlice,
  type V1Pod,
  type V1ReplicaSet,
  type V1Secret,
} from '@kubernetes/client-node';
import type { EventObject } from '../kube/event.js';
import type { ObjectRef } from '../kube/objects.js';
import { type ApiObject, FIELD_MANAGER, type ShadowApi } from '../shadow/api.js';
import type { ShadowObject, ShadowSecret } from '../shadow/manifests.js';
import { describeApiError, statusCode } from './api-errors.js';
import { SERVICE_NAME_LABEL } from '../shadow/readiness.js';

class ApiCallError extends Error {
  override name = 'ApiCallError';
  constructor(
    readonly code: number | undefined,
    message: string,
  ) {
    super(message);
  }
}

const wrap = (what: string, err: unknown): ApiCallError => new ApiCallError(statusCode(err), `${what}: ${describeApiError(err)}`);

const selectorText = (selector: Record<string, string>): string =>
  Object.entries(selector)
    .map(([k, v]) => `${k}=${v}`)
    .sort()
    .join(',');

const header = (ref: ObjectRef): KubernetesObject & { metadata: { name: string; namespace: string } } => ({
  apiVersion: ref.apiVersion,
  kind: ref.kind,
  metadata: { name: ref.name, namespace: ref.namespace },
});

const describeRef = (ref: ObjectRef): string => `${ref.kind} ${ref.namespace}/${ref.name}`;

export class K8sShadowApi implements ShadowApi {
  readonly client: KubernetesObjectApi;

  constructor(kc: KubeConfig) {
    this.client = KubernetesObjectApi.makeApiClient(kc);
  }

  async apply(obj: ShadowObject): Promise<ApiObject> {
    try {
      const out = await this.client.patch(obj as KubernetesObject, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
      return out as unknown as ApiObject;
    } catch (err) {
      throw wrap(`server-side apply of ${obj.kind} ${obj.metadata.namespace}/${obj.metadata.name}`, err);
    }
  }

  async get(ref: ObjectRef): Promise<ApiObject | undefined> {
    try {
      return (await this.client.read(header(ref))) as unknown as ApiObject;
    } catch (err) {
      if (statusCode(err) === 404) return undefined;
      throw wrap(`get ${describeRef(ref)}`, err);
    }
  }

  async delete(ref: ObjectRef, uid: string): Promise<void> {
    try {
      await this.client.delete(header(ref), undefined, undefined, undefined, undefined, 'Background', { preconditions: { uid } });
    } catch (err) {
      // 404: already gone. 409: the uid precondition failed, i.e. the name now belongs to another object: not ours.
      const code = statusCode(err);
      if (code === 404 || code === 409) return;
      throw wrap(`delete ${describeRef(ref)}`, err);
    }
  }

  private async list<T>(apiVersion: string, kind: string, namespace: string, labelSelector: string): Promise<T[]> {
    try {
      const out = await this.client.list(apiVersion, kind, namespace, undefined, undefined, undefined, undefined, labelSelector);
      return (out.items ?? []) as unknown as T[];
    } catch (err) {
      throw wrap(`list ${kind} in ${namespace} (${labelSelector})`, err);
    }
  }

  listPods(namespace: string, selector: Record<string, string>): Promise<V1Pod[]> {
    return this.list<V1Pod>('v1', 'Pod', namespace, selectorText(selector));
  }

  listReplicaSets(namespace: string, selector: Record<string, string>): Promise<V1ReplicaSet[]> {
    return this.list<V1ReplicaSet>('apps/v1', 'ReplicaSet', namespace, selectorText(selector));
  }

  listEndpointSlices(namespace: string, serviceName: string): Promise<V1EndpointSlice[]> {
    return this.list<V1EndpointSlice>('discovery.k8s.io/v1', 'EndpointSlice', namespace, `${SERVICE_NAME_LABEL}=${serviceName}`);
  }

  async patchAnnotations(ref: ObjectRef, annotations: Record<string, string | null>): Promise<void> {
    // null values delete keys (RFC 7386); the typed serializer passes them through unchanged.
    const patch = { ...header(ref), metadata: { ...header(ref).metadata, annotations } } as unknown as KubernetesObject;
    try {
      await this.client.patch(patch, undefined, undefined, FIELD_MANAGER, undefined, PatchStrategy.MergePatch);
    } catch (err) {
      throw wrap(`patch annotations of ${describeRef(ref)}`, err);
    }
  }

  async createEvent(event: EventObject): Promise<void> {
    try {
      await this.client.create(event as unknown as KubernetesObject);
    } catch (err) {
      throw wrap(`create Event for ${event.involvedObject.kind} ${event.involvedObject.namespace}/${event.involvedObject.name}`, err);
    }
  }

  async getOrCreateSecret(ref: ObjectRef, build: () => ShadowSecret): Promise<{ secret: V1Secret; created: boolean }> {
    const existing = await this.get(ref);
    if (existing) return { secret: existing as V1Secret, created: false };
    try {
      const created = await this.client.create(build() as KubernetesObject, undefined, undefined, FIELD_MANAGER);
      return { secret: created as V1Secret, created: true };
    } catch (err) {
      if (statusCode(err) !== 409) throw wrap(`create ${describeRef(ref)}`, err);
    }
    // AlreadyExists: another writer won the race; use its keys.
    const again = await this.get(ref);
    if (!again) throw new ApiCallError(409, `create ${describeRef(ref)}: AlreadyExists, then not found on re-read`);
    return { secret: again as V1Secret, created: false };
  }
}
