// Address helpers for the rule builder (pure). iptables-save prints addresses and CIDRs in canonical form
// (network address, lower-case compressed IPv6), so the watcher can only compare what it wrote with what the
// kernel holds if ghostwire writes the same canonical text in the first place.
import { isIP } from 'node:net';

export type Family = 4 | 6;

export function ipFamily(addr: string): Family | undefined {
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

function bigToV6(n: bigint): string {
  const parts: number[] = [];
  for (let i = 7; i >= 0; i--) parts.push(Number((n >> BigInt(i * 16)) & 0xffffn));
  // RFC 5952: compress the longest run (>= 2) of zero hextets, the first one on a tie.
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (parts[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && parts[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = parts.map((p) => p.toString(16));
  if (best === -1) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

/** Canonical text of an IP address (IPv6 lower-case, compressed per RFC 5952); undefined when not an address. */
export function canonicalIP(addr: string): string | undefined {
  const family = ipFamily(addr.trim());
  if (family === 4) return bigToV4(v4ToBig(addr.trim()));
  if (family === 6) return bigToV6(v6ToBig(addr.trim()));
  return undefined;
}

/**
 * Canonical CIDR: network address (host bits cleared, as the kernel stores it) and explicit prefix.
 * "10.3.5.0/16" -> "10.3.0.0/16", "FD00:EC2::254" -> "fd00:ec2::254/128".
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

/** Whether address `ip` lies inside canonical `cidr` of the same family. */
export function cidrContains(cidr: string, ip: string): boolean {
  const c = canonicalCidr(cidr);
  const family = ipFamily(ip);
  if (!c || c.family !== family) return false;
  const bits = family === 4 ? 32 : 128;
  const prefix = Number(c.cidr.slice(c.cidr.indexOf('/') + 1));
  const shift = BigInt(bits - prefix);
  const net = family === 4 ? v4ToBig(c.cidr.slice(0, c.cidr.indexOf('/'))) : v6ToBig(c.cidr.slice(0, c.cidr.indexOf('/')));
  const val = family === 4 ? v4ToBig(ip) : v6ToBig(ip);
  return val >> shift === net >> shift;
}

/** "ip:port" for IPv4, "[ip]:port" for IPv6 (the --to-destination syntax). */
export function hostPort(ip: string, port: number): string {
  return ipFamily(ip) === 6 ? `[${ip}]:${port}` : `${ip}:${port}`;
}
