// The GW_* contract between the injector and the in-pod programs (init, watch).
import { type FieldError, fieldError } from './errors.js';
import { crossFieldProblems } from './cross-field.js';
import { type InjectConfig, type PodConfig, OPTION_BY_FIELD, OPTION_LIST, builtinConfig } from './options.js';
import { isDns1123Label, isDns1123Subdomain } from './validate.js';

export const DNAT_MAP_ENV = 'GW_IPTABLES_DNAT_MAP';
export const DEFAULT_DNAT_MAP = '/shared/dnat.map';
export const SHARED_MOUNT = '/shared';

const POD_FIELDS = [
  'namespace', 'roleLabelKey', 'roleActive', 'rolePreview', 'svcPreviewPattern', 'activeSuffix', 'previewSuffix',
  'dnsSuffix', 'natChain', 'jumpHook', 'excludeCidrs', 'pollIntervalMs', 'refreshIntervalMs', 'ipv6', 'flipConnections', 'logLevel',
] as const satisfies readonly (keyof PodConfig)[];

export const ENV_OPTIONS = OPTION_LIST.filter((o) => o.env !== undefined);

/** GW_* variables for the injected containers, in table order (stable for golden files and hashing). */
export function podEnv(config: InjectConfig): Array<{ name: string; value: string }> {
  const out = ENV_OPTIONS.map((o) => ({ name: o.env as string, value: o.format(config[o.field] as never) }));
  out.push({ name: DNAT_MAP_ENV, value: DEFAULT_DNAT_MAP });
  return out;
}

export interface RuntimeEnvConfig extends PodConfig {
  /** Namespace whose Services are discovered: GW_NAMESPACE, else POD_NAMESPACE, else "default". */
  effectiveNamespace: string;
  /** The pod's own namespace (POD_NAMESPACE, else "default"): where the watcher finds its Pod. */
  podNamespace: string;
  dnatMapPath: string;
  podName: string | undefined;
}

/** Parse the GW_* environment with the injector's validators; every bad variable is reported by name. */
export function configFromEnv(env: Record<string, string | undefined>): { config: RuntimeEnvConfig; errors: FieldError[] } {
  const base = builtinConfig() as unknown as Record<string, unknown>;
  const errors: FieldError[] = [];
  for (const o of ENV_OPTIONS) {
    const raw = env[o.env as string];
    if (raw === undefined || (raw === '' && o.field !== 'refreshIntervalMs' && o.field !== 'namespace' && o.field !== 'excludeCidrs')) continue;
    const r = o.parse(raw);
    if (r.ok) base[o.field] = r.value;
    else errors.push(fieldError('environment', o.env as string, raw, r.allowed));
  }
  // Cross-field and non-table variables, checked with the same wording as the injector's errors.
  errors.push(...crossFieldProblems(base as unknown as PodConfig, 'environment', (field) => OPTION_BY_FIELD.get(field)?.env ?? field).map((p) => p.error));
  const mapPath = env[DNAT_MAP_ENV]?.trim();
  if (mapPath !== undefined && mapPath !== '' && (!mapPath.startsWith('/') || mapPath.endsWith('/') || /[\x00-\x1f]/.test(mapPath))) {
    errors.push(fieldError('environment', DNAT_MAP_ENV, mapPath, 'an absolute file path such as "/shared/dnat.map"'));
  }
  const podName = env.POD_NAME?.trim();
  if (podName !== undefined && podName !== '' && !isDns1123Subdomain(podName)) {
    errors.push(fieldError('environment', 'POD_NAME', podName, 'a Pod name (DNS-1123 subdomain), normally from the downward API metadata.name'));
  }
  const podNs = env.POD_NAMESPACE?.trim();
  if (podNs !== undefined && podNs !== '' && !isDns1123Label(podNs)) {
    errors.push(fieldError('environment', 'POD_NAMESPACE', podNs, 'a namespace name (DNS-1123 label), normally from the downward API metadata.namespace'));
  }
  const pod = {} as Record<string, unknown>;
  for (const f of POD_FIELDS) pod[f] = base[f];
  const config = pod as unknown as PodConfig;
  const podNamespace = env.POD_NAMESPACE?.trim();
  return {
    config: {
      ...config,
      effectiveNamespace: config.namespace || podNamespace || 'default',
      podNamespace: podNamespace || 'default',
      dnatMapPath: env[DNAT_MAP_ENV]?.trim() || DEFAULT_DNAT_MAP,
      podName: env.POD_NAME?.trim() || undefined,
    },
    errors,
  };
}
