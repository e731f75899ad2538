// Primitive validators shared by annotations, the ConfigMap and the GW_* environment.
// Each returns the parsed value or a Problem describing what is allowed; callers add the field name,
// so one rule produces the same message whichever source the value came from.
import type { Protocol } from '../kube/objects.js';
import { canonicalCidr } from '../net/address.js';
import { quoteValue } from './errors.js';

export type Parsed<T> = { ok: true; value: T } | { ok: false; allowed: string };

export const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
export const bad = <T>(allowed: string): Parsed<T> => ({ ok: false, allowed });

export function parseBoolean(raw: string): Parsed<boolean> {
  const v = raw.trim().toLowerCase();
  if (v === 'true') return ok(true);
  if (v === 'false') return ok(false);
  return bad('"true" or "false"');
}

export const DURATION_PART = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
export const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * What a parametrised validator checks, as data: the admission policy generator (src/policy) turns it into CEL, so a
 * new option built from these validators reaches the policy without hand edits.
 */
export type ValidatorRule =
  | { kind: 'oneOf'; values: readonly string[]; caseInsensitive: boolean }
  | { kind: 'duration'; minMs: number; maxMs: number; allowEmpty: boolean };

/** The rule a validator made by oneOf() or durationValidator() carries; undefined for the plain parse functions. */
export function ruleOf(parse: unknown): ValidatorRule | undefined {
  return (parse as { rule?: ValidatorRule } | undefined)?.rule;
}

/** Go-style durations ("500ms", "2s", "1m30s", "15m", "1h"), returned in milliseconds. */
export function parseDurationMs(raw: string): number | undefined {
  const text = raw.trim();
  if (text === '') return undefined;
  DURATION_PART.lastIndex = 0;
  let total = 0;
  let consumed = 0;
  let m: RegExpExecArray | null;
  while ((m = DURATION_PART.exec(text)) !== null) {
    total += Number(m[1]) * (UNIT_MS[m[2] as string] as number);
    consumed = DURATION_PART.lastIndex;
  }
  if (consumed !== text.length) return undefined;
  return Math.round(total);
}

/** Inverse of parseDurationMs, canonical and round-trippable ("90000" -> "1m30s"). */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  let rest = ms;
  let out = '';
  for (const [unit, size] of [['h', 3_600_000], ['m', 60_000], ['s', 1000], ['ms', 1]] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) {
      out += `${n}${unit}`;
      rest -= n * size;
    }
  }
  return out;
}

export function durationValidator(minMs: number, maxMs: number, allowEmpty: boolean) {
  const range = `a duration such as "2s", "500ms", "1m30s" between ${formatDuration(minMs)} and ${formatDuration(maxMs)}`;
  const allowed = allowEmpty ? `empty (off) or ${range}` : range;
  const parse = (raw: string): Parsed<number> => {
    if (allowEmpty && raw.trim() === '') return ok(0);
    const ms = parseDurationMs(raw);
    if (ms === undefined || ms < minMs || ms > maxMs) return bad(allowed);
    return ok(ms);
  };
  return Object.assign(parse, { rule: { kind: 'duration', minMs, maxMs, allowEmpty } as ValidatorRule });
}

/** CIDRs (or bare addresses, as /32 or /128) in the canonical form the kernel tools print (see net/address.ts). */
export function parseCidrList(raw: string): Parsed<string[]> {
  const allowed = 'a comma-separated list of IPv4 or IPv6 CIDRs without zone ids, e.g. "169.254.169.254/32,fd00::/8"';
  if (raw.trim() === '') return ok([]);
  // A Set, not includes(): a long list must cost linear time.
  const out = new Set<string>();
  for (const part of raw.split(',')) {
    const parsed = canonicalCidr(part);
    if (!parsed) return bad(`${allowed} (${quoteValue(part.trim())} is not one)`);
    out.add(parsed.cidr);
  }
  return ok([...out]);
}

export function oneOf<T extends string>(values: readonly T[], caseInsensitive = false) {
  const allowed = values.map((v) => `"${v}"`).join(' or ');
  const parse = (raw: string): Parsed<T> => {
    const text = raw.trim();
    const hit = values.find((v) => (caseInsensitive ? v.toLowerCase() === text.toLowerCase() : v === text));
    return hit === undefined ? bad(allowed) : ok(hit);
  };
  return Object.assign(parse, { rule: { kind: 'oneOf', values, caseInsensitive } as ValidatorRule });
}

