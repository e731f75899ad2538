// Destinations the DNAT chain must never rewrite (PURE). They become RETURN rules ahead of every DNAT rule.
import { canonicalCidr, type Family } from '../net/address.js';
import type { Exclusion } from './iptables/rules.js';

/** Instance metadata service (AWS, GCP, Azure, ...) and its IPv6 address on EC2 Nitro. */
export const IMDS_CIDRS: Readonly<Record<Family, string>> = { 4: '169.254.169.254/32', 6: 'fd00:ec2::254/128' };

export const DEFAULT_RESOLV_CONF = '/etc/resolv.conf';

/** Nameserver addresses of a resolv.conf text (zone index of link-local IPv6 addresses dropped). */
export function resolvNameservers(text: string): string[] {
  const out: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    const m = /^nameserver\s+(\S+)$/.exec(line);
    if (!m) continue;
    const addr = (m[1] as string).split('%')[0] as string;
    if (canonicalCidr(addr) && !out.includes(addr)) out.push(addr);
  }
  return out;
}

/**
 * Exclusions per family, in rule order: IMDS, the pod's DNS servers (the cluster DNS Service IP under
 * dnsPolicy ClusterFirst), then GW_EXCLUDE_CIDRS. A CIDR listed twice keeps its first source.
 */
export function buildExclusions(input: { families: readonly Family[]; nameservers: readonly string[]; extra: readonly string[] }): Exclusion[] {
  const out: Exclusion[] = [];
  // A Set, not a scan of `out`: GW_EXCLUDE_CIDRS may list thousands (linear time).
  const seen = new Set<string>();
  const add = (raw: string, source: string): void => {
    const c = canonicalCidr(raw);
    if (!c || !input.families.includes(c.family) || seen.has(c.cidr)) return;
    seen.add(c.cidr);
    out.push({ family: c.family, cidr: c.cidr, source });
  };
  for (const f of input.families) add(IMDS_CIDRS[f], 'imds');
  for (const ns of input.nameservers) add(ns, 'dns');
  for (const cidr of input.extra) add(cidr, 'GW_EXCLUDE_CIDRS');
  return out;
}
