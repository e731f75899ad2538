// The shadow controller on a real API server: informers (shadow-watch.ts) feed the work queue, which runs the
// reconciler against K8sShadowApi. Defaults come from a file or follow the webhook's ConfigMap live, so both
// processes always compute one shadow identity. The scope (shadow/scope.ts) decides where it may act at all.
import type { KubeConfig } from '@kubernetes/client-node';
import type { Defaults } from '../config/defaults.js';
import { TUNNEL_STATUS_ANNOTATION } from '../config/options.js';
import type { Logger } from '../log.js';
import { type Workload, wantsTunnel } from '../shadow/api.js';
import { ShadowWorkQueue } from '../shadow/queue.js';
import { ShadowReconciler } from '../shadow/reconciler.js';
import { type ShadowScope, scopeVerdict } from '../shadow/scope.js';
import { type DefaultsSource, watchDefaultsConfigMap } from './defaults-source.js';
import { type NamespaceLabels, watchNamespaceLabels } from './namespace-labels.js';
import { K8sShadowApi } from './shadow-api.js';
import { ShadowWatch } from './shadow-watch.js';

export interface ShadowControllerOptions {
  /** Fixed defaults (a file), or the defaults ConfigMap to follow. */
  defaults: Defaults | { configMap: { namespace: string; name: string } };
  tunnelKey: string;
  /** Where it may act: the namespaces served (undefined: all), its own namespace, the opt-in label. */
  scope: ShadowScope;
  concurrency: number;
  resyncSeconds: number;
  instance: string;
}

export interface RunningShadowController {
  stop: () => Promise<void>;
  /** The Deployments, StatefulSets and DaemonSets in the informer caches (no API request). */
  workloads: () => Workload[];
  /** The defaults in force. */
  defaults: () => Defaults;
}

/** Fails (after logging why) when the defaults ConfigMap is invalid: shadows rendered from built-in defaults would
 * disagree with what the webhook wrote. */
async function followDefaults(kc: KubeConfig, cm: { namespace: string; name: string }, log: Logger, onChange: () => void): Promise<DefaultsSource> {
  const source = await watchDefaultsConfigMap(kc, cm.namespace, cm.name, log, { onChange });
  if (!source.synced()) {
    await source.stop();
    throw new Error(`the defaults ConfigMap ${cm.namespace}/${cm.name} is invalid; fix it (the error above names every problem), then restart`);
  }
  return source;
}

export async function startShadowController(kc: KubeConfig, log: Logger, o: ShadowControllerOptions): Promise<RunningShadowController> {
  let enqueueAll = (): void => undefined;
  const source = 'configMap' in o.defaults ? await followDefaults(kc, o.defaults.configMap, log, () => enqueueAll()) : undefined;
  const fixed = 'configMap' in o.defaults ? undefined : o.defaults;
  const defaultsNow = (): Defaults => source?.current() ?? (fixed as Defaults);
  let queue: ShadowWorkQueue | undefined;
  let watch: ShadowWatch | undefined;
  // A namespace that opts in (or out) changes what every workload in it may get.
  const labels: NamespaceLabels | undefined = o.scope.optInLabel
    ? watchNamespaceLabels(kc, o.scope.namespaces, log, (ns) => watch?.keys(ns).forEach((k) => queue?.enqueue(k)))
    : undefined;
  const verdict = (namespace: string) => scopeVerdict(o.scope, namespace, labels?.get(namespace));
  watch = new ShadowWatch(kc, {
    namespaces: o.scope.namespaces,
    log,
    onWorkload: (k) => queue?.enqueue(k),
    // Where it may not act at all (system, own, not served), nothing is even enqueued.
    interesting: (w, ownsShadow) => {
      const v = verdict(w.metadata.namespace);
      if (!v.inScope && !v.loud) return false;
      return ownsShadow || w.metadata.annotations?.[TUNNEL_STATUS_ANNOTATION] !== undefined || wantsTunnel(defaultsNow(), w);
    },
  });
  const reconciler = new ShadowReconciler({
    api: new K8sShadowApi(kc),
    get defaults() {
      return defaultsNow();
    },
    tunnelKey: o.tunnelKey,
    log,
    waitForChange: watch.waitForChange,
    instance: o.instance,
    scope: verdict,
  });
  const w = watch;
  queue = new ShadowWorkQueue({ reconciler, lookup: w.lookup, log, concurrency: o.concurrency });
  // Labels first: a workload is judged against its namespace as it is, never as "not seen yet".
  await labels?.start();
  await w.start();
  // New defaults may change every workload's shadow (host, TLS, mode): reconcile them all.
  enqueueAll = () => w.keys().forEach((k) => queue?.enqueue(k));
  const resync = o.resyncSeconds > 0 ? setInterval(enqueueAll, o.resyncSeconds * 1000) : undefined;
  return {
    workloads: () => w.cachedWorkloads(),
    defaults: defaultsNow,
    stop: async () => {
      if (resync) clearInterval(resync);
      queue?.stop();
      await w.stop();
      await labels?.stop();
      await source?.stop();
    },
  };
}
