// Which connection-tracking entries a routing change must reset (PURE). NAT is decided on a connection's first
// packet and conntrack keeps that decision; deleting an entry makes the connection's next packet be evaluated
// under the current rules (nf_conntrack_tcp_loose picks it up again), so the application reconnects to the right
// backend. An entry is wrong when its original destination is a changed destination and its reply comes from
// anywhere but that destination's new target.
import { type Family, canonicalIP } from '../../net/address.js';
import { type Route, destinationKey } from '../routes.js';

export interface ConntrackEntry {
  family: Family;
  /** "tcp", "udp", "sctp", ... as conntrack prints it. */
  protocol: string;
  origSrc: string;
  origDst: string;
  sport: number;
  dport: number;
  replySrc: string;
}

/** One `conntrack -D` call: every entry of this destination whose reply comes from `replySrc`. */
export interface ResetFilter {
  family: Family;
  protocol: string;
  origDst: string;
  dport: number;
  replySrc: string;
  /** Entries it is expected to delete (seen in the listing). */
  entries: number;
}

const FAMILIES: Record<string, Family> = { ipv4: 4, ipv6: 6 };

/**
 * Entries of `conntrack -L -o extended` output: "ipv4 2 tcp 6 431999 ESTABLISHED src=.. dst=.. sport=.. dport=..
 * src=.. dst=.. sport=.. dport=.. [ASSURED] ...". The first src/dst/sport/dport are the original direction, the
 * second the reply. Lines that do not parse (other protocols without ports, summary lines) are skipped.
 */
export function parseConntrackList(text: string): ConntrackEntry[] {
  const out: ConntrackEntry[] = [];
  for (const line of text.split('\n')) {
    const words = line.trim().split(/\s+/);
    const family = FAMILIES[words[0] ?? ''];
    const protocol = words[2];
    if (!family || !protocol) continue;
    const seen: Record<string, string[]> = {};
    for (const w of words) {
      const eq = w.indexOf('=');
      if (eq > 0) (seen[w.slice(0, eq)] ??= []).push(w.slice(eq + 1));
    }
    const [origSrc, replySrc] = (seen.src ?? []).map((a) => canonicalIP(a));
    const origDst = canonicalIP(seen.dst?.[0] ?? '');
    const sport = Number(seen.sport?.[0]);
    const dport = Number(seen.dport?.[0]);
    if (!origSrc || !origDst || !replySrc || !Number.isInteger(sport) || !Number.isInteger(dport)) continue;
    out.push({ family, protocol, origSrc, origDst, sport, dport, replySrc });
  }
  return out;
}

/** The entries that contradict the new routes, as one filter per (destination, wrong reply source). */
export function resetFilters(entries: readonly ConntrackEntry[], changed: readonly Route[]): ResetFilter[] {
  const routes = new Map(changed.map((r) => [destinationKey(r), r]));
  const filters = new Map<string, ResetFilter>();
  for (const e of entries) {
    const protocol = e.protocol.toUpperCase();
    if (protocol !== 'TCP' && protocol !== 'UDP' && protocol !== 'SCTP') continue;
    const route = routes.get(destinationKey({ family: e.family, protocol, activeIP: e.origDst, port: e.dport }));
    if (!route || e.replySrc === route.target) continue;
    const key = `${e.family}|${e.protocol}|${e.origDst}|${e.dport}|${e.replySrc}`;
    const f = filters.get(key);
    if (f) f.entries++;
    else filters.set(key, { family: e.family, protocol: e.protocol, origDst: e.origDst, dport: e.dport, replySrc: e.replySrc, entries: 1 });
  }
  return [...filters.values()];
}

/** The fixed argument list of one `conntrack -D` (no shell; every value was parsed as an address or a number). */
export function deleteArgs(f: ResetFilter): string[] {
  return ['-D', '-f', f.family === 4 ? 'ipv4' : 'ipv6', '-p', f.protocol, '--orig-dst', f.origDst, '--dport', String(f.dport), '--reply-src', f.replySrc];
}
