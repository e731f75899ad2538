// Defaults from a ConfigMap, followed with an informer (never a GET per admission). An invalid new version is
// rejected with a logged error and the last good one stays in force; a deleted ConfigMap means built-ins.
import { CoreV1Api, type KubeConfig, ListWatch, type V1ConfigMap, Watch } from '@kubernetes/client-node';
import { type Defaults, builtinDefaults, formatFieldErrors, parseDefaults } from '../config/index.js';
import type { Logger } from '../log.js';
import { supervise } from './informer.js';

export const DEFAULTS_DATA_KEY = 'config.yaml';

export type DefaultsReload = 'applied' | 'rejected' | 'deleted';

export interface DefaultsSource {
  current: () => Defaults;
  /** Listed, and the ConfigMap is absent (built-ins) or a valid version is in force. */
  synced: () => boolean;
  /** The newest version seen is the one in force (false while a rejected version is the newest). */
  valid: () => boolean;
  stop: () => Promise<void>;
}

export interface DefaultsSourceOptions {
  /** Every version seen: applied, rejected or deleted (metrics). */
  onReload?: (result: DefaultsReload) => void;
  /** After a new version was applied or the ConfigMap was deleted (not for rejected versions). */
  onChange?: () => void;
}

export async function watchDefaultsConfigMap(kc: KubeConfig, namespace: string, name: string, log: Logger, opts: DefaultsSourceOptions = {}): Promise<DefaultsSource> {
  const api = kc.makeApiClient(CoreV1Api);
  const where = `ConfigMap ${namespace}/${name} ${DEFAULTS_DATA_KEY}`;
  const state = { current: builtinDefaults(), listed: false, present: false, valid: false, newestValid: true, version: '' };

  const apply = (cm: V1ConfigMap): void => {
    if (cm.metadata?.name !== name) return;
    state.present = true;
    const version = cm.metadata?.resourceVersion ?? '';
    if (version !== '' && version === state.version) return;
    state.version = version;
    const { defaults, errors } = parseDefaults(cm.data?.[DEFAULTS_DATA_KEY] ?? '', where);
    if (errors.length > 0) {
      state.newestValid = false;
      opts.onReload?.('rejected');
      log.error({ configMap: `${namespace}/${name}`, resourceVersion: version, errors: formatFieldErrors(errors) }, 'defaults ConfigMap rejected; keeping the last good version');
      return;
    }
    Object.assign(state, { current: defaults, valid: true, newestValid: true });
    opts.onReload?.('applied');
    log.info({ configMap: `${namespace}/${name}`, resourceVersion: version }, 'defaults applied');
    opts.onChange?.();
  };
  const remove = (cm: V1ConfigMap): void => {
    if (cm.metadata?.name !== name) return;
    Object.assign(state, { current: builtinDefaults(), version: '', present: false, valid: false, newestValid: true });
    opts.onReload?.('deleted');
    log.warn({ configMap: `${namespace}/${name}` }, 'defaults ConfigMap deleted; using built-in defaults');
    opts.onChange?.();
  };

  // That one ConfigMap only (a metadata.name field selector), so RBAC can grant it by resourceNames instead of every
  // ConfigMap of the namespace.
  const fieldSelector = `metadata.name=${name}`;
  const informer = new ListWatch<V1ConfigMap>(
    `/api/v1/namespaces/${namespace}/configmaps`,
    new Watch(kc),
    () => api.listNamespacedConfigMap({ namespace, fieldSelector }),
    false,
    undefined,
    fieldSelector,
  );
  informer.on('add', apply);
  informer.on('update', apply);
  informer.on('delete', remove);
  const supervised = supervise(informer, `ConfigMap ${namespace}/${name}`, log);
  await supervised.start();
  state.listed = true;
  // A replica starting while the ConfigMap is invalid must not serve built-in defaults as if ready.
  if (state.present && !state.valid) log.error({ configMap: `${namespace}/${name}` }, 'not ready: the defaults ConfigMap is invalid and no good version was seen since start');
  return {
    current: () => state.current,
    synced: () => state.listed && (!state.present || state.valid),
    valid: () => state.newestValid,
    stop: supervised.stop,
  };
}
