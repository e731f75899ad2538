// The one table of ghostwire's knobs. Annotation keys, ConfigMap keys, GW_* variables, defaults, validation
// and the README's tables all come from here, so the sources can never disagree.
import { DEFAULT_IMAGE } from '../version.js';
import {
  type Parsed,
  type TunnelPort,
  durationValidator,
  formatDuration,
  ok,
  oneOf,
  parseBoolean,
  parseChainName,
  parseCidrList,
  parseDnsSuffix,
  parseImage,
  parseLabelKey,
  parseLabelValue,
  parseNamespace,
  parsePreviewPattern,
  parseQuantity,
  parseSuffix,
  parseTunnelPorts,
} from './validate.js';

export const ANNOTATION_PREFIX = 'ghostwire.dev/';
export const ENABLED_ANNOTATION = 'ghostwire.dev/enabled';
/** Written by the injector: what was injected and the hash of the effective config. */
export const STATUS_ANNOTATION = 'ghostwire.dev/status';
/** Written by the injector on tunnel workloads (see src/shadow). */
export const TUNNEL_ENDPOINT_ANNOTATION = 'ghostwire.dev/tunnel-endpoint';
export const TUNNEL_CLIENT_COMMAND_ANNOTATION = 'ghostwire.dev/tunnel-client-command';
export const TUNNEL_PRE_EXEC_ANNOTATION = 'ghostwire.dev/tunnel-pre-exec';
/** Every pod-template annotation the injector writes for a tunnel (which of them depends on the mode). */
export const TUNNEL_ANNOTATIONS = [TUNNEL_ENDPOINT_ANNOTATION, TUNNEL_CLIENT_COMMAND_ANNOTATION, TUNNEL_PRE_EXEC_ANNOTATION] as const;
/** Written by the shadow controller. */
export const TUNNEL_STATUS_ANNOTATION = 'ghostwire.dev/tunnel-status';
/** Written by the admission policies (src/policy) beside the status: who injected, with which config identity. */
export const POLICY_INJECTED_ANNOTATION = 'ghostwire.dev/injected-by';

/** Annotations ghostwire writes itself; reading them back is not a typo of a config key. */
export const OUTPUT_ANNOTATIONS: ReadonlySet<string> = new Set([
  STATUS_ANNOTATION,
  TUNNEL_ENDPOINT_ANNOTATION,
  TUNNEL_CLIENT_COMMAND_ANNOTATION,
  TUNNEL_PRE_EXEC_ANNOTATION,
  TUNNEL_STATUS_ANNOTATION,
  POLICY_INJECTED_ANNOTATION,
]);

/** Built-in nat chains that can receive the jump to ghostwire's chain. */
export const JUMP_HOOKS = ['OUTPUT', 'PREROUTING'] as const;
export type JumpHook = (typeof JUMP_HOOKS)[number];
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type PullPolicy = 'Always' | 'IfNotPresent' | 'Never';
/** What a routing change does to established connections whose route became wrong. */
export type FlipConnections = 'reset' | 'keep';

/** Everything the in-pod programs need; carried to them as GW_* variables. */
export interface PodConfig {
  namespace: string;
  roleLabelKey: string;
  roleActive: string;
  rolePreview: string;
  svcPreviewPattern: string;
  activeSuffix: string;
  previewSuffix: string;
  dnsSuffix: string;
  natChain: string;
  jumpHook: JumpHook;
  excludeCidrs: string[];
  pollIntervalMs: number;
  refreshIntervalMs: number;
  ipv6: boolean;
  flipConnections: FlipConnections;
  logLevel: LogLevel;
}

/** The effective per-workload config the injector renders from. */
export interface InjectConfig extends PodConfig {
  image: string;
  imagePullPolicy: PullPolicy;
  nativeSidecar: boolean;
  initFirst: boolean;
  cpuRequest: string;
  cpuLimit: string;
  memoryRequest: string;
  memoryLimit: string;
  tunnel: boolean;
  tunnelPorts: TunnelPort[];
  fullMesh: boolean;
  tunnelTimeoutMs: number;
}

export type OptionGroup = 'routing' | 'watcher' | 'injection' | 'resources' | 'tunnel';

export interface OptionSpec<K extends keyof InjectConfig = keyof InjectConfig> {
  /** Config field. */
  field: K;
  /** Annotation suffix and ConfigMap key (the README's spelling). */
  key: string;
  /** Variable handed to the in-pod programs, when the option concerns them. */
  env?: string;
  group: OptionGroup;
  default: NoInfer<InjectConfig[K]>;
  parse: (raw: string) => Parsed<NoInfer<InjectConfig[K]>>;
  /** Inverse of parse, for env values, docs and hashing. */
  format: (value: NoInfer<InjectConfig[K]>) => string;
  description: string;
}

