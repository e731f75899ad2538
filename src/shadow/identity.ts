// The one identity of a shadow tunnel. Every consumer (manifests, Ingress host, TLS hosts, client command, pre-exec
// script, status annotation, controller create/wait/cleanup/delete, docs, tests) calls shadowIdentity(); nothing
// else builds these names.
//
// Rules (docs/shadow-tunnel.md, "Identity"):
// - Resources live in the workload's own namespace, which is used as is (never altered, never truncated), so owner
//   references work and garbage collection removes the shadow with its workload.
// - Resource base name: "shadow-<workload>". The "shadow-" prefix keeps every name a DNS-1035 label (Service names
//   must start with a letter, workload names may start with a digit) and keeps the shadow Deployment from taking the
//   workload's own name. The base name is at most 53 characters, so every suffix we add ("-tls", "-wg-keys",
//   "-wg-config") still fits 63.
// - Endpoint host: "<workload>-<namespace>.<wildcardDNS>". The first label is used verbatim when that is
//   unambiguous and valid; otherwise it is shortened deterministically and ends with "--" + 10 hex digits of a
//   SHA-256 of the real (workload, namespace). Verbatim labels never end that way, so the two forms cannot collide.
import { createHash } from 'node:crypto';
import type { NetworkConfig } from '../config/defaults.js';
import { isDns1123Label, isDns1123Subdomain } from '../config/validate.js';

export const SHADOW_NAME_PREFIX = 'shadow-';
/** Suffixes appended to the base name; the longest one decides the base name budget. */
export const SHADOW_SUFFIXES = { tls: '-tls', keys: '-wg-keys', wgConfig: '-wg-config' } as const;
const LONGEST_SUFFIX = Math.max(...Object.values(SHADOW_SUFFIXES).map((s) => s.length));
export const MAX_BASE_NAME = 63 - LONGEST_SUFFIX; // 53
const MAX_WORKLOAD_PART = MAX_BASE_NAME - SHADOW_NAME_PREFIX.length; // 46
export const HASH_HEX = 10;
const HASHED_TAIL = new RegExp(`--[0-9a-f]{${HASH_HEX}}$`);

/** Labels every shadow object carries; `selector` is the immutable subset used by the Deployment and Service. */
export const SHADOW_APP_NAME = 'ghostwire-shadow';
export const SHADOW_MANAGED_BY = 'ghostwire';

export interface ShadowIdentity {
  /** The workload as given (metadata.name of the Deployment, StatefulSet, DaemonSet, Pod...). */
  workloadName: string;
  /** Namespace of the workload and of every shadow object. */
  namespace: string;
  /** Base resource name (Deployment, Service, Ingress, NetworkPolicy): DNS-1035 label, at most 53 characters. */
  name: string;
  /** cert-manager's certificate Secret for the Ingress (TLS on). */
  tlsSecretName: string;
  /** WireGuard key material (full mesh): created once by the controller, never rendered. */
  keysSecretName: string;
  /** Non-secret WireGuard configuration (full mesh). */
  wgConfigName: string;
  /** First DNS label of the endpoint (at most 63 characters). */
  hostLabel: string;
  /** The endpoint: Ingress host, TLS host, client command host, pre-exec host, status annotation host. */
  host: string;
  /** Whether the names had to be shortened/sanitised (they then carry a hash). */
  hashedName: boolean;
  hashedHost: boolean;
  /** Selector labels (immutable across modes). */
  selector: Record<string, string>;
}

export class ShadowIdentityError extends Error {
  override name = 'ShadowIdentityError';
}

function digest(...parts: string[]): string {
  const h = createHash('sha256');
  // NUL cannot occur in a Kubernetes name, so the framing is unambiguous.
  h.update(parts.join('\u0000'), 'utf8');
  return h.digest('hex').slice(0, HASH_HEX);
}

/** Lower-case, anything outside [a-z0-9-] becomes "-", runs of "-" collapse, no "-" at either end. */
function sanitize(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-+|-+$/g, '');
}

function cut(text: string, max: number): string {
  return text.slice(0, Math.max(0, max)).replace(/-+$/g, '');
}

