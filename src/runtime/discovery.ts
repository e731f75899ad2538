// Pairing of active Services with their preview twins (PURE: Service objects in, mappings + reasons out).
//
// Two naming schemes find candidate pairs ("claims"):
//   pattern  Service `{{name}}` -> the Service named by GW_SVC_PREVIEW_PATTERN (default `{{name}}-preview`)
//   suffix   `<base>GW_ACTIVE_SUFFIX` -> `<base>GW_PREVIEW_SUFFIX` (default `<base>-active` -> `<base>-preview`)
// A Service whose name has a preview form (it matches the pattern with a non-empty {{name}}, or ends with the preview
// suffix) is never the active side of a claim, so the pairing is one level deep: `orders-preview` is not paired with
// `orders-preview-preview`.
//
// Each claim is then checked per IP family and per port: both Services need a ClusterIP (headless and ExternalName
// Services are skipped), the same family (a dual-stack Service pairs per family: its IPv4 address with the twin's
// IPv4 address, its IPv6 address with the twin's IPv6 address), different addresses, and the same port number and
// protocol. A claim that yields no mapping is skipped with its reason; it takes part in no conflict.
//
// DETERMINISTIC WINNER RULE. The DNAT rule is keyed by the active address, and one preview Service should have one
// active Service, so an active Service may win at most one claim and a preview Service may be won at most once.
// Viable claims are ordered by
//   1. scheme: suffix claims before pattern claims (`orders-active` + `orders-preview` name both roles explicitly,
//      whereas the pattern is inferred from any Service name),
//   2. active Service name, then preview Service name, in code-point order (locale-independent);
// and accepted in that order unless their active or preview Service was already taken by an earlier claim. Every
// rejected claim is reported as a conflict naming the winner, which init logs at warn level.
import type { ServiceObject } from '../k8s/lite/objects.js';
import { isDns1035Label } from '../config/validate.js';
import type { Protocol } from '../kube/objects.js';
import { canonicalIP, ipFamily, type Family } from '../net/address.js';

export type PairScheme = 'suffix' | 'pattern';

/** The subset of a core/v1 Service that pairing reads (the shape the in-pod API client returns). */
export type ServiceLike = ServiceObject;

export interface Mapping {
  family: Family;
  /** Active Service (the one clients call). */
  service: string;
  /** Preview Service the traffic is rewritten to. */
  preview: string;
  scheme: PairScheme;
  protocol: Protocol;
  port: number;
  /** Port name on the active Service, for people only. */
  portName?: string;
  activeIP: string;
  previewIP: string;
}

export type SkipCode =
  | 'invalid-name'
  | 'headless'
  | 'no-cluster-ip'
  | 'invalid-cluster-ip'
  | 'family-mismatch'
  | 'identical-ip'
  | 'ipv6-disabled'
  | 'port-unmatched'
  | 'no-common-port'
  | 'duplicate-destination';

export interface Skip {
  service: string;
  preview?: string;
  code: SkipCode;
  /** True when the claim still produced other mappings (only this family or port is left on active). */
  partial: boolean;
  reason: string;
}

export interface Claim {
  service: string;
  preview: string;
  scheme: PairScheme;
}

export interface Conflict {
  loser: Claim;
  winner: Claim;
  reason: string;
}

export interface PairingOptions {
  previewPattern: string;
  activeSuffix: string;
  previewSuffix: string;
  /** When false, IPv6 mappings are not produced (reported as ipv6-disabled). */
  ipv6: boolean;
}

export interface PairingResult {
  /** Accepted pairs in winner order. */
  pairs: Claim[];
  /** Sorted by service, family, protocol, port. */
  mappings: Mapping[];
  skipped: Skip[];
  conflicts: Conflict[];
}

interface ServiceInfo {
  name: string;
  type: string;
  headless: boolean;
  /** First address of each family from clusterIPs (or clusterIP). */
  ips: Partial<Record<Family, string>>;
  invalidIPs: string[];
  ports: Array<{ port: number; protocol: Protocol; name?: string }>;
}

const isServiceName = isDns1035Label;

/** Code-point comparison: the same order on every machine and locale. */
export const byCodePoint = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

const SCHEME_RANK: Record<PairScheme, number> = { suffix: 0, pattern: 1 };

export function compareClaims(a: Claim, b: Claim): number {
  return SCHEME_RANK[a.scheme] - SCHEME_RANK[b.scheme] || byCodePoint(a.service, b.service) || byCodePoint(a.preview, b.preview);
}