// Every Kubernetes name rule ghostwire checks lives here (names, labels, ports), so one rule has one spelling.
// Exported for the admission policy generator, which hands the same patterns to the API server's CEL (RE2).
export const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
export const LABEL_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
export const IANA_SVC_NAME = /^[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$/;

/** Namespace names, most object names: lower-case alphanumerics and "-", at most 63 characters. */
export const isDns1123Label = (s: string): boolean => s.length <= 63 && DNS1123_LABEL.test(s);
/** Service names: a DNS-1123 label that starts with a letter. */
export const isDns1035Label = (s: string): boolean => s.length <= 63 && DNS1035_LABEL.test(s);
export function isDns1123Subdomain(s: string): boolean {
  return s.length > 0 && s.length <= 253 && s.split('.').every((l) => l.length > 0 && isDns1123Label(l));
}
/** A label value: empty, or at most 63 characters of [A-Za-z0-9-_.] starting and ending alphanumeric. */
export const isLabelValue = (s: string): boolean => s === '' || (s.length <= 63 && LABEL_NAME.test(s));
/** A port name (IANA service name): at most 15 characters, at least one letter, no "--". */
export const isPortName = (s: string): boolean => IANA_SVC_NAME.test(s) && /[a-z]/.test(s) && !s.includes('--');

export function parseNamespace(raw: string): Parsed<string> {
  const text = raw.trim();
  if (text === '' || isDns1123Label(text)) return ok(text);
  return bad('empty (the pod\'s own namespace) or a DNS-1123 label: lower-case letters, digits and "-", at most 63 characters');
}

/** Kubernetes label key: optional DNS-subdomain prefix, "/", name of at most 63 characters. */
export function parseLabelKey(raw: string): Parsed<string> {
  const allowed = 'a Kubernetes label key: [prefix/]name, name at most 63 characters of [A-Za-z0-9-_.] starting and ending alphanumeric';
  const text = raw.trim();
  const slash = text.lastIndexOf('/');
  const prefix = slash === -1 ? undefined : text.slice(0, slash);
  const name = slash === -1 ? text : text.slice(slash + 1);
  if (prefix !== undefined && !isDns1123Subdomain(prefix)) return bad(allowed);
  if (name.length === 0 || name.length > 63 || !LABEL_NAME.test(name)) return bad(allowed);
  return ok(text);
}

export function parseLabelValue(raw: string): Parsed<string> {
  const text = raw.trim();
  if (text.length > 0 && text.length <= 63 && LABEL_NAME.test(text)) return ok(text);
  return bad('a non-empty Kubernetes label value: at most 63 characters of [A-Za-z0-9-_.], starting and ending alphanumeric');
}

export function parsePreviewPattern(raw: string): Parsed<string> {
  const text = raw.trim();
  const allowed = 'a Service name pattern containing "{{name}}" exactly once, otherwise only lower-case letters, digits and "-" (e.g. "{{name}}-preview")';
  const parts = text.split('{{name}}');
  if (parts.length !== 2) return bad(allowed);
  if (!parts.every((p) => /^[a-z0-9-]*$/.test(p))) return bad(allowed);
  if (text === '{{name}}') return bad(`${allowed}; "{{name}}" alone would pair every Service with itself`);
  return ok(text);
}

export const SUFFIX = /^-[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?$/;

export function parseSuffix(raw: string): Parsed<string> {
  const text = raw.trim();
  if (SUFFIX.test(text)) return ok(text);
  return bad('a Service name suffix starting with "-" followed by lower-case letters, digits and "-" (e.g. "-preview"), at most 32 characters');
}

export function parseDnsSuffix(raw: string): Parsed<string> {
  const text = raw.trim();
  if (text.startsWith('.') && isDns1123Subdomain(text.slice(1))) return ok(text);
  return bad('a DNS suffix starting with "." followed by DNS-1123 labels (e.g. ".svc.cluster.local")');
}

export const RESERVED_CHAINS: ReadonlySet<string> = new Set([
  'ACCEPT', 'DROP', 'RETURN', 'QUEUE', 'REJECT', 'DNAT', 'SNAT', 'MASQUERADE', 'REDIRECT', 'LOG', 'MARK',
  'PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING',
]);

export const CHAIN_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,27}$/;

/** iptables user chain: at most 28 characters (XT_EXTENSION_MAXNAMELEN - 1), never an option or a built-in. */
export function parseChainName(raw: string): Parsed<string> {
  const text = raw.trim();
  const allowed = 'an iptables chain name: 1 to 28 characters of [A-Za-z0-9_-], starting with a letter or digit, not a built-in chain or target';
  if (!CHAIN_NAME.test(text) || RESERVED_CHAINS.has(text.toUpperCase())) return bad(allowed);
  return ok(text);
}

export const IMAGE = /^[a-z0-9]+([._\-/:@a-zA-Z0-9]*[a-zA-Z0-9])?$/;
export const IMAGE_MAX = 512;

export function parseImage(raw: string): Parsed<string> {
  const text = raw.trim();
  // Registry host[:port]/path:tag or @digest; no whitespace, no shell metacharacters. The length is checked first:
  // the pattern backtracks in quadratic time on a long value that does not match.
  if (text.length <= IMAGE_MAX && IMAGE.test(text)) return ok(text);
  return bad('a container image reference such as "ghostwire:0.1.0" or "registry.example/ghostwire@sha256:..."');
}

export const QUANTITY = /^(\d+(?:\.\d+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/;
export const QUANTITY_SCALE: Readonly<Record<string, number>> = {
  '': 1, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
  Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4, Pi: 1024 ** 5, Ei: 1024 ** 6,
};

/** A Kubernetes resource quantity as a number (only for comparing requests with limits). */
export function quantityValue(text: string): number | undefined {
  const m = QUANTITY.exec(text.trim());
  if (!m) return undefined;
  return Number(m[1]) * (QUANTITY_SCALE[m[2] ?? ''] as number);
}

export function parseQuantity(raw: string): Parsed<string> {
  const text = raw.trim();
  if (quantityValue(text) !== undefined && quantityValue(text)! > 0) return ok(text);
  return bad('a positive Kubernetes quantity such as "10m", "0.5", "64Mi" or "1Gi"');
}

export interface TunnelPort {
  port: number;
  name?: string;
  protocol: Protocol;
}

/** "port[:name[:protocol]]" entries, comma-separated, e.g. "8080:http,5353:dns:UDP". */
export function parseTunnelPorts(raw: string): Parsed<TunnelPort[]> {
  const allowed = 'a comma-separated list of port[:name[:protocol]] with port 1-65535, name a lower-case IANA service name (at most 15 characters), protocol TCP, UDP or SCTP; e.g. "8080:http,5353:dns:UDP"';
  if (raw.trim() === '') return ok([]);
  const out: TunnelPort[] = [];
  const seen = new Set<string>();
  for (const entry of raw.split(',')) {
    const [p, name, proto, ...extra] = entry.trim().split(':');
    if (extra.length > 0 || p === undefined || !/^\d{1,5}$/.test(p)) return bad(allowed);
    const port = Number(p);
    if (port < 1 || port > 65535) return bad(allowed);
    if (name !== undefined && name !== '' && !isPortName(name)) {
      return bad(allowed);
    }
    const protocol = (proto ?? 'TCP').toUpperCase();
    if (protocol !== 'TCP' && protocol !== 'UDP' && protocol !== 'SCTP') return bad(allowed);
    const item: TunnelPort = { port, protocol };
    if (name) item.name = name;
    if (seen.has(`${port}/${protocol}`)) return bad(`${allowed} (port ${port}/${protocol} is listed twice)`);
    seen.add(`${port}/${protocol}`);
    out.push(item);
  }
  return ok(out);
}

export function parseHostname(raw: string): Parsed<string> {
  const text = raw.trim().toLowerCase();
  if (text === '' || isDns1123Subdomain(text)) return ok(text);
  return bad('a DNS name such as "tunnel.example.com" (DNS-1123 labels separated by ".")');
}

export function parseNonEmptyName(raw: string): Parsed<string> {
  const text = raw.trim();
  if (isDns1123Subdomain(text)) return ok(text);
  return bad('a DNS-1123 subdomain name (lower-case letters, digits, "-" and ".")');
}
