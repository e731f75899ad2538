// An in-memory ShadowApi for the controller's tests: a tiny object store with failure injection, and an optional
// "cluster" that makes a freshly applied shadow Deployment ready (ReplicaSet, pod, EndpointSlice).
import type { V1EndpointSlice, V1Pod, V1ReplicaSet, V1Secret } from '@kubernetes/client-node';
import type { EventObject } from '../../src/kube/event.js';
import { type ObjectRef, refKey } from '../../src/kube/objects.js';
import type { ApiObject, ShadowApi, ShadowLog, Workload } from '../../src/shadow/api.js';
import type { ShadowObject, ShadowSecret } from '../../src/shadow/manifests.js';

const clone = <T>(v: T): T => structuredClone(v);
const matches = (labels: Record<string, string> | undefined, selector: Record<string, string>): boolean =>
  Object.entries(selector).every(([k, v]) => labels?.[k] === v);

export class FakeShadowApi implements ShadowApi {
  readonly objects = new Map<string, ApiObject>();
  readonly workloads = new Map<string, Workload>();
  readonly events: EventObject[] = [];
  readonly calls: string[] = [];
  pods: V1Pod[] = [];
  replicaSets: V1ReplicaSet[] = [];
  endpointSlices: V1EndpointSlice[] = [];
  secretCreations = 0;
  /** Make applied shadow Deployments ready (ReplicaSet + Running/Ready pod + ready endpoint). */
  autoReady = true;
  /** Return an error to make apply() of this object fail (before it is stored). */
  failApply: (obj: ShadowObject) => Error | undefined = () => undefined;
  /** Return an error to make apply() of this object fail AFTER it was stored (a lost response). */
  failApplyAfterStore: (obj: ShadowObject) => Error | undefined = () => undefined;
  /** Number of upcoming patchAnnotations() calls that fail. */
  failStatusWrites = 0;
  failEvents = false;
  /** Called after a workload's annotations were written or a shadow Deployment deleted: what an informer sees. */
  onChange: (workloadKey: string) => void = () => undefined;
  private uid = 0;

  addWorkload(w: Workload): Workload {
    this.workloads.set(`${w.kind}/${w.metadata.namespace}/${w.metadata.name}`, w);
    return w;
  }

  workload(kind: string, namespace: string, name: string): Workload {
    return this.workloads.get(`${kind}/${namespace}/${name}`)!;
  }

  keys(): string[] {
    return [...this.objects.keys()].sort();
  }

  /** Put an object in the store directly (pre-existing state). */
  seed(obj: ApiObject & { apiVersion: string; kind: string; metadata: { name: string; namespace: string } }): ApiObject {
    const stored = clone(obj);
    stored.metadata = { ...stored.metadata, uid: stored.metadata?.uid ?? `uid-${++this.uid}` };
    this.objects.set(refKey({ apiVersion: obj.apiVersion, kind: obj.kind, namespace: obj.metadata.namespace, name: obj.metadata.name }), stored);
    return stored;
  }

  async apply(obj: ShadowObject): Promise<ApiObject> {
    const key = refKey({ apiVersion: obj.apiVersion, kind: obj.kind, namespace: obj.metadata.namespace, name: obj.metadata.name });
    this.calls.push(`apply ${key}`);
    const err = this.failApply(obj);
    if (err) throw err;
    const existing = this.objects.get(key);
    const stored = clone(obj) as unknown as ApiObject;
    const generation = ((existing?.metadata as { generation?: number } | undefined)?.generation ?? 0) + 1;
    stored.metadata = { ...stored.metadata, uid: existing?.metadata?.uid ?? `uid-${++this.uid}`, generation } as ApiObject['metadata'];
    this.objects.set(key, stored);
    if (obj.kind === 'Deployment' && this.autoReady) this.makeReady(stored);
    const late = this.failApplyAfterStore(obj);
    if (late) throw late;
    return clone(stored);
  }

  async get(ref: ObjectRef): Promise<ApiObject | undefined> {
    const o = this.objects.get(refKey(ref)) ?? (this.workloads.get(refKey(ref)) as ApiObject | undefined);
    return o ? clone(o) : undefined;
  }

  async delete(ref: ObjectRef, uid: string): Promise<void> {
    this.calls.push(`delete ${refKey(ref)}`);
    const o = this.objects.get(refKey(ref));
    if (o && o.metadata?.uid === uid) {
      this.objects.delete(refKey(ref));
      const owner = o.metadata?.ownerReferences?.[0] as { kind?: string; name?: string } | undefined;
      if (ref.kind === 'Deployment' && owner?.kind && owner.name) this.onChange(`${owner.kind}/${ref.namespace}/${owner.name}`);
    }
  }

  async listPods(namespace: string, selector: Record<string, string>): Promise<V1Pod[]> {
    return clone(this.pods.filter((p) => p.metadata?.namespace === namespace && matches(p.metadata?.labels, selector)));
  }

  async listReplicaSets(namespace: string, selector: Record<string, string>): Promise<V1ReplicaSet[]> {
    return clone(this.replicaSets.filter((r) => r.metadata?.namespace === namespace && matches(r.metadata?.labels, selector)));
  }

  async listEndpointSlices(namespace: string, serviceName: string): Promise<V1EndpointSlice[]> {
    return clone(this.endpointSlices.filter((s) => s.metadata?.namespace === namespace && s.metadata?.labels?.['kubernetes.io/service-name'] === serviceName));
  }