function normalise(svc: ServiceLike): ServiceInfo | { invalidName: string } {
  const name = svc.metadata?.name ?? '';
  if (!isServiceName(name)) return { invalidName: name };
  const spec = svc.spec ?? {};
  const type = spec.type ?? 'ClusterIP';
  const raw = spec.clusterIPs && spec.clusterIPs.length > 0 ? spec.clusterIPs : spec.clusterIP ? [spec.clusterIP] : [];
  const headless = raw.some((ip) => ip === 'None');
  const ips: Partial<Record<Family, string>> = {};
  const invalidIPs: string[] = [];
  if (!headless) {
    for (const ip of raw) {
      const family = ipFamily(ip);
      if (!family) {
        invalidIPs.push(ip);
        continue;
      }
      if (ips[family] === undefined) ips[family] = canonicalIP(ip) as string;
    }
  }
  const ports: ServiceInfo['ports'] = [];
  for (const p of spec.ports ?? []) {
    const port = p.port;
    const protocol = (p.protocol ?? 'TCP').toUpperCase();
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) continue;
    if (protocol !== 'TCP' && protocol !== 'UDP' && protocol !== 'SCTP') continue;
    if (ports.some((q) => q.port === port && q.protocol === protocol)) continue;
    const entry: ServiceInfo['ports'][number] = { port, protocol };
    if (p.name) entry.name = p.name;
    ports.push(entry);
  }
  return { name, type, headless, ips, invalidIPs, ports };
}

/** Whether `name` is the preview form of some (possibly absent) Service under either scheme. */
export function isPreviewName(name: string, opts: Pick<PairingOptions, 'previewPattern' | 'previewSuffix'>): boolean {
  const [prefix, suffix] = opts.previewPattern.split('{{name}}') as [string, string];
  const byPattern = name.length > prefix.length + suffix.length && name.startsWith(prefix) && name.endsWith(suffix);
  const bySuffix = name.length > opts.previewSuffix.length && name.endsWith(opts.previewSuffix);
  return byPattern || bySuffix;
}

const FAMILY_NAME: Record<Family, string> = { 4: 'IPv4', 6: 'IPv6' };

function familiesText(info: ServiceInfo): string {
  const fams = ([4, 6] as Family[]).filter((f) => info.ips[f] !== undefined).map((f) => FAMILY_NAME[f]);
  return fams.length === 0 ? 'none' : fams.join('+');
}

function noClusterIP(info: ServiceInfo): { code: SkipCode; text: string } | undefined {
  if (info.headless) return { code: 'headless', text: `${info.name} is headless (clusterIP: None)` };
  if (info.invalidIPs.length > 0 && info.ips[4] === undefined && info.ips[6] === undefined) {
    const ip = info.invalidIPs[0] as string;
    // A zone id ("fe80::1%eth0") has no iptables syntax: such an address can never be matched, only skipped.
    const why = ip.includes('%') ? 'a ClusterIP with an IPv6 zone id, which iptables cannot match,' : 'an unparseable ClusterIP';
    return { code: 'invalid-cluster-ip', text: `${info.name} has ${why} ${JSON.stringify(ip.slice(0, 64))}` };
  }
  if (info.ips[4] === undefined && info.ips[6] === undefined) {
    return { code: 'no-cluster-ip', text: `${info.name} has no ClusterIP (type ${info.type})` };
  }
  return undefined;
}

/** Mappings of one claim, or the reasons it yields none. */
function mapClaim(claim: Claim, active: ServiceInfo, preview: ServiceInfo, opts: PairingOptions): { mappings: Mapping[]; skips: Skip[] } {
  const skips: Skip[] = [];
  const base = { service: claim.service, preview: claim.preview };
  const whole = (code: SkipCode, reason: string) => ({ mappings: [], skips: [{ ...base, code, partial: false, reason }] });
  const missing = noClusterIP(active) ?? noClusterIP(preview);
  if (missing) return whole(missing.code, missing.text);
  const common = ([4, 6] as Family[]).filter((f) => active.ips[f] !== undefined && preview.ips[f] !== undefined);
  if (common.length === 0) {
    return whole('family-mismatch', `mismatched IP families: ${active.name} has ${familiesText(active)}, ${preview.name} has ${familiesText(preview)}`);
  }
  for (const f of [4, 6] as Family[]) {
    if ((active.ips[f] === undefined) !== (preview.ips[f] === undefined)) {
      const [has, lacks] = active.ips[f] !== undefined ? [active, preview] : [preview, active];
      skips.push({ ...base, code: 'family-mismatch', partial: true, reason: `${has.name} has an ${FAMILY_NAME[f]} ClusterIP but ${lacks.name} has none; ${FAMILY_NAME[f]} stays on active` });
    }
  }
  const usable: Family[] = [];
  for (const f of common) {
    const a = active.ips[f] as string;
    const p = preview.ips[f] as string;
    if (a === p) {
      skips.push({ ...base, code: 'identical-ip', partial: true, reason: `${active.name} and ${preview.name} share the ${FAMILY_NAME[f]} ClusterIP ${a}` });
    } else if (f === 6 && !opts.ipv6) {
      skips.push({ ...base, code: 'ipv6-disabled', partial: true, reason: `IPv6 pairing ${a} -> ${p} not programmed (GW_IPV6=false)` });
    } else {
      usable.push(f);
    }
  }
  if (usable.length === 0) return { mappings: [], skips: skips.map((s) => ({ ...s, partial: false })) };
  const matched = active.ports.filter((port) => preview.ports.some((q) => q.port === port.port && q.protocol === port.protocol));
  if (matched.length === 0) {
    return whole('no-common-port', `${active.name} and ${preview.name} have no port in common (number and protocol)`);
  }
  for (const port of active.ports) {
    if (!matched.includes(port)) {
      skips.push({ ...base, code: 'port-unmatched', partial: true, reason: `port ${port.port}/${port.protocol} of ${active.name} has no counterpart on ${preview.name}; it stays on active` });
    }
  }
  const mappings: Mapping[] = [];
  for (const f of usable) {
    for (const port of matched) {
      const m: Mapping = { family: f, ...base, scheme: claim.scheme, protocol: port.protocol, port: port.port, activeIP: active.ips[f] as string, previewIP: preview.ips[f] as string };
      if (port.name) m.portName = port.name;
      mappings.push(m);
    }
  }
  return { mappings, skips };
}

