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
import { isDns1035Label, isDns1123Label, isDns1123Subdomain } from '../config/validate.js';
import { SHADOW_APP_NAME, SHADOW_MANAGED_BY, type ShadowIdentity } from './identity.js';
import { type TunnelPort, WIREGUARD_PORT, WSTUNNEL_PORT, portNames } from './ports.js';
import { WG_KEY_FILES, WG_PEER_ADDRESS, WG_SERVER_ADDRESS } from './remote.js';
import { type ResolvedTunnel, type ShadowInput, type TunnelMode, resolveTunnel } from './tunnel.js';

/** The workload that owns the shadow (controller): its objects are garbage-collected with it. */
export interface ShadowOwner {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
}

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
const KEYS_MOUNT = '/etc/ghostwire/wg-keys';
const CONFIG_MOUNT = '/etc/ghostwire/wg-config';
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

function metadata(identity: ShadowIdentity, mode: TunnelMode, name: string, owner: ShadowOwner | undefined, annotations: Record<string, string> = {}) {
  const meta: ShadowDeployment['metadata'] = {
    name,
    namespace: identity.namespace,
    labels: labels(identity, mode),
    annotations: { [SHADOW_WORKLOAD_ANNOTATION]: identity.workloadName, ...annotations },
  };
  if (owner) meta.ownerReferences = [ownerReference(owner)];
  return meta;
}

