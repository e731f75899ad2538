// Informers (list + watch, no polling) for the shadow controller, one set per namespace served (or one over every
// namespace), so its RBAC can be a Role in each of those namespaces:
//   - Deployments, StatefulSets, DaemonSets: the workloads; changes enqueue the workload (shadow Deployments,
//     recognised by their labels, enqueue their owner instead);
//   - shadow Pods, ReplicaSets and EndpointSlices (label-selected): wake readiness waits early.
import { type KubeConfig, type KubernetesObject, KubernetesObjectApi, makeInformer, type Informer, type ObjectCache } from '@kubernetes/client-node';
import { SHADOW_APP_NAME, SHADOW_MANAGED_BY } from '../shadow/identity.js';
import { AbortedError, type ShadowLog, type Workload, isShadowObject } from '../shadow/api.js';
import { TUNNEL_KINDS, type TunnelKind, isTunnelKind } from '../shadow/tunnel.js';
import { type Supervised, supervise } from './informer.js';

const PLURAL: Record<TunnelKind, string> = { Deployment: 'deployments', StatefulSet: 'statefulsets', DaemonSet: 'daemonsets' };
export const SHADOW_LABEL_SELECTOR = `app.kubernetes.io/name=${SHADOW_APP_NAME},app.kubernetes.io/managed-by=${SHADOW_MANAGED_BY}`;

type Watched = Informer<KubernetesObject> & ObjectCache<KubernetesObject> & { supervised: Supervised };

export interface ShadowWatchOptions {
  /** The namespaces served; undefined: every namespace (one cluster-wide watch per kind). */
  namespaces?: readonly string[] | undefined;
  log: ShadowLog;
  /** Called with a workload key ("Kind/namespace/name") when it may need a reconcile. */
  onWorkload: (key: string) => void;
  /** Filter: only these workloads are enqueued (tunnel on, a status to clear, or a shadow to remove). */
  interesting: (w: Workload, ownsShadow: boolean) => boolean;
}

export class ShadowWatch {
  private readonly objects: KubernetesObjectApi;
  /** Workload informers by kind, then by namespace ('' for the cluster-wide one). */
  private readonly workloads = new Map<TunnelKind, Map<string, Watched>>();
  private readonly helpers: Watched[] = [];
  private waiters = new Set<() => void>();

  constructor(
    private readonly kc: KubeConfig,
    private readonly options: ShadowWatchOptions,
  ) {
    this.objects = KubernetesObjectApi.makeApiClient(kc);
  }

  private informer(namespace: string, apiVersion: string, kind: string, plural: string, labelSelector?: string): Watched {
    const root = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
    const path = namespace ? `${root}/namespaces/${namespace}/${plural}` : `${root}/${plural}`;
    const list = () => this.objects.list(apiVersion, kind, namespace || undefined, undefined, undefined, undefined, undefined, labelSelector) as never;
    const inf = makeInformer(this.kc, path, list, labelSelector) as Watched;
    inf.supervised = supervise(inf, `${kind}${namespace ? ` in ${namespace}` : ''}`, this.options.log);
    return inf;
  }

  private all(): Watched[] {
    return [...[...this.workloads.values()].flatMap((m) => [...m.values()]), ...this.helpers];
  }

  async start(): Promise<void> {
    for (const ns of this.options.namespaces ?? ['']) {
      for (const kind of TUNNEL_KINDS) {
        const inf = this.informer(ns, 'apps/v1', kind, PLURAL[kind]);
        const handle = (obj: KubernetesObject): void => this.onWorkloadEvent(kind, obj);
        inf.on('add', handle);
        inf.on('update', handle);
        inf.on('delete', handle);
        if (!this.workloads.has(kind)) this.workloads.set(kind, new Map());
        this.workloads.get(kind)?.set(ns, inf);
      }
      for (const [apiVersion, kind, plural] of [
        ['v1', 'Pod', 'pods'],
        ['apps/v1', 'ReplicaSet', 'replicasets'],
        ['discovery.k8s.io/v1', 'EndpointSlice', 'endpointslices'],
      ] as const) {
        const inf = this.informer(ns, apiVersion, kind, plural, SHADOW_LABEL_SELECTOR);
        const wake = (): void => this.notify();
        inf.on('add', wake);
        inf.on('update', wake);
        inf.on('delete', wake);
        this.helpers.push(inf);
      }
    }
    await Promise.all(this.all().map((i) => i.supervised.start()));
  }