/** "xn--" style labels (hyphens in positions 3 and 4) are reserved for IDNA; public CAs refuse other uses. */
const idnaReserved = (label: string): boolean => label.slice(2, 4) === '--';

function baseName(workloadName: string): { name: string; hashed: boolean } {
  if (isDns1123Label(workloadName) && workloadName.length <= MAX_WORKLOAD_PART && !HASHED_TAIL.test(workloadName)) {
    return { name: SHADOW_NAME_PREFIX + workloadName, hashed: false };
  }
  const readable = cut(sanitize(workloadName), MAX_WORKLOAD_PART - 2 - HASH_HEX) || 'x';
  return { name: `${SHADOW_NAME_PREFIX}${readable}--${digest(workloadName)}`, hashed: true };
}

function hostLabel(workloadName: string, namespace: string): { label: string; hashed: boolean } {
  const verbatim = `${workloadName}-${namespace}`;
  // Verbatim only when the split back into (workload, namespace) is unique: the namespace has no "-". Otherwise
  // ("a-b" in "c" vs "a" in "b-c") two workloads would share an endpoint.
  if (
    isDns1123Label(workloadName) &&
    !namespace.includes('-') &&
    verbatim.length <= 63 &&
    !idnaReserved(verbatim)
  ) {
    return { label: verbatim, hashed: false };
  }
  const budget = 63 - 2 - HASH_HEX; // readable part before "--<hash>"
  const w = sanitize(workloadName) || 'x';
  const wBudget = budget - 1 - namespace.length;
  // Keep the namespace whole whenever it fits; only namespaces longer than 49 characters are cut in the host.
  const readable = wBudget >= 1 ? `${cut(w, wBudget)}-${namespace}` : cut(`${w}-${namespace}`, budget);
  return { label: `${readable}--${digest(workloadName, namespace)}`, hashed: true };
}

/**
 * The shadow identity of a workload. Throws ShadowIdentityError when no valid identity exists (empty workload name,
 * a namespace that is not a DNS-1123 label, an empty or invalid wildcardDNS, a host over 253 characters).
 */
export function shadowIdentity(workloadName: string, namespace: string, network: Pick<NetworkConfig, 'wildcardDNS'>): ShadowIdentity {
  if (workloadName.length === 0) throw new ShadowIdentityError('the workload name is empty');
  if (!isDns1123Label(namespace)) {
    throw new ShadowIdentityError(`namespace ${JSON.stringify(namespace)} is not a DNS-1123 label`);
  }
  const wildcard = network.wildcardDNS.trim().toLowerCase().replace(/\.$/, '');
  if (wildcard === '') {
    throw new ShadowIdentityError('network.wildcardDNS is empty: the tunnel endpoint is <workload>-<namespace>.<wildcardDNS>');
  }
  if (!isDns1123Subdomain(wildcard)) {
    throw new ShadowIdentityError(`network.wildcardDNS ${JSON.stringify(network.wildcardDNS)} is not a DNS name`);
  }
  const base = baseName(workloadName);
  const label = hostLabel(workloadName, namespace);
  const host = `${label.label}.${wildcard}`;
  if (host.length > 253) throw new ShadowIdentityError(`endpoint host ${host} is longer than 253 characters`);
  return {
    workloadName,
    namespace,
    name: base.name,
    tlsSecretName: base.name + SHADOW_SUFFIXES.tls,
    keysSecretName: base.name + SHADOW_SUFFIXES.keys,
    wgConfigName: base.name + SHADOW_SUFFIXES.wgConfig,
    hostLabel: label.label,
    host,
    hashedName: base.hashed,
    hashedHost: label.hashed,
    selector: { 'app.kubernetes.io/name': SHADOW_APP_NAME, 'app.kubernetes.io/instance': base.name },
  };
}

/** The URL the remote client dials: wss on 443 when the Ingress has TLS, ws on 80 otherwise. */
export function tunnelUrl(identity: Pick<ShadowIdentity, 'host'>, network: Pick<NetworkConfig, 'ingressTLS'>): string {
  return network.ingressTLS ? `wss://${identity.host}:443` : `ws://${identity.host}:80`;
}
