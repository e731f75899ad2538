// Shadow manifests as typed objects, in apply order. No text templates: every field is built here, so a value
// cannot be half-substituted and every object can be validated before anything is sent to the API server.
//
//   plain:     NetworkPolicy (no egress: the shadow cannot be used as a forward proxy), Service, Deployment
//              (wstunnel server accepting only our upgrade-path prefix), Ingress
//   full mesh: ConfigMap <name>-wg-config (no key material), Service, Deployment (wstunnel restricted to the local
//              WireGuard port + a WireGuard container with NET_ADMIN only), Ingress
//   The WireGuard keys Secret <name>-wg-keys is not rendered: the controller creates it once (get-or-create).
import { createHash } from 'node:crypto';
import type {
  V1ConfigMap,
  V1Container,
  V1Deployment,
  V1Ingress,
  V1NetworkPolicy,
  V1OwnerReference,
  V1PodSecurityContext,
  V1ResourceRequirements,
  V1Secret,
  V1SecurityContext,
  V1Service,
} from '@kubernetes/client-node';
import { TUNNEL_ENDPOINT_ANNOTATION } from '../config/options.js';
import type { OwnerRef } from '../kube/objects.js';
import { SHADOW_APP_NAME, SHADOW_MANAGED_BY, type ShadowIdentity } from './identity.js';
import { type TunnelPort, WIREGUARD_PORT, WSTUNNEL_PORT, portNames } from './ports.js';
import { WG_PEER_ADDRESS, WG_SERVER_ADDRESS } from './remote.js';
import { validateShadowObjects } from './validate-objects.js';
import { CONFIG_MOUNT, KEYS_MOUNT, wireguardUpScript } from './wireguard-script.js';
import { type ResolvedTunnel, type ShadowInput, type TunnelMode, resolveTunnel } from './tunnel.js';

type Typed<T> = T & { apiVersion: string; kind: string; metadata: NonNullable<V1Deployment['metadata']> & { name: string; namespace: string } };
export type ShadowDeployment = Typed<V1Deployment>;
export type ShadowService = Typed<V1Service>;
export type ShadowIngress = Typed<V1Ingress>;
export type ShadowConfigMap = Typed<V1ConfigMap>;
export type ShadowNetworkPolicy = Typed<V1NetworkPolicy>;
export type ShadowSecret = Typed<V1Secret>;
export type ShadowObject = ShadowDeployment | ShadowService | ShadowIngress | ShadowConfigMap | ShadowNetworkPolicy;

export interface ShadowPlan extends ResolvedTunnel {
  objects: ShadowObject[];
  /** Stable digest of the rendered objects (recorded in the status annotation). */
  hash: string;
}

export class ShadowRenderError extends Error {
  override name = 'ShadowRenderError';
  constructor(readonly errors: string[]) {
    super(errors.join('; '));
  }
}

/** Annotation on every shadow object: the full workload name (a label value could not hold 253 characters). */
export const SHADOW_WORKLOAD_ANNOTATION = 'ghostwire.dev/shadow-of';
export const WSTUNNEL_BINARY = '/home/app/wstunnel';
export const WSTUNNEL_UID = 1000;
const NGINX_TIMEOUT_SECONDS = '3600';

export const WSTUNNEL_RESOURCES: V1ResourceRequirements = {
  requests: { cpu: '10m', memory: '16Mi' },
  limits: { cpu: '500m', memory: '128Mi' },
};
export const WIREGUARD_RESOURCES: V1ResourceRequirements = {
  requests: { cpu: '10m', memory: '16Mi' },
  limits: { cpu: '200m', memory: '64Mi' },
};

function labels(identity: ShadowIdentity, mode: TunnelMode): Record<string, string> {
  return {
    ...identity.selector,
    'app.kubernetes.io/component': mode === 'plain' ? 'wstunnel' : 'wireguard',
    'app.kubernetes.io/managed-by': SHADOW_MANAGED_BY,
  };
}

/** Metadata of every shadow object (the keys Secret too): labels, the workload annotation, the owner. */
export function shadowMetadata(identity: ShadowIdentity, mode: TunnelMode, name: string, owner: OwnerRef | undefined, annotations: Record<string, string> = {}) {
  const meta: ShadowDeployment['metadata'] = {
    name,
    namespace: identity.namespace,
    labels: labels(identity, mode),
    annotations: { [SHADOW_WORKLOAD_ANNOTATION]: identity.workloadName, ...annotations },
  };
  if (owner) meta.ownerReferences = [ownerReference(owner)];
  return meta;
}

export function ownerReference(owner: OwnerRef): V1OwnerReference {
  // blockOwnerDeletion is left unset: it would need update rights on the owner's finalizers.
  return { apiVersion: owner.apiVersion, kind: owner.kind, name: owner.name, uid: owner.uid, controller: true };
}