  async stop(): Promise<void> {
    await Promise.all(this.all().map((i) => i.supervised.stop().catch(() => undefined)));
    this.notify();
  }

  /** The informer of this kind that holds objects of this namespace. */
  private workloadInformer(kind: TunnelKind, namespace: string): Watched | undefined {
    const byNs = this.workloads.get(kind);
    return byNs?.get(byNs.has('') ? '' : namespace);
  }

  private onWorkloadEvent(kind: TunnelKind, raw: KubernetesObject): void {
    const w = this.normalize(kind, raw);
    if (!w) return;
    if (isShadowObject(w)) {
      // A shadow Deployment changed (or was deleted by hand): wake waits, reconcile its owner.
      this.notify();
      for (const o of raw.metadata?.ownerReferences ?? []) {
        if (isTunnelKind(o.kind)) this.options.onWorkload(`${o.kind}/${w.metadata.namespace}/${o.name}`);
      }
      return;
    }
    if (this.options.interesting(w, this.ownsShadow(w))) this.options.onWorkload(`${kind}/${w.metadata.namespace}/${w.metadata.name}`);
  }

  /** Objects from a list carry no apiVersion/kind; watch events do. Normalise both. */
  private normalize(kind: TunnelKind, raw: KubernetesObject): Workload | undefined {
    const m = raw.metadata;
    if (!m?.name || !m.namespace || !m.uid) return undefined;
    return { ...(raw as unknown as Workload), apiVersion: 'apps/v1', kind };
  }

  private ownsShadow(w: Workload): boolean {
    const deployments = this.workloadInformer('Deployment', w.metadata.namespace);
    return (deployments?.list(w.metadata.namespace) ?? []).some(
      (d) => isShadowObject(d as never) && (d.metadata?.ownerReferences ?? []).some((o) => o.uid === w.metadata.uid),
    );
  }

  /** The cached workload for a key, or undefined when it is gone. */
  lookup = (key: string): Workload | undefined => {
    const [kind, namespace, name] = key.split('/') as [TunnelKind, string, string];
    const raw = this.workloadInformer(kind, namespace)?.get(name, namespace);
    return raw ? this.normalize(kind, raw) : undefined;
  };

  /** Every cached workload the filter keeps (periodic resync), or those of one namespace. */
  keys(namespace?: string): string[] {
    const out: string[] = [];
    for (const [kind, byNs] of this.workloads) {
      for (const raw of [...byNs.values()].flatMap((inf) => inf.list(namespace))) {
        const w = this.normalize(kind, raw);
        if (w && !isShadowObject(w) && this.options.interesting(w, this.ownsShadow(w))) out.push(`${kind}/${w.metadata.namespace}/${w.metadata.name}`);
      }
    }
    return out;
  }

  /** Every cached workload, shadows aside, whatever the filter says (the config-stale metric reads them all). */
  cachedWorkloads(): Workload[] {
    const out: Workload[] = [];
    for (const [kind, byNs] of this.workloads) {
      for (const raw of [...byNs.values()].flatMap((inf) => inf.list())) {
        const w = this.normalize(kind, raw);
        if (w && !isShadowObject(w)) out.push(w);
      }
    }
    return out;
  }

  private notify(): void {
    const waiters = this.waiters;
    this.waiters = new Set();
    for (const w of waiters) w();
  }

  /** Resolves after `ms` or at the next shadow object change; rejects when aborted. */
  waitForChange = (ms: number, signal?: AbortSignal): Promise<void> =>
    new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(new AbortedError('aborted'));
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(done);
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = (): void => {
        clearTimeout(timer);
        this.waiters.delete(done);
        reject(new AbortedError('aborted'));
      };
      const timer = setTimeout(done, ms);
      this.waiters.add(done);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
}
