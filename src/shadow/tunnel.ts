// The shared first step of the webhook annotations and the shadow manifests: from one input, one identity, one
// port list, one upgrade-path prefix. Both consumers call resolveTunnel(), so they cannot disagree.
import type { NetworkConfig } from '../config/defaults.js';
import type { InjectConfig } from '../config/options.js';
import { type ShadowIdentity, ShadowIdentityError, shadowIdentity } from './identity.js';
import { type TunnelPort, mergeTunnelPorts } from './ports.js';
import { upgradePathPrefix } from './tunnel-key.js';

export interface ShadowInput {
  /** metadata.name of the workload (Deployment, StatefulSet, DaemonSet, Pod...). */
  workloadName: string;
  namespace: string;
  /** Effective per-workload config (tunnel, tunnelPorts, fullMesh, tunnelTimeoutMs...). */
  config: InjectConfig;
  /** The defaults document's `network` block. */
  network: NetworkConfig;
  /** Ports declared by the pod template's containers (see collectContainerPorts). */
  containerPorts: TunnelPort[];
  /** Signing key for the upgrade-path prefix (see tunnel-key.ts). */
  tunnelKey: string;
}

export type TunnelMode = 'plain' | 'full-mesh';

/** Workload kinds that can have a tunnel: the kinds whose shadows the controller keeps. */
export const TUNNEL_KINDS = ['Deployment', 'StatefulSet', 'DaemonSet'] as const;
export type TunnelKind = (typeof TUNNEL_KINDS)[number];
export const isTunnelKind = (kind: string): kind is TunnelKind => (TUNNEL_KINDS as readonly string[]).includes(kind);

export interface ResolvedTunnel {
  identity: ShadowIdentity;
  mode: TunnelMode;
  /** Tunnelled ports, sorted by port then protocol, one per (port, protocol). */
  ports: TunnelPort[];
  /** wstunnel --http-upgrade-path-prefix / --restrict-http-upgrade-path-prefix value. */
  prefix: string;
}

export type TunnelResolution = { ok: true; tunnel: ResolvedTunnel } | { ok: false; errors: string[] };

export function tunnelMode(config: Pick<InjectConfig, 'fullMesh'>): TunnelMode {
  return config.fullMesh ? 'full-mesh' : 'plain';
}

/** Everything that decides whether a tunnel can be rendered; every problem is reported, not just the first. */
export function resolveTunnel(input: ShadowInput): TunnelResolution {
  const errors: string[] = [];
  let identity: ShadowIdentity | undefined;
  try {
    identity = shadowIdentity(input.workloadName, input.namespace, input.network);
  } catch (err) {
    if (!(err instanceof ShadowIdentityError)) throw err;
    errors.push(err.message);
  }
  const mode = tunnelMode(input.config);
  const merged = mergeTunnelPorts(input.containerPorts, input.config.tunnelPorts, mode === 'full-mesh');
  errors.push(...merged.errors);
  if (mode === 'plain' && merged.ports.length === 0) {
    errors.push('no port to tunnel: declare containerPort(s) on the pod template or list them in ghostwire.dev/tunnelPorts (or use ghostwire.dev/fullMesh)');
  }
  if (input.tunnelKey.length === 0) errors.push('the tunnel signing key is empty');
  if (errors.length > 0 || identity === undefined) return { ok: false, errors };
  const prefix = upgradePathPrefix(input.tunnelKey, input.namespace, input.workloadName);
  return { ok: true, tunnel: { identity, mode, ports: merged.ports, prefix } };
}