const RESTRICTED: V1SecurityContext = {
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  runAsNonRoot: true,
  runAsUser: WSTUNNEL_UID,
  runAsGroup: WSTUNNEL_UID,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
};

function wstunnelContainer(tunnel: ResolvedTunnel, image: string, exposed: boolean): V1Container {
  const args = [WSTUNNEL_BINARY, 'server'];
  if (tunnel.mode === 'full-mesh') args.push('--restrict-to', `127.0.0.1:${WIREGUARD_PORT}`);
  args.push('--restrict-http-upgrade-path-prefix', tunnel.prefix, `ws://[::]:${WSTUNNEL_PORT}`);
  const names = portNames(tunnel.ports);
  return {
    name: 'wstunnel',
    image,
    imagePullPolicy: 'IfNotPresent',
    // The image's entrypoint (dumb-init) stays: it forwards SIGTERM to wstunnel.
    args,
    ports: [
      { name: 'ws', containerPort: WSTUNNEL_PORT, protocol: 'TCP' },
      ...(exposed ? tunnel.ports.map((p, i) => ({ name: names[i] as string, containerPort: p.port, protocol: p.protocol })) : []),
    ],
    readinessProbe: { tcpSocket: { port: 'ws' }, periodSeconds: 5, failureThreshold: 2 },
    livenessProbe: { tcpSocket: { port: 'ws' }, initialDelaySeconds: 5, periodSeconds: 20, failureThreshold: 3 },
    resources: WSTUNNEL_RESOURCES,
    securityContext: RESTRICTED,
    volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
  };
}

function wireguardContainer(tunnel: ResolvedTunnel, image: string): V1Container {
  const names = portNames(tunnel.ports);
  return {
    name: 'wireguard',
    image,
    imagePullPolicy: 'IfNotPresent',
    command: ['/bin/sh', `${CONFIG_MOUNT}/up.sh`],
    ports: tunnel.ports.map((p, i) => ({ name: names[i] as string, containerPort: p.port, protocol: p.protocol })),
    readinessProbe: { exec: { command: ['test', '-f', '/run/wireguard/ready'] }, periodSeconds: 5, failureThreshold: 2 },
    resources: WIREGUARD_RESOURCES,
    // wg-quick and iptables need root with CAP_NET_ADMIN; nothing else is granted.
    securityContext: {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: false,
      runAsUser: 0,
      capabilities: { drop: ['ALL'], add: ['NET_ADMIN'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    volumeMounts: [
      { name: 'wg-keys', mountPath: KEYS_MOUNT, readOnly: true },
      { name: 'wg-config', mountPath: CONFIG_MOUNT, readOnly: true },
      { name: 'run', mountPath: '/run' },
      { name: 'tmp', mountPath: '/tmp' },
    ],
  };
}

function deployment(tunnel: ResolvedTunnel, network: ShadowInput['network'], owner: OwnerRef | undefined): ShadowDeployment {
  const { identity, mode } = tunnel;
  const podSecurity: V1PodSecurityContext =
    mode === 'plain'
      ? { runAsNonRoot: true, runAsUser: WSTUNNEL_UID, runAsGroup: WSTUNNEL_UID, fsGroup: WSTUNNEL_UID, seccompProfile: { type: 'RuntimeDefault' } }
      : { seccompProfile: { type: 'RuntimeDefault' } };
  if (mode === 'plain') {
    // Reverse tunnels bind the workload's ports as a non-root user; a safe, namespaced sysctl allows ports < 1024.
    if (tunnel.ports.some((p) => p.port < 1024)) podSecurity.sysctls = [{ name: 'net.ipv4.ip_unprivileged_port_start', value: '0' }];
  }
  const containers =
    mode === 'plain'
      ? [wstunnelContainer(tunnel, network.wstunnelImage, true)]
      : [wstunnelContainer(tunnel, network.wstunnelImage, false), wireguardContainer(tunnel, network.wireguardImage)];
  const volumes: NonNullable<NonNullable<V1Deployment['spec']>['template']['spec']>['volumes'] = [{ name: 'tmp', emptyDir: { medium: 'Memory', sizeLimit: '16Mi' } }];
  if (mode === 'full-mesh') {
    volumes.push(
      { name: 'wg-keys', secret: { secretName: identity.keysSecretName, defaultMode: 0o400 } },
      { name: 'wg-config', configMap: { name: identity.wgConfigName } },
      { name: 'run', emptyDir: { medium: 'Memory', sizeLimit: '16Mi' } },
    );
  }
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: shadowMetadata(identity, mode, identity.name, owner, { [TUNNEL_ENDPOINT_ANNOTATION]: identity.host }),
    spec: {
      replicas: 1,
      revisionHistoryLimit: 2,
      selector: { matchLabels: { ...identity.selector } },
      // One WireGuard server per key pair: replace, never run two side by side.
      strategy: mode === 'plain' ? { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } } : { type: 'Recreate' },
      template: {
        metadata: {
          labels: labels(identity, mode),
          // Never inject ghostwire into its own shadow, never give a shadow a shadow.
          annotations: { 'ghostwire.dev/enabled': 'false', 'ghostwire.dev/tunnel': 'false' },
        },
        spec: {
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          terminationGracePeriodSeconds: 10,
          securityContext: podSecurity,
          containers,
          volumes,
        },
      },
    },
  };
}

function service(tunnel: ResolvedTunnel, owner: OwnerRef | undefined): ShadowService {
  const { identity, mode } = tunnel;
  const names = portNames(tunnel.ports);
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: shadowMetadata(identity, mode, identity.name, owner),
    spec: {
      type: 'ClusterIP',
      selector: { ...identity.selector },
      ports: [
        { name: 'ws', port: WSTUNNEL_PORT, targetPort: WSTUNNEL_PORT, protocol: 'TCP' },
        ...tunnel.ports.map((p, i) => ({ name: names[i] as string, port: p.port, targetPort: p.port, protocol: p.protocol })),
      ],
    },
  };
}