const compareMappings = (a: Mapping, b: Mapping): number =>
  byCodePoint(a.service, b.service) || a.family - b.family || byCodePoint(a.protocol, b.protocol) || a.port - b.port;

export function pairServices(services: readonly ServiceLike[], opts: PairingOptions): PairingResult {
  const skipped: Skip[] = [];
  const byName = new Map<string, ServiceInfo>();
  for (const svc of services) {
    const info = normalise(svc);
    if ('invalidName' in info) {
      skipped.push({ service: info.invalidName, code: 'invalid-name', partial: false, reason: `Service name ${JSON.stringify(info.invalidName)} is not a DNS-1035 label` });
      continue;
    }
    if (!byName.has(info.name)) byName.set(info.name, info);
  }
  const names = [...byName.keys()].sort(byCodePoint);
  const [pPrefix, pSuffix] = opts.previewPattern.split('{{name}}') as [string, string];

  // 1. Claims by name.
  const claims: Claim[] = [];
  for (const name of names) {
    if (isPreviewName(name, opts)) continue;
    const byPattern = `${pPrefix}${name}${pSuffix}`;
    if (byPattern !== name && byName.has(byPattern)) claims.push({ service: name, preview: byPattern, scheme: 'pattern' });
    if (name.length > opts.activeSuffix.length && name.endsWith(opts.activeSuffix)) {
      const bySuffix = name.slice(0, -opts.activeSuffix.length) + opts.previewSuffix;
      if (bySuffix !== name && byName.has(bySuffix)) claims.push({ service: name, preview: bySuffix, scheme: 'suffix' });
    }
  }
  claims.sort(compareClaims);

  // 2. Viability, then 3. the winner rule (see the header comment).
  const pairs: Claim[] = [];
  const conflicts: Conflict[] = [];
  const mappings: Mapping[] = [];
  const activeTaken = new Map<string, Claim>();
  const previewTaken = new Map<string, Claim>();
  const destinations = new Map<string, Mapping>();
  for (const claim of claims) {
    const result = mapClaim(claim, byName.get(claim.service) as ServiceInfo, byName.get(claim.preview) as ServiceInfo, opts);
    if (result.mappings.length === 0) {
      skipped.push(...result.skips);
      continue;
    }
    const winner = activeTaken.get(claim.service) ?? previewTaken.get(claim.preview);
    if (winner) {
      const what = activeTaken.get(claim.service) === winner
        ? `active Service ${claim.service} is already paired with ${winner.preview} (${winner.scheme} scheme)`
        : `preview Service ${claim.preview} is already claimed by ${winner.service} (${winner.scheme} scheme)`;
      conflicts.push({ loser: claim, winner, reason: `${claim.service} -> ${claim.preview} (${claim.scheme} scheme) lost: ${what}` });
      continue;
    }
    activeTaken.set(claim.service, claim);
    previewTaken.set(claim.preview, claim);
    pairs.push(claim);
    skipped.push(...result.skips);
    for (const m of result.mappings) {
      const key = `${m.family}|${m.activeIP}|${m.protocol}|${m.port}`;
      const prior = destinations.get(key);
      if (prior) {
        skipped.push({ service: m.service, preview: m.preview, code: 'duplicate-destination', partial: true, reason: `${m.activeIP} port ${m.port}/${m.protocol} is already rewritten for ${prior.service}` });
        continue;
      }
      destinations.set(key, m);
      mappings.push(m);
    }
  }
  mappings.sort(compareMappings);
  return { pairs, mappings, skipped, conflicts };
}