export function ownerReference(owner: ShadowOwner): V1OwnerReference {
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

function deployment(tunnel: ResolvedTunnel, network: ShadowInput['network'], owner: ShadowOwner | undefined): ShadowDeployment {
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
    metadata: metadata(identity, mode, identity.name, owner, { [TUNNEL_ENDPOINT_ANNOTATION]: identity.host }),
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

function service(tunnel: ResolvedTunnel, owner: ShadowOwner | undefined): ShadowService {
  const { identity, mode } = tunnel;
  const names = portNames(tunnel.ports);
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: metadata(identity, mode, identity.name, owner),
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

function ingress(tunnel: ResolvedTunnel, network: ShadowInput['network'], owner: ShadowOwner | undefined): ShadowIngress {
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
    metadata: metadata(identity, mode, identity.name, owner, annotations),
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

function networkPolicy(tunnel: ResolvedTunnel, owner: ShadowOwner | undefined): ShadowNetworkPolicy {
  const { identity, mode } = tunnel;
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: metadata(identity, mode, identity.name, owner),
    // Reverse tunnels only need inbound connections; denying all egress stops anyone holding the prefix from
    // opening forward tunnels into the cluster (effective where the CNI enforces NetworkPolicy).
    spec: { podSelector: { matchLabels: { ...identity.selector } }, policyTypes: ['Egress'], egress: [] },
  };
}

/** The WireGuard container's start script: builds wg0.conf from this ConfigMap and the mounted Secret. */
function wireguardUpScript(): string {
  return [
    '#!/bin/sh',
    '# Builds wg0.conf from the non-secret parts in this ConfigMap and the keys Secret mounted read-only, brings',
    "# WireGuard up and forwards the shadow's ports to the remote peer. Runs with CAP_NET_ADMIN only.",
    '# Idempotent: a restarted container finds the pod\'s interface, rules and /run (an emptyDir) as it left them.',
    'set -eu',
    'umask 077',
    `cfg=${CONFIG_MOUNT}`,
    `keys=${KEYS_MOUNT}`,
    'mkdir -p /run/wireguard',
    'rm -f /run/wireguard/ready',
    'conf=/run/wireguard/wg0.conf',
    '{',
    '  cat "$cfg/interface.conf"',
    `  printf 'PrivateKey = %s\\n\\n[Peer]\\n' "$(cat "$keys/${WG_KEY_FILES.serverPrivate}")"`,
    `  printf 'PublicKey = %s\\n' "$(cat "$keys/${WG_KEY_FILES.clientPublic}")"`,
    '  cat "$cfg/peer.conf"',
    '} >"$conf"',
    'if [ "$(cat /proc/sys/net/ipv4/ip_forward)" != 1 ]; then',
    '  echo "ghostwire: net.ipv4.ip_forward is 0 in this pod; full-mesh forwarding cannot work" >&2',
    '  exit 1',
    'fi',
    'ip link del wg0 2>/dev/null || true',
    'wg-quick up "$conf"',
    'for c in GW_SHADOW_PRE GW_SHADOW_POST; do iptables -t nat -N "$c" 2>/dev/null || iptables -t nat -F "$c"; done',
    'iptables -t nat -C PREROUTING -j GW_SHADOW_PRE 2>/dev/null || iptables -t nat -A PREROUTING -j GW_SHADOW_PRE',
    'iptables -t nat -C POSTROUTING -j GW_SHADOW_POST 2>/dev/null || iptables -t nat -A POSTROUTING -j GW_SHADOW_POST',
    'for p in $(cat "$cfg/forward-ports"); do',
    `  iptables -t nat -A GW_SHADOW_PRE ! -i wg0 -p "\${p%%/*}" --dport "\${p##*/}" -j DNAT --to-destination ${WG_PEER_ADDRESS}`,
    'done',
    'iptables -t nat -A GW_SHADOW_POST -o wg0 -j MASQUERADE',
    `iptables -t nat -A GW_SHADOW_POST -s ${WG_PEER_ADDRESS}/32 ! -o wg0 -j MASQUERADE`,
    'touch /run/wireguard/ready',
    'trap \'rm -f /run/wireguard/ready; wg-quick down "$conf"; exit 0\' TERM INT',
    'while :; do sleep 3600 & wait $!; done',
    '',
  ].join('\n');
}

function wireguardConfigMap(tunnel: ResolvedTunnel, owner: ShadowOwner | undefined): ShadowConfigMap {
  const { identity, mode } = tunnel;
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: metadata(identity, mode, identity.wgConfigName, owner),
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
export function planShadow(input: ShadowInput, options: { owner?: ShadowOwner } = {}): ShadowPlan {
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

/** The shadow objects of `input`, ordered for apply. Throws ShadowRenderError. */
export function renderShadow(input: ShadowInput, options: { owner?: ShadowOwner } = {}): ShadowObject[] {
  return planShadow(input, options).objects;
}

/** The keys Secret (full mesh): built by the controller from freshly generated keys, created once. */
export function wireGuardKeysSecret(
  identity: ShadowIdentity,
  keys: { serverPrivate: string; serverPublic: string; clientPrivate: string; clientPublic: string },
  owner: ShadowOwner | undefined,
): ShadowSecret {
  const meta = metadata(identity, 'full-mesh', identity.keysSecretName, owner);
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: meta,
    type: 'Opaque',
    data: {
      [WG_KEY_FILES.serverPrivate]: b64(keys.serverPrivate),
      [WG_KEY_FILES.serverPublic]: b64(keys.serverPublic),
      [WG_KEY_FILES.clientPrivate]: b64(keys.clientPrivate),
      [WG_KEY_FILES.clientPublic]: b64(keys.clientPublic),
    },
  };
}

const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');

export interface ShadowRef {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
}

/** Every object a shadow of this identity can own, in delete order (both modes, the keys Secret last). */
export function shadowObjectRefs(identity: ShadowIdentity): ShadowRef[] {
  const ns = identity.namespace;
  return [
    { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', namespace: ns, name: identity.name },
    { apiVersion: 'apps/v1', kind: 'Deployment', namespace: ns, name: identity.name },
    { apiVersion: 'v1', kind: 'Service', namespace: ns, name: identity.name },
    { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', namespace: ns, name: identity.name },
    { apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, name: identity.wgConfigName },
    { apiVersion: 'v1', kind: 'Secret', namespace: ns, name: identity.keysSecretName },
  ];
}

export const refOf = (o: { apiVersion: string; kind: string; metadata: { name: string; namespace: string } }): ShadowRef => ({
  apiVersion: o.apiVersion,
  kind: o.kind,
  namespace: o.metadata.namespace,
  name: o.metadata.name,
});

export const refKey = (r: ShadowRef): string => `${r.kind}/${r.namespace}/${r.name}`;

const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** Structural checks before anything is applied; an empty list means the objects are valid. */
export function validateShadowObjects(objects: readonly ShadowObject[], identity: ShadowIdentity): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const o of objects) {
    const where = `${o.kind} ${o.metadata.namespace}/${o.metadata.name}`;
    if (seen.has(refKey(refOf(o)))) out.push(`${where}: rendered twice`);
    seen.add(refKey(refOf(o)));
    const nameOk = o.kind === 'Service' ? isDns1035Label(o.metadata.name) : isDns1123Label(o.metadata.name);
    if (!nameOk) out.push(`${where}: name is not a ${o.kind === 'Service' ? 'DNS-1035' : 'DNS-1123'} label of at most 63 characters`);
    if (o.metadata.namespace !== identity.namespace) out.push(`${where}: namespace differs from the workload's (${identity.namespace})`);
    for (const [k, v] of Object.entries(o.metadata.labels ?? {})) {
      if (v.length > 63 || !LABEL_VALUE.test(v)) out.push(`${where}: label ${k}=${JSON.stringify(v)} is not a valid label value`);
    }
    if (o.kind === 'Ingress') {
      const spec = (o as ShadowIngress).spec;
      const hosts = (spec?.rules ?? []).map((r) => r.host);
      if (hosts.length !== 1 || hosts[0] !== identity.host) out.push(`${where}: rule host must be exactly ${identity.host}`);
      for (const t of spec?.tls ?? []) {
        if (JSON.stringify(t.hosts) !== JSON.stringify([identity.host])) out.push(`${where}: TLS hosts must be exactly [${identity.host}]`);
        if (t.secretName !== identity.tlsSecretName) out.push(`${where}: TLS secret must be ${identity.tlsSecretName}`);
      }
      if (!isDns1123Subdomain(identity.host)) out.push(`${where}: host ${identity.host} is not a DNS name`);
    }
    if (o.kind === 'Service') {
      const names = new Set<string>();
      const numbers = new Set<string>();
      for (const p of (o as ShadowService).spec?.ports ?? []) {
        if (!p.name || names.has(p.name)) out.push(`${where}: port name ${JSON.stringify(p.name)} missing or duplicated`);
        names.add(p.name ?? '');
        const key = `${p.port}/${p.protocol}`;
        if (numbers.has(key)) out.push(`${where}: port ${key} listed twice`);
        numbers.add(key);
        if (!Number.isInteger(p.port) || p.port < 1 || p.port > 65535) out.push(`${where}: port ${p.port} out of range`);
      }
    }
    if (o.kind === 'Deployment') {
      const spec = (o as ShadowDeployment).spec;
      const selector = spec?.selector.matchLabels ?? {};
      const podLabels = spec?.template.metadata?.labels ?? {};
      if (Object.entries(selector).some(([k, v]) => podLabels[k] !== v)) out.push(`${where}: selector does not match the pod labels`);
      for (const c of spec?.template.spec?.containers ?? []) {
        if (!c.resources?.requests || !c.resources.limits) out.push(`${where}: container ${c.name} has no resource requests/limits`);
        if (c.securityContext?.allowPrivilegeEscalation !== false) out.push(`${where}: container ${c.name} allows privilege escalation`);
        const drop = c.securityContext?.capabilities?.drop ?? [];
        if (!drop.includes('ALL')) out.push(`${where}: container ${c.name} does not drop ALL capabilities`);
      }
    }
  }
  return out;
}
