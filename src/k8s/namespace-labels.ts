// The labels of the namespaces the shadow controller serves, followed with informers: one per namespace with a
// metadata.name field selector, so RBAC can grant exactly those Namespace objects (resourceNames), or one over every
// namespace when it serves them all (development).
import { CoreV1Api, type KubeConfig, ListWatch, type V1Namespace, Watch } from '@kubernetes/client-node';
import type { RestartLog } from './informer.js';
import { type Supervised, supervise } from './informer.js';

export interface NamespaceLabels {
  /** The labels as last seen; undefined while the namespace was never seen (missing, or not readable). */
  get: (namespace: string) => Readonly<Record<string, string>> | undefined;
  start: () => Promise<void>;
  stop: () => Promise<void>;
}

export function watchNamespaceLabels(kc: KubeConfig, namespaces: readonly string[] | undefined, log: RestartLog, onChange: (namespace: string) => void): NamespaceLabels {
  const api = kc.makeApiClient(CoreV1Api);
  const seen = new Map<string, Record<string, string>>();
  const informers: Supervised[] = [];
  for (const name of namespaces ?? [undefined]) {
    const fieldSelector = name === undefined ? undefined : `metadata.name=${name}`;
    const list = () => api.listNamespace(fieldSelector === undefined ? {} : { fieldSelector });
    const inf = new ListWatch<V1Namespace>('/api/v1/namespaces', new Watch(kc), list, false, undefined, fieldSelector);
    const update = (ns: V1Namespace): void => {
      const n = ns.metadata?.name;
      if (!n) return;
      seen.set(n, { ...(ns.metadata?.labels ?? {}) });
      onChange(n);
    };
    inf.on('add', update);
    inf.on('update', update);
    inf.on('delete', (ns: V1Namespace) => {
      const n = ns.metadata?.name;
      if (!n) return;
      seen.delete(n);
      onChange(n);
    });
    informers.push(supervise(inf, name === undefined ? 'Namespaces' : `Namespace ${name}`, log));
  }
  return {
    get: (namespace) => seen.get(namespace),
    start: async () => {
      await Promise.all(informers.map((i) => i.start()));
    },
    stop: async () => {
      await Promise.all(informers.map((i) => i.stop().catch(() => undefined)));
    },
  };
}
