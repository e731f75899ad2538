// Which ports a shadow tunnel carries: the ports the pod template's containers declare, plus
// ghostwire.dev/tunnelPorts, sorted and de-duplicated so the same workload always gives the same output.
import { type TunnelPort, isPortName } from '../config/validate.js';

export type { TunnelPort };

/** The wstunnel server's own listen port (Service port "ws"); a workload port cannot use it. */
export const WSTUNNEL_PORT = 28080;
/** WireGuard's port inside the full-mesh shadow pod (UDP, reached only through wstunnel on 127.0.0.1). */
export const WIREGUARD_PORT = 51820;

const PROTOCOL_ORDER: Record<TunnelPort['protocol'], number> = { TCP: 0, UDP: 1, SCTP: 2 };

export function comparePorts(a: TunnelPort, b: TunnelPort): number {
  return a.port - b.port || PROTOCOL_ORDER[a.protocol] - PROTOCOL_ORDER[b.protocol];
}

interface DeclaredPorts {
  name?: string;
  ports?: ReadonlyArray<{ containerPort: number; name?: string; protocol?: string }>;
  restartPolicy?: string;
}
/** The part of a pod spec (ours or the client library's) that declares ports. */
export interface PortsOfPod {
  containers?: readonly DeclaredPorts[];
  initContainers?: readonly DeclaredPorts[];
}

/**
 * Ports declared by the pod's containers and native sidecars (init containers with restartPolicy Always: they run
 * for the pod's lifetime). Ordinary init containers are skipped: they are gone before anyone could connect.
 */
export function collectContainerPorts(spec: PortsOfPod | undefined): TunnelPort[] {
  if (!spec) return [];
  const out: TunnelPort[] = [];
  const sidecars = (spec.initContainers ?? []).filter((c) => c.restartPolicy === 'Always');
  for (const c of [...(spec.containers ?? []), ...sidecars]) {
    for (const p of c.ports ?? []) {
      const protocol = (p.protocol ?? 'TCP').toUpperCase();
      if (protocol !== 'TCP' && protocol !== 'UDP' && protocol !== 'SCTP') continue;
      if (!Number.isInteger(p.containerPort) || p.containerPort < 1 || p.containerPort > 65535) continue;
      const item: TunnelPort = { port: p.containerPort, protocol };
      if (p.name) item.name = p.name;
      out.push(item);
    }
  }
  return out;
}

export interface MergedPorts {
  ports: TunnelPort[];
  errors: string[];
}

/**
 * Union of container ports and ghostwire.dev/tunnelPorts, one entry per (port, protocol), sorted by port then
 * protocol. A name given in tunnelPorts wins over the container's (the annotation is the explicit request).
 * SCTP cannot be carried by wstunnel: SCTP container ports are left out, an SCTP port asked for in tunnelPorts is
 * an error. The tunnel's own ports are reserved.
 */
export function mergeTunnelPorts(containerPorts: readonly TunnelPort[], tunnelPorts: readonly TunnelPort[], fullMesh: boolean): MergedPorts {
  const errors: string[] = [];
  const byKey = new Map<string, TunnelPort>();
  const key = (p: TunnelPort): string => `${p.port}/${p.protocol}`;
  for (const p of tunnelPorts) {
    if (p.protocol === 'SCTP') {
      errors.push(`ghostwire.dev/tunnelPorts: port ${p.port}/SCTP cannot be tunnelled (wstunnel carries TCP and UDP only)`);
      continue;
    }
    if (!byKey.has(key(p))) byKey.set(key(p), { ...p });
  }
  for (const p of containerPorts) {
    if (p.protocol === 'SCTP') continue;
    const existing = byKey.get(key(p));
    if (!existing) byKey.set(key(p), { ...p });
    else if (existing.name === undefined && p.name !== undefined) existing.name = p.name;
  }
  const ports = [...byKey.values()].sort(comparePorts);
  for (const p of ports) {
    if (p.port === WSTUNNEL_PORT && p.protocol === 'TCP') {
      errors.push(`port ${WSTUNNEL_PORT}/TCP is reserved for the shadow's wstunnel server; the workload cannot tunnel it`);
    }
    if (fullMesh && p.port === WIREGUARD_PORT && p.protocol === 'UDP') {
      errors.push(`port ${WIREGUARD_PORT}/UDP is reserved for WireGuard in full-mesh mode; the workload cannot tunnel it`);
    }
  }
  return { ports, errors };
}

/**
 * Service/container port names for the tunnelled ports: the declared name when it is a valid IANA service name and
 * still free, else "<protocol>-<port>" ("tcp-8080"). "ws" is the tunnel's own port. Deterministic over sorted input.
 */
export function portNames(ports: readonly TunnelPort[]): string[] {
  const fallback = (p: TunnelPort): string => `${p.protocol.toLowerCase()}-${p.port}`;
  // Fallback names are unique per (port, protocol); reserving them up front means a declared name can never take
  // the fallback another port needs.
  const used = new Set<string>(['ws', ...ports.map(fallback)]);
  return ports.map((p) => {
    if (p.name !== undefined && isPortName(p.name) && !used.has(p.name)) {
      used.add(p.name);
      return p.name;
    }
    return fallback(p);
  });
}