  async patchAnnotations(ref: ObjectRef, annotations: Record<string, string | null>): Promise<void> {
    this.calls.push(`patch ${ref.kind}/${ref.namespace}/${ref.name}`);
    if (this.failStatusWrites > 0) {
      this.failStatusWrites--;
      throw new Error('HTTP 500: etcdserver: request timed out');
    }
    const w = this.workload(ref.kind, ref.namespace, ref.name);
    if (!w) throw new Error(`HTTP 404: ${ref.kind} ${ref.name} not found`);
    const next = { ...(w.metadata.annotations ?? {}) };
    for (const [k, v] of Object.entries(annotations)) {
      if (v === null) delete next[k];
      else next[k] = v;
    }
    // As the API server does for Deployments: annotations are copied to ReplicaSets, so changing them bumps the
    // generation (our own status write included).
    if (ref.kind === 'Deployment' && JSON.stringify(next) !== JSON.stringify(w.metadata.annotations ?? {})) {
      w.metadata.generation = (w.metadata.generation ?? 0) + 1;
    }
    w.metadata.annotations = next;
    this.onChange(`${ref.kind}/${ref.namespace}/${ref.name}`);
  }

  async createEvent(event: EventObject): Promise<void> {
    if (this.failEvents) throw new Error('HTTP 403: forbidden');
    this.events.push(clone(event));
  }

  async getOrCreateSecret(ref: ObjectRef, build: () => ShadowSecret): Promise<{ secret: V1Secret; created: boolean }> {
    this.calls.push(`get-or-create ${refKey(ref)}`);
    const existing = this.objects.get(refKey(ref));
    if (existing) return { secret: clone(existing) as V1Secret, created: false };
    const secret = build();
    this.secretCreations++;
    const stored = this.seed(secret as unknown as ApiObject & { apiVersion: string; kind: string; metadata: { name: string; namespace: string } });
    return { secret: clone(stored) as V1Secret, created: true };
  }

  /** What a cluster would do for a Deployment: revision 1, a ReplicaSet, one ready pod, a ready endpoint. */
  makeReady(deployment: ApiObject, options: { podReady?: boolean; terminating?: boolean; oldRevision?: boolean } = {}): void {
    const meta = deployment.metadata as { name: string; namespace: string; uid: string; generation: number; labels: Record<string, string>; annotations?: Record<string, string> };
    const hash = `h${meta.generation}`;
    meta.annotations = { ...(meta.annotations ?? {}), 'deployment.kubernetes.io/revision': String(meta.generation) };
    (deployment as { status?: unknown }).status = {
      observedGeneration: meta.generation,
      conditions: [{ type: 'Available', status: 'True' }],
    };
    const rsName = `${meta.name}-${hash}`;
    const rsUid = `rs-${meta.uid}-${hash}`;
    const selector = { 'app.kubernetes.io/name': meta.labels['app.kubernetes.io/name']!, 'app.kubernetes.io/instance': meta.labels['app.kubernetes.io/instance']! };
    const revision = options.oldRevision ? String(meta.generation - 1) : String(meta.generation);
    this.replicaSets.push({
      metadata: {
        name: rsName,
        namespace: meta.namespace,
        uid: rsUid,
        labels: { ...selector, 'pod-template-hash': hash },
        annotations: { 'deployment.kubernetes.io/revision': revision },
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: meta.name, uid: meta.uid, controller: true }],
      },
    });
    const podName = `${rsName}-abcde`;
    const pod: V1Pod = {
      metadata: {
        name: podName,
        namespace: meta.namespace,
        uid: `pod-${rsUid}`,
        labels: { ...selector, 'pod-template-hash': hash },
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: rsName, uid: rsUid, controller: true }],
      },
      status: {
        phase: 'Running',
        podIP: '10.244.1.7',
        conditions: [{ type: 'Ready', status: options.podReady === false ? 'False' : 'True' }],
      },
    };
    if (options.terminating) pod.metadata!.deletionTimestamp = new Date(0);
    this.pods.push(pod);
    this.endpointSlices.push({
      addressType: 'IPv4',
      metadata: { name: `${meta.name}-xyz`, namespace: meta.namespace, labels: { 'kubernetes.io/service-name': meta.name } },
      endpoints: [{ addresses: ['10.244.1.7'], conditions: { ready: options.podReady !== false && !options.terminating }, targetRef: { kind: 'Pod', name: podName, namespace: meta.namespace } }],
    });
  }
}

export const nullLog: ShadowLog = { debug() {}, info() {}, warn() {}, error() {} };

/** A log that records messages and fields, to scan for secrets. */
export function recordingLog(): { log: ShadowLog; lines: string[] } {
  const lines: string[] = [];
  const rec = (obj: object, msg: string): void => {
    lines.push(`${msg} ${JSON.stringify(obj)}`);
  };
  return { log: { debug: rec, info: rec, warn: rec, error: rec }, lines };
}

export function deploymentWorkload(name = 'web', namespace = 'shop', annotations: Record<string, string> = { 'ghostwire.dev/tunnel': 'true' }): Workload {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace, uid: `uid-${namespace}-${name}`, generation: 1, annotations },
    spec: {
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'app', image: 'shop:1', ports: [{ containerPort: 8080, name: 'http' }, { containerPort: 5353, protocol: 'UDP', name: 'dns' }] }] },
      },
    },
  };
}
