// The defaults the webhook has in force, as far as this command can know them: the ConfigMap it follows, parsed
// with the webhook's own parser. A rejected version means the webhook keeps an earlier one this command cannot see,
// so no expected hash is computed rather than a wrong one.
import { type Defaults, builtinDefaults, formatFieldErrors, parseDefaults } from '../config/index.js';
import type { KubeObject } from '../kube/objects.js';
import type { DefaultsState } from './model.js';

export const DEFAULTS_DATA_KEY = 'config.yaml';

export interface DefaultsResolution {
  /** Undefined: expected hashes cannot be computed (state rejected or unknown). */
  defaults: Defaults | undefined;
  source: string;
  state: DefaultsState;
  errors: string[];
  resourceVersion: string | null;
  /** Worth knowing, needs nothing. */
  note: string | null;
}

/** The ConfigMap as read (undefined: it does not exist). */
export function defaultsFromConfigMap(cm: KubeObject | undefined, where: { namespace: string; name: string }): DefaultsResolution {
  const source = `ConfigMap ${where.namespace}/${where.name}`;
  if (cm === undefined) {
    return {
      defaults: builtinDefaults(),
      source,
      state: 'absent',
      errors: [],
      resourceVersion: null,
      note: `${source} does not exist: the webhook uses its built-in defaults (their image is the webhook's own version; this command assumes it is ${builtinDefaults().config.image})`,
    };
  }
  const data = cm.data;
  const text = typeof data === 'object' && data !== null && typeof (data as Record<string, unknown>)[DEFAULTS_DATA_KEY] === 'string' ? ((data as Record<string, string>)[DEFAULTS_DATA_KEY] as string) : '';
  const { defaults, errors } = parseDefaults(text, `${source} ${DEFAULTS_DATA_KEY}`);
  const resourceVersion = typeof cm.metadata?.resourceVersion === 'string' ? cm.metadata.resourceVersion : null;
  if (errors.length > 0) {
    return { defaults: undefined, source, state: 'rejected', errors: [formatFieldErrors(errors).slice(0, 2000)], resourceVersion, note: null };
  }
  return { defaults, source, state: 'valid', errors: [], resourceVersion, note: null };
}

/** The ConfigMap could not be read (forbidden, API down). */
export function defaultsUnreadable(where: { namespace: string; name: string }, error: string): DefaultsResolution {
  return { defaults: undefined, source: `ConfigMap ${where.namespace}/${where.name}`, state: 'unknown', errors: [`cannot read it: ${error}`], resourceVersion: null, note: null };
}

/** --defaults FILE given to this command. */
export function defaultsFromFlag(defaults: Defaults, file: string): DefaultsResolution {
  return { defaults, source: `file ${file} (--defaults)`, state: 'valid', errors: [], resourceVersion: null, note: null };
}

/** The webhook reads a file inside its pod, or no webhook was found to ask. */
export function defaultsUnknown(source: string, why: string): DefaultsResolution {
  return { defaults: undefined, source, state: source.startsWith('file ') ? 'file' : 'unknown', errors: [], resourceVersion: null, note: why };
}

/** `ghostwire serve` without --defaults or --defaults-configmap. */
export function defaultsBuiltIn(): DefaultsResolution {
  return { defaults: builtinDefaults(), source: 'built-in (the webhook runs without --defaults or --defaults-configmap)', state: 'built-in', errors: [], resourceVersion: null, note: null };
}