function ingress(tunnel: ResolvedTunnel, network: ShadowInput['network'], owner: OwnerRef | undefined): ShadowIngress {
  const { identity, mode } = tunnel;
  const annotations: Record<string, string> = {};
  if (network.ingressClassName === 'nginx') {
    annotations['nginx.ingress.kubernetes.io/proxy-read-timeout'] = NGINX_TIMEOUT_SECONDS;
    annotations['nginx.ingress.kubernetes.io/proxy-send-timeout'] = NGINX_TIMEOUT_SECONDS;
    if (!network.ingressTLS) annotations['nginx.ingress.kubernetes.io/ssl-redirect'] = 'false';
  }
  if (network.ingressTLS) annotations['cert-manager.io/cluster-issuer'] = network.ingressClusterIssuer;
  const obj: ShadowIngress = {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: shadowMetadata(identity, mode, identity.name, owner, annotations),
    spec: {
      ingressClassName: network.ingressClassName,
      rules: [
        {
          host: identity.host,
          http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: identity.name, port: { name: 'ws' } } } }] },
        },
      ],
    },
  };
  if (network.ingressTLS) obj.spec!.tls = [{ hosts: [identity.host], secretName: identity.tlsSecretName }];
  return obj;
}

function networkPolicy(tunnel: ResolvedTunnel, owner: OwnerRef | undefined): ShadowNetworkPolicy {
  const { identity, mode } = tunnel;
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: shadowMetadata(identity, mode, identity.name, owner),
    // Reverse tunnels only need inbound connections; denying all egress stops anyone holding the prefix from
    // opening forward tunnels into the cluster (effective where the CNI enforces NetworkPolicy).
    spec: { podSelector: { matchLabels: { ...identity.selector } }, policyTypes: ['Egress'], egress: [] },
  };
}

function wireguardConfigMap(tunnel: ResolvedTunnel, owner: OwnerRef | undefined): ShadowConfigMap {
  const { identity, mode } = tunnel;
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: shadowMetadata(identity, mode, identity.wgConfigName, owner),
    data: {
      'interface.conf': `[Interface]\nAddress = ${WG_SERVER_ADDRESS}/24\nListenPort = ${WIREGUARD_PORT}\n`,
      'peer.conf': `AllowedIPs = ${WG_PEER_ADDRESS}/32\n`,
      'forward-ports': tunnel.ports.map((p) => `${p.protocol.toLowerCase()}/${p.port}`).join('\n') + (tunnel.ports.length ? '\n' : ''),
      'up.sh': wireguardUpScript(),
    },
  };
}

/** Digest of the rendered objects; objects are built with a fixed key order, so JSON text is canonical. */
export function objectsHash(objects: readonly ShadowObject[]): string {
  return createHash('sha256').update(JSON.stringify(objects)).digest('hex').slice(0, 16);
}

/** Resolve and render; throws ShadowRenderError listing every reason when nothing valid can be rendered. */
export function planShadow(input: ShadowInput, options: { owner?: OwnerRef } = {}): ShadowPlan {
  const resolved = resolveTunnel(input);
  if (!resolved.ok) throw new ShadowRenderError(resolved.errors);
  const tunnel = resolved.tunnel;
  const { owner } = options;
  const objects: ShadowObject[] =
    tunnel.mode === 'plain'
      ? [networkPolicy(tunnel, owner), service(tunnel, owner), deployment(tunnel, input.network, owner), ingress(tunnel, input.network, owner)]
      : [wireguardConfigMap(tunnel, owner), service(tunnel, owner), deployment(tunnel, input.network, owner), ingress(tunnel, input.network, owner)];
  const problems = validateShadowObjects(objects, tunnel.identity);
  if (problems.length > 0) throw new ShadowRenderError(problems);
  return { ...tunnel, objects, hash: objectsHash(objects) };
}


