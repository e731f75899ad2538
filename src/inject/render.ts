// What ghostwire adds to a pod template. Names are a contract: other tools, docs and the convergence check rely on them.
import { type InjectConfig, STATUS_ANNOTATION, podEnv, SHARED_MOUNT } from '../config/index.js';
import type { Container, Volume } from '../kube/objects.js';

export const INIT_CONTAINER = 'ghostwire-init';
export const WATCHER_CONTAINER = 'ghostwire-watcher';
export const SHARED_VOLUME = 'ghostwire-shared';
export const METRICS_PORT = 8081;
export const METRICS_PORT_NAME = 'gw-metrics';

export const OWN_CONTAINERS: ReadonlySet<string> = new Set([INIT_CONTAINER, WATCHER_CONTAINER]);

export interface InjectionStatus {
  version: string;
  initContainer: string;
  sidecar: string;
  sidecarMode: 'container' | 'native';
  volume: string;
  configHash: string;
  tunnel: boolean;
}

export interface DesiredParts {
  init: Container;
  watcher: Container;
  volume: Volume;
  status: InjectionStatus;
  /** statusAnnotationValue(status), computed once. */
  statusJson: string;
}

function securityContext(): Record<string, unknown> {
  // iptables needs uid 0 with NET_ADMIN (and NET_RAW for the nat table's raw sockets on some kernels);
  // everything else is dropped. runAsUser 0 and runAsNonRoot: false are explicit and override a pod-level
  // runAsNonRoot: true for these two containers only. Pod Security "baseline" and "restricted" refuse NET_ADMIN:
  // opted-in namespaces need "privileged" enforcement or an exception (see docs/install.md).
  return {
    runAsUser: 0,
    runAsNonRoot: false,
    privileged: false,
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

function env(config: InjectConfig): Array<Record<string, unknown>> {
  return [
    // An empty value is stored by the API server as no value at all; covers() treats the two as equal.
    ...podEnv(config),
    // The xtables lock lives on the shared volume: the root filesystem is read-only and the two containers
    // share one network namespace, so they must share one lock.
    { name: 'XTABLES_LOCKFILE', value: `${SHARED_MOUNT}/xtables.lock` },
    { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
  ];
}

function base(name: string, subcommand: 'init' | 'watch', config: InjectConfig): Container {
  return {
    name,
    image: config.image,
    imagePullPolicy: config.imagePullPolicy,
    command: ['ghostwire', subcommand],
    env: env(config),
    resources: {
      requests: { cpu: config.cpuRequest, memory: config.memoryRequest },
      limits: { cpu: config.cpuLimit, memory: config.memoryLimit },
    },
    securityContext: securityContext(),
    volumeMounts: [{ name: SHARED_VOLUME, mountPath: SHARED_MOUNT }],
  };
}

export function renderParts(config: InjectConfig, configHash: string, version: string): DesiredParts {
  const init = base(INIT_CONTAINER, 'init', config);
  const probe = (initialDelaySeconds: number) => ({
    httpGet: { path: '/healthz', port: METRICS_PORT_NAME },
    initialDelaySeconds,
    periodSeconds: 10,
    timeoutSeconds: 2,
    failureThreshold: 3,
  });
  const watcher: Container = {
    ...base(WATCHER_CONTAINER, 'watch', config),
    ports: [{ name: METRICS_PORT_NAME, containerPort: METRICS_PORT, protocol: 'TCP' }],
    livenessProbe: probe(5),
    readinessProbe: { ...probe(1), periodSeconds: 5 },
  };
  if (config.nativeSidecar) watcher.restartPolicy = 'Always';
  const status: InjectionStatus = {
    version,
    initContainer: INIT_CONTAINER,
    sidecar: WATCHER_CONTAINER,
    sidecarMode: config.nativeSidecar ? 'native' : 'container',
    volume: SHARED_VOLUME,
    configHash,
    tunnel: config.tunnel,
  };
  return { init, watcher, volume: { name: SHARED_VOLUME, emptyDir: {} }, status, statusJson: statusAnnotationValue(status) };
}

/** Compact, key-ordered JSON so the same status always serialises to the same bytes. */
export function statusAnnotationValue(status: InjectionStatus): string {
  return JSON.stringify({
    version: status.version,
    initContainer: status.initContainer,
    sidecar: status.sidecar,
    sidecarMode: status.sidecarMode,
    volume: status.volume,
    configHash: status.configHash,
    tunnel: status.tunnel,
  });
}

export function parseStatusAnnotation(value: string | undefined): Partial<InjectionStatus> | undefined {
  if (value === undefined) return undefined;
  try {
    const v = JSON.parse(value) as unknown;
    return typeof v === 'object' && v !== null ? (v as Partial<InjectionStatus>) : undefined;
  } catch {
    return undefined;
  }
}

export { STATUS_ANNOTATION };
