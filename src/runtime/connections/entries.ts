// Which connection-tracking entries a routing change must reset (PURE). NAT is decided on a connection's first
// packet and conntrack keeps that decision; deleting an entry makes the connection's next packet be evaluated
// under the current rules (nf_conntrack_tcp_loose picks it up again), so the application reconnects to the right
// backend. A TCP connection is closed at the socket first (sockets.ts): its old backend then gets a reset too,
// instead of keeping a half-open socket that a later connection reusing the same ports would run into.
// Two kinds of entry are wrong for a destination whose current target is T:
//
//   forward  original destination = the destination, and the reply comes from anywhere but T (not rewritten while
//            it should be, rewritten to an old preview, or rewritten while it should not be);
//   reverse  original SOURCE = the active address and port, i.e. an entry the kernel picked up from a packet of the
//            server's side (the server's answer was on the wire when the forward entry was deleted). The client's
//            packets then match its reply direction and are never rewritten again. Only wrong while T is a
//            preview address: with T the active address nothing is rewritten either way.
import { type Family, canonicalIP } from '../../net/address.js';
import { type Reroute, type Route, destinationKey } from '../routes.js';

export interface ConntrackEntry {
  family: Family;
  /** "tcp", "udp", "sctp", ... as conntrack prints it. */
  protocol: string;
  origSrc: string;
  origDst: string;
  sport: number;
  dport: number;
  replySrc: string;
  /** A TCP connection that is over (TIME_WAIT, CLOSE): nothing flows on it any more. */
  finished?: boolean;
}

const FINISHED = new Set(['TIME_WAIT', 'CLOSE']);

/** One `conntrack -D` call, and how many listed entries it is expected to delete. */
export type ResetFilter =
  | { kind: 'forward'; family: Family; protocol: string; origDst: string; dport: number; replySrc: string; entries: number }
  | { kind: 'reverse'; family: Family; protocol: string; origSrc: string; sport: number; entries: number };

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
    const entry: ConntrackEntry = { family, protocol, origSrc, origDst, sport, dport, replySrc };
    if (protocol === 'tcp' && FINISHED.has(words[5] ?? '')) entry.finished = true;
    out.push(entry);
  }
  return out;
}

const PROTOCOLS = new Set(['TCP', 'UDP', 'SCTP']);

/** The entries that contradict the routes, as one filter per (destination, wrong reply source) or per reverse flow. */
export function resetFilters(entries: readonly ConntrackEntry[], routes: readonly Route[]): ResetFilter[] {
  const byDestination = new Map(routes.map((r) => [destinationKey(r), r]));
  const filters = new Map<string, ResetFilter>();
  const add = (key: string, make: () => ResetFilter): void => {
    const f = filters.get(key);
    if (f) f.entries++;
    else filters.set(key, make());
  };
  for (const e of entries) {
    const protocol = e.protocol.toUpperCase();
    if (!PROTOCOLS.has(protocol) || e.finished) continue;
    const route = byDestination.get(destinationKey({ family: e.family, protocol: protocol as Route['protocol'], activeIP: e.origDst, port: e.dport }));
    if (route && e.replySrc !== route.target) {
      add(`f|${e.family}|${e.protocol}|${e.origDst}|${e.dport}|${e.replySrc}`, () => ({ kind: 'forward', family: e.family, protocol: e.protocol, origDst: e.origDst, dport: e.dport, replySrc: e.replySrc, entries: 1 }));
      continue;
    }
    const served = byDestination.get(destinationKey({ family: e.family, protocol: protocol as Route['protocol'], activeIP: e.origSrc, port: e.sport }));
    if (served && served.target !== served.activeIP) {
      add(`r|${e.family}|${e.protocol}|${e.origSrc}|${e.sport}`, () => ({ kind: 'reverse', family: e.family, protocol: e.protocol, origSrc: e.origSrc, sport: e.sport, entries: 1 }));
    }
  }
  return [...filters.values()];
}

/**
 * The application's TCP sockets to close: those connected to a destination (the address and port the application
 * dialled), or, with `src`, the one socket of that local address and port.
 */
export interface SocketTuple {
  family: Family;
  dst: string;
  dport: number;
  src?: string;
  sport?: number;
}

/** The pod's own TCP connections (not finished) whose forward entry contradicts the routes. */
export function wrongSockets(entries: readonly ConntrackEntry[], routes: readonly Route[]): SocketTuple[] {
  const byDestination = new Map(routes.map((r) => [destinationKey(r), r]));
  const out: SocketTuple[] = [];
  for (const e of entries) {
    if (e.protocol !== 'tcp' || e.finished) continue;
    const route = byDestination.get(destinationKey({ family: e.family, protocol: 'TCP', activeIP: e.origDst, port: e.dport }));
    if (route && e.replySrc !== route.target) out.push({ family: e.family, src: e.origSrc, sport: e.sport, dst: e.origDst, dport: e.dport });
  }
  return out;
}

/**
 * Every TCP socket connected to a rerouted destination, without looking at the table: right after the rules changed,
 * all of them were opened under the old routing (but for one opened in the milliseconds since, which reconnects).
 */
export function rerouteSockets(rerouted: readonly Reroute[]): SocketTuple[] {
  const out = new Map<string, SocketTuple>();
  for (const r of rerouted) if (r.protocol === 'TCP') out.set(`${r.family}|${r.activeIP}|${r.port}`, { family: r.family, dst: r.activeIP, dport: r.port });
  return [...out.values()];
}

/**
 * Filters for what a change certainly made wrong, without looking at the table, for protocols whose servers keep no
 * connection (UDP): flows still going where a rerouted destination went before, and reverse entries of destinations
 * now rewritten. TCP sockets are closed instead (rerouteSockets); a listing pass then catches the rest.
 */
export function rerouteFilters(rerouted: readonly Reroute[]): ResetFilter[] {
  const out = new Map<string, ResetFilter>();
  for (const r of rerouted) {
    if (r.protocol !== 'UDP') continue;
    const protocol = r.protocol.toLowerCase();
    out.set(`f|${r.family}|${protocol}|${r.activeIP}|${r.port}|${r.from}`, { kind: 'forward', family: r.family, protocol, origDst: r.activeIP, dport: r.port, replySrc: r.from, entries: 0 });
    if (r.target !== r.activeIP) out.set(`r|${r.family}|${protocol}|${r.activeIP}|${r.port}`, { kind: 'reverse', family: r.family, protocol, origSrc: r.activeIP, sport: r.port, entries: 0 });
  }
  return [...out.values()];
}

/** The fixed argument list of one `conntrack -D` (no shell; every value was parsed as an address or a number). */
export function deleteArgs(f: ResetFilter): string[] {
  const head = ['-D', '-f', f.family === 4 ? 'ipv4' : 'ipv6', '-p', f.protocol];
  return f.kind === 'forward'
    ? [...head, '--orig-dst', f.origDst, '--dport', String(f.dport), '--reply-src', f.replySrc]
    : [...head, '--orig-src', f.origSrc, '--sport', String(f.sport)];
}