const str = (v: string): string => v;
const bool = (v: boolean): string => String(v);
const csv = (v: string[]): string => v.join(',');

function option<K extends keyof InjectConfig>(spec: OptionSpec<K>): OptionSpec<K> {
  return spec;
}

export const OPTIONS = [
  option({ field: 'roleLabelKey', key: 'roleLabelKey', env: 'GW_ROLE_LABEL_KEY', group: 'routing', default: 'role', parse: parseLabelKey, format: str,
    description: 'Pod label the watcher reads to decide the role' }),
  option({ field: 'roleActive', key: 'roleActive', env: 'GW_ROLE_ACTIVE', group: 'routing', default: 'active', parse: parseLabelValue, format: str,
    description: 'Label value meaning "active": no jump, traffic goes to active Services' }),
  option({ field: 'rolePreview', key: 'rolePreview', env: 'GW_ROLE_PREVIEW', group: 'routing', default: 'preview', parse: parseLabelValue, format: str,
    description: 'Label value meaning "preview": the jump to the DNAT chain is installed' }),
  option({ field: 'svcPreviewPattern', key: 'svcPreviewPattern', env: 'GW_SVC_PREVIEW_PATTERN', group: 'routing', default: '{{name}}-preview', parse: parsePreviewPattern, format: str,
    description: 'Name of the preview twin of Service {{name}}' }),
  option({ field: 'activeSuffix', key: 'activeSuffix', env: 'GW_ACTIVE_SUFFIX', group: 'routing', default: '-active', parse: parseSuffix, format: str,
    description: 'Suffix of active Services paired by suffix (x-active <-> x-preview)' }),
  option({ field: 'previewSuffix', key: 'previewSuffix', env: 'GW_PREVIEW_SUFFIX', group: 'routing', default: '-preview', parse: parseSuffix, format: str,
    description: 'Suffix of preview Services paired with activeSuffix' }),
  option({ field: 'namespace', key: 'namespace', env: 'GW_NAMESPACE', group: 'routing', default: '', parse: parseNamespace, format: str,
    description: 'Namespace whose Services are discovered (empty: the pod\'s own)' }),
  option({ field: 'dnsSuffix', key: 'dnsSuffix', env: 'GW_DNS_SUFFIX', group: 'routing', default: '.svc.cluster.local', parse: parseDnsSuffix, format: str,
    description: 'Cluster DNS suffix, used in the DNAT map and logs' }),
  option({ field: 'natChain', key: 'natChain', env: 'GW_NAT_CHAIN', group: 'routing', default: 'CANARY_DNAT', parse: parseChainName, format: str,
    description: 'Custom nat chain holding the exclusions and DNAT rules' }),
  option({ field: 'jumpHook', key: 'jumpHook', env: 'GW_JUMP_HOOK', group: 'routing', default: 'OUTPUT', parse: oneOf(JUMP_HOOKS, true), format: str,
    description: 'Built-in nat chain that receives the jump in preview' }),
  option({ field: 'excludeCidrs', key: 'excludeCidrs', env: 'GW_EXCLUDE_CIDRS', group: 'routing', default: [], parse: parseCidrList, format: csv,
    description: 'CIDRs never rewritten, in addition to IMDS and the pod\'s DNS servers' }),
  option({ field: 'ipv6', key: 'ipv6', env: 'GW_IPV6', group: 'routing', default: false, parse: parseBoolean, format: bool,
    description: 'Also program ip6tables for IPv6 Services' }),
  option({ field: 'pollIntervalMs', key: 'pollInterval', env: 'GW_POLL_INTERVAL', group: 'watcher', default: 2000, parse: durationValidator(100, 3_600_000, false), format: formatDuration,
    description: 'Watcher poll cadence, used only while the pod watch is down' }),
  option({ field: 'refreshIntervalMs', key: 'refreshInterval', env: 'GW_REFRESH_INTERVAL', group: 'watcher', default: 0, parse: durationValidator(10_000, 86_400_000, true),
    format: (v) => (v === 0 ? '' : formatDuration(v)), description: 'Periodic full rebuild of the DNAT chain (empty: off)' }),
  option({ field: 'flipConnections', key: 'flipConnections', env: 'GW_FLIP_CONNECTIONS', group: 'watcher', default: 'reset', parse: oneOf(['reset', 'keep'] as const), format: str,
    description: 'reset: when a role flip or a Service change reroutes a destination, established connections to it are closed (TCP at the socket with ss -K, UDP flows in conntrack) so they reconnect to the right backend; keep: they keep their old route until they close' }),
  option({ field: 'logLevel', key: 'logLevel', env: 'GW_LOG_LEVEL', group: 'watcher', default: 'info', parse: oneOf(['debug', 'info', 'warn', 'error'] as const), format: str,
    description: 'Log level of the injected programs' }),
  option({ field: 'image', key: 'image', group: 'injection', default: DEFAULT_IMAGE, parse: parseImage, format: str,
    description: 'Image of the injected init container and watcher; an annotation may name only this default or an image in allowedImages' }),
  option({ field: 'imagePullPolicy', key: 'imagePullPolicy', group: 'injection', default: 'IfNotPresent', parse: oneOf(['Always', 'IfNotPresent', 'Never'] as const), format: str,
    description: 'Pull policy of the injected containers' }),
  option({ field: 'nativeSidecar', key: 'nativeSidecar', group: 'injection', default: false, parse: parseBoolean, format: bool,
    description: 'Run the watcher as a native sidecar (init container with restartPolicy: Always; Kubernetes >= 1.29)' }),
  option({ field: 'initFirst', key: 'initFirst', group: 'injection', default: false, parse: parseBoolean, format: bool,
    description: 'Put ghostwire-init first among init containers instead of last' }),
  option({ field: 'cpuRequest', key: 'cpuRequest', group: 'resources', default: '10m', parse: parseQuantity, format: str,
    description: 'CPU request of each injected container' }),
  option({ field: 'cpuLimit', key: 'cpuLimit', group: 'resources', default: '200m', parse: parseQuantity, format: str,
    description: 'CPU limit of each injected container' }),
  // Sized from `npm run bench pods` on Node 24 (README "Performance"): the watcher's private memory is about 16 MB idle
  // and at most about 26 MB during a burst of flips; the request is 32Mi, twice the idle figure. The Node binary's
  // ~45 MB of file pages are shared by every container of the same image on a node, not paid per pod. The limit
  // stays 128Mi, about 1.4x the highest resident peak with every page counted (init programming 1100 pairs, ~95 MB).
  option({ field: 'memoryRequest', key: 'memoryRequest', group: 'resources', default: '32Mi', parse: parseQuantity, format: str,
    description: 'Memory request of each injected container' }),
  option({ field: 'memoryLimit', key: 'memoryLimit', group: 'resources', default: '128Mi', parse: parseQuantity, format: str,
    description: 'Memory limit of each injected container' }),
  option({ field: 'tunnel', key: 'tunnel', group: 'tunnel', default: false, parse: parseBoolean, format: bool,
    description: 'Give the workload a shadow tunnel (defaults to network.enableTunnel)' }),
  option({ field: 'tunnelPorts', key: 'tunnelPorts', group: 'tunnel', default: [], parse: parseTunnelPorts,
    format: (v) => v.map((p) => [p.port, p.name ?? '', p.protocol].join(':')).join(','),
    description: 'Extra tunnel ports "port[:name[:protocol]]"; container ports are included automatically' }),
  option({ field: 'fullMesh', key: 'fullMesh', group: 'tunnel', default: false, parse: parseBoolean, format: bool,
    description: 'WireGuard full-mesh tunnel instead of plain wstunnel (defaults to network.fullMesh)' }),
  option({ field: 'tunnelTimeoutMs', key: 'tunnelTimeout', group: 'tunnel', default: 300_000, parse: durationValidator(1000, 3_600_000, false), format: formatDuration,
    description: 'How long the shadow controller waits for the shadow to become ready' }),
] as const;

export type AnyOption = OptionSpec<keyof InjectConfig>;
export const OPTION_LIST: readonly AnyOption[] = OPTIONS as unknown as readonly AnyOption[];
export const OPTION_BY_KEY: ReadonlyMap<string, AnyOption> = new Map(OPTION_LIST.map((o) => [o.key, o]));
export const OPTION_BY_FIELD: ReadonlyMap<keyof InjectConfig, AnyOption> = new Map(OPTION_LIST.map((o) => [o.field, o]));


export function builtinConfig(): InjectConfig {
  const out: Record<string, unknown> = {};
  for (const o of OPTION_LIST) out[o.field] = structuredCloneValue(o.default);
  return out as unknown as InjectConfig;
}

function structuredCloneValue<T>(v: T): T {
  return Array.isArray(v) ? (v.map((x) => (typeof x === 'object' ? { ...x } : x)) as T) : v;
}

