// IP addresses and CIDRs, parsed once for every caller (annotations, ConfigMap, GW_* variables, Services from the
// API, resolv.conf) and printed in the canonical text the kernel tools print: iptables-save shows the network
// address of a CIDR and IPv6 in glibc's inet_ntop form (lower-case, longest zero run compressed, IPv4-mapped and
// IPv4-compatible tails in dotted form). The watcher compares what it wrote with what the kernel holds, so ghostwire
// must write exactly that text. PURE.
import { isIP } from 'node:net';

export type Family = 4 | 6;

/** The family of a plain address; zone ids ("fe80::1%eth0") are refused: iptables has no syntax for them. */
export function ipFamily(addr: string): Family | undefined {
  if (addr.includes('%')) return undefined;
  const f = isIP(addr);
  return f === 4 || f === 6 ? f : undefined;
}

function v4ToBig(addr: string): bigint {
  return addr.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
}

function bigToV4(n: bigint): string {
  const out: number[] = [];
  for (let i = 3; i >= 0; i--) out.push(Number((n >> BigInt(i * 8)) & 0xffn));
  return out.join('.');
}

function v6ToBig(addr: string): bigint {
  let text = addr.toLowerCase();
  // Embedded IPv4 tail (::ffff:1.2.3.4): turn it into two hextets first.
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  if (tail.includes('.')) {
    const v4 = v4ToBig(tail);
    text = `${text.slice(0, lastColon + 1)}${((v4 >> 16n) & 0xffffn).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const [head, rest] = text.split('::') as [string, string | undefined];
  const headParts = head === '' ? [] : head.split(':');
  const restParts = rest === undefined || rest === '' ? [] : rest.split(':');
  const fill = rest === undefined ? 0 : 8 - headParts.length - restParts.length;
  const parts = [...headParts, ...Array<string>(fill).fill('0'), ...restParts];
  return parts.reduce((acc, p) => (acc << 16n) | BigInt(parseInt(p, 16)), 0n);
}

/** glibc's inet_ntop for IPv6, which iptables-save uses: RFC 5952 compression plus dotted IPv4 tails. */
function bigToV6(n: bigint): string {
  const words: number[] = [];
  for (let i = 7; i >= 0; i--) words.push(Number((n >> BigInt(i * 16)) & 0xffffn));
  // The longest run (>= 2) of zero words, the first one on a tie.
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  // IPv4-compatible (::a.b.c.d) and IPv4-mapped (::ffff:a.b.c.d) addresses keep their IPv4 tail in dotted form.
  if (best === 0 && (bestLen === 6 || (bestLen === 5 && words[5] === 0xffff))) {
    const v4 = bigToV4(n & 0xffffffffn);
    return bestLen === 6 ? `::${v4}` : `::ffff:${v4}`;
  }
  const hex = words.map((w) => w.toString(16));
  if (best === -1) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

/** Canonical text of an IP address; undefined when it is not a plain address. */
export function canonicalIP(addr: string): string | undefined {
  const text = addr.trim();
  const family = ipFamily(text);
  if (family === 4) return bigToV4(v4ToBig(text));
  if (family === 6) return bigToV6(v6ToBig(text));
  return undefined;
}

/**
 * Canonical CIDR: network address (host bits cleared, as the kernel stores it) and explicit prefix; a bare address
 * gets /32 or /128. "10.3.5.0/16" -> "10.3.0.0/16", "FD00:EC2::254" -> "fd00:ec2::254/128".
 */
export function canonicalCidr(raw: string): { cidr: string; family: Family } | undefined {
  const text = raw.trim();
  const slash = text.indexOf('/');
  const addr = slash === -1 ? text : text.slice(0, slash);
  const family = ipFamily(addr);
  if (!family) return undefined;
  const bits = family === 4 ? 32 : 128;
  let prefix = bits;
  if (slash !== -1) {
    const p = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p) || Number(p) > bits) return undefined;
    prefix = Number(p);
  }
  const value = family === 4 ? v4ToBig(addr) : v6ToBig(addr);
  const hostBits = BigInt(bits - prefix);
  const network = (value >> hostBits) << hostBits;
  return { cidr: `${family === 4 ? bigToV4(network) : bigToV6(network)}/${prefix}`, family };
}

/** Whether address `ip` lies inside `cidr` (same family). */
export function cidrContains(cidr: string, ip: string): boolean {
  const c = canonicalCidr(cidr);
  const family = ipFamily(ip);
  if (!c || c.family !== family) return false;
  const slash = c.cidr.indexOf('/');
  const bits = family === 4 ? 32 : 128;
  const shift = BigInt(bits - Number(c.cidr.slice(slash + 1)));
  const toBig = family === 4 ? v4ToBig : v6ToBig;
  return toBig(ip) >> shift === toBig(c.cidr.slice(0, slash)) >> shift;
}

/** "ip:port" for IPv4, "[ip]:port" for IPv6 (the --to-destination syntax). */
export function hostPort(ip: string, port: number): string {
  return ipFamily(ip) === 6 ? `[${ip}]:${port}` : `${ip}:${port}`;
}
