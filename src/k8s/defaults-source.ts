// Defaults from a ConfigMap, followed with an informer (never a GET per admission). An invalid new version is
// rejected with a logged error and the last good one stays in force; a deleted ConfigMap means built-ins.
import { CoreV1Api, type KubeConfig, type V1ConfigMap, makeInformer } from '@kubernetes/client-node';
import { type Defaults, builtinDefaults, formatFieldErrors, parseDefaults } from '../config/index.js';
import type { Logger } from '../log.js';
import type { WebhookMetrics } from '../server/metrics.js';

export const DEFAULTS_DATA_KEY = 'config.yaml';

export interface DefaultsSource {
  current: () => Defaults;
  synced: () => boolean;
  stop: () => Promise<void>;
}

export async function watchDefaultsConfigMap(
  kc: KubeConfig,
  namespace: string,
  name: string,
  log: Logger,
  metrics: Pick<WebhookMetrics, 'defaultsReloads'>,
  /** Called after a new version was applied or the ConfigMap was deleted (not for rejected versions). */
  onChange: () => void = () => undefined,
): Promise<DefaultsSource> {
  const api = kc.makeApiClient(CoreV1Api);
  let current = builtinDefaults();
  // Ready only once the ConfigMap's state is known and usable: listed and absent (built-ins), or a valid version
  // applied. A replica starting while the ConfigMap is invalid must not serve built-in defaults as if ready.
  let listed = false;
  let present = false;
  let valid = false;
  let lastVersion = '';
  const where = `ConfigMap ${namespace}/${name} ${DEFAULTS_DATA_KEY}`;

  const apply = (cm: V1ConfigMap): void => {
    if (cm.metadata?.name !== name) return;
    present = true;
    const version = cm.metadata?.resourceVersion ?? '';
    if (version !== '' && version === lastVersion) return;
    lastVersion = version;
    const { defaults, errors } = parseDefaults(cm.data?.[DEFAULTS_DATA_KEY] ?? '', where);
    if (errors.length > 0) {
      metrics.defaultsReloads.inc({ result: 'rejected' });
      log.error({ configMap: `${namespace}/${name}`, resourceVersion: version, errors: formatFieldErrors(errors) }, 'defaults ConfigMap rejected; keeping the last good version');
      return;
    }
    current = defaults;
    valid = true;
    metrics.defaultsReloads.inc({ result: 'applied' });
    log.info({ configMap: `${namespace}/${name}`, resourceVersion: version }, 'defaults applied');
    onChange();
  };

  const informer = makeInformer<V1ConfigMap>(kc, `/api/v1/namespaces/${namespace}/configmaps`, () => api.listNamespacedConfigMap({ namespace }));
  informer.on('add', apply);
  informer.on('update', apply);
  informer.on('delete', (cm) => {
    if (cm.metadata?.name !== name) return;
    current = builtinDefaults();
    lastVersion = '';
    present = false;
    valid = false;
    metrics.defaultsReloads.inc({ result: 'deleted' });
    log.warn({ configMap: `${namespace}/${name}` }, 'defaults ConfigMap deleted; using built-in defaults');
    onChange();
  });
  let stopped = false;
  informer.on('error', (err) => {
    log.warn({ err: { message: (err as Error)?.message } }, 'defaults informer error; restarting in 5s');
    if (!stopped) setTimeout(() => void informer.start().catch(() => undefined), 5000).unref();
  });
  await informer.start();
  listed = true;
  if (present && !valid) log.error({ configMap: `${namespace}/${name}` }, 'not ready: the defaults ConfigMap is invalid and no good version was seen since start');
  return {
    current: () => current,
    synced: () => listed && (!present || valid),
    stop: async () => {
      stopped = true;
      await informer.stop();
    },
  };
}
