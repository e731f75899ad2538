// /shared/dnat.map: the record of what init programmed, for people and for the watcher.
//
// Format (version 1): comment lines starting with "#" (a header and an aligned table of every exclusion, DNAT rule,
// skipped pair and conflict loser), followed by ONE JSON document, which is the machine-readable record. A reader
// drops the "#" lines and parses the rest as JSON. The watcher rebuilds the chain from the JSON alone, so the file
// is validated field by field before any value reaches an iptables argument (the volume is shared with other
// containers of the pod).
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, rename, unlink } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { isDns1035Label, parseChainName, parseDnsSuffix } from '../config/validate.js';
import { canonicalCidr, canonicalIP, hostPort, ipFamily, type Family } from '../net/address.js';
import type { DnatRule, Exclusion, ChainSpec } from './iptables/rules.js';
import type { Claim, PairScheme, SkipCode } from './discovery.js';

export const MAP_FORMAT = 'ghostwire.dev/dnat-map/v1';

export interface MapMapping extends DnatRule {
  scheme: PairScheme;
  portName?: string;
}

export interface MapSkip {
  service: string;
  preview?: string;
  code: SkipCode | string;
  reason: string;
}

export interface MapConflict {
  loser: Claim;
  winner: Claim;
}

export interface DnatMap {
  format: typeof MAP_FORMAT;
  generatedAt: string;
  namespace: string;
  /** GW_DNS_SUFFIX: Service names in the map resolve as <name>.<namespace><dnsSuffix>. */
  dnsSuffix?: string;
  chain: string;
  /** Families whose chain was programmed (4, and 6 when GW_IPV6=true). */
  families: Family[];
  exclusions: Exclusion[];
  mappings: MapMapping[];
  skipped: MapSkip[];
  conflicts: MapConflict[];
}

/** The chain content of one family, exactly as init programs it and the watcher rebuilds it. */
export function chainSpecs(map: DnatMap): ChainSpec[] {
  return map.families.map((family) => ({
    chain: map.chain,
    family,
    exclusions: map.exclusions.filter((e) => e.family === family),
    rules: map.mappings
      .filter((m) => m.family === family)
      .map((m) => ({ family: m.family, service: m.service, preview: m.preview, protocol: m.protocol, port: m.port, activeIP: m.activeIP, previewIP: m.previewIP })),
  }));
}

function table(rows: string[][]): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) => `# ${r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] as number))).join('  ')}`.trimEnd());
}

/** Render the map file. Deterministic for a given map (generatedAt is part of the map). */
export function formatDnatMap(map: DnatMap): string {
  const fam = (f: Family): string => `IPv${f}`;
  const lines: string[] = [
    `# ghostwire DNAT map (${MAP_FORMAT}): written by "ghostwire init", read back by "ghostwire watch". Do not edit.`,
    `# namespace ${map.namespace}, chain ${map.chain}, families ${map.families.map(fam).join('+')}, generated ${map.generatedAt}`,
    ...(map.dnsSuffix ? [`# Service names below resolve as <name>.${map.namespace}${map.dnsSuffix}`] : []),
    `# ${map.exclusions.length} exclusions, ${map.mappings.length} DNAT rules, ${map.skipped.length} skipped, ${map.conflicts.length} conflicts`,
    '#',
  ];
  const rows: string[][] = [['KIND', 'FAMILY', 'MATCH', '', 'TARGET', 'WHY']];
  for (const e of map.exclusions) rows.push(['exclude', fam(e.family), e.cidr, '', 'RETURN', e.source]);
  for (const m of map.mappings) {
    rows.push(['dnat', fam(m.family), `${hostPort(m.activeIP, m.port)}/${m.protocol}`, '->', hostPort(m.previewIP, m.port), `${m.service} -> ${m.preview} (${m.scheme})`]);
  }
  lines.push(...table(rows));
  if (map.skipped.length > 0 || map.conflicts.length > 0) {
    lines.push('#');
    for (const s of map.skipped) lines.push(`# skipped  ${s.service}${s.preview ? ` -> ${s.preview}` : ''}: ${s.reason}`);
    for (const c of map.conflicts) {
      lines.push(`# conflict ${c.loser.service} -> ${c.loser.preview} (${c.loser.scheme}) lost to ${c.winner.service} -> ${c.winner.preview} (${c.winner.scheme})`);
    }
  }
  lines.push('#', '# Machine-readable record (JSON; everything above is comment):');
  // Fixed key order, so equal maps always render to equal bytes.
  const mapping = (m: MapMapping): object => ({
    family: m.family, service: m.service, preview: m.preview, scheme: m.scheme, protocol: m.protocol, port: m.port,
    ...(m.portName !== undefined ? { portName: m.portName } : {}), activeIP: m.activeIP, previewIP: m.previewIP,
  });
  const skip = (s: MapSkip): object => ({ service: s.service, ...(s.preview !== undefined ? { preview: s.preview } : {}), code: s.code, reason: s.reason });
  const claim = (c: Claim): object => ({ service: c.service, preview: c.preview, scheme: c.scheme });
  // One entry per line: diffable, greppable, still plain JSON.
  const arr = (items: readonly unknown[]): string =>
    items.length === 0 ? '[]' : `[\n${items.map((i) => `    ${JSON.stringify(i)}`).join(',\n')}\n  ]`;
  const body = [
    `  "format": ${JSON.stringify(map.format)}`,
    `  "generatedAt": ${JSON.stringify(map.generatedAt)}`,
    `  "namespace": ${JSON.stringify(map.namespace)}`,
    ...(map.dnsSuffix !== undefined ? [`  "dnsSuffix": ${JSON.stringify(map.dnsSuffix)}`] : []),
    `  "chain": ${JSON.stringify(map.chain)}`,
    `  "families": ${JSON.stringify(map.families)}`,
    `  "exclusions": ${arr(map.exclusions.map((e) => ({ family: e.family, cidr: e.cidr, source: e.source })))}`,
    `  "mappings": ${arr(map.mappings.map(mapping))}`,
    `  "skipped": ${arr(map.skipped.map(skip))}`,
    `  "conflicts": ${arr(map.conflicts.map((c) => ({ loser: claim(c.loser), winner: claim(c.winner) })))}`,
  ];
  lines.push(`{\n${body.join(',\n')}\n}`);
  return `${lines.join('\n')}\n`;
}

export class DnatMapError extends Error {}

/** Field readers of an untrusted JSON record: each returns the checked value or throws naming the field. */
class FieldReader {
  constructor(private readonly source: string) {}
  fail(field: string, why: string): never {
    throw new DnatMapError(`${this.source}: ${field} ${why}`);
  }
  str(v: unknown, field: string): string {
    return typeof v === 'string' ? v : this.fail(field, 'must be a string');
  }
  list(v: unknown, field: string): unknown[] {
    return Array.isArray(v) ? v : this.fail(field, 'must be a list');
  }
  obj(v: unknown, field: string): Record<string, unknown> {
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : this.fail(field, 'must be an object');
  }
  family(v: unknown, field: string): Family {
    return v === 4 || v === 6 ? v : this.fail(field, 'must be 4 or 6');
  }
  name(v: unknown, field: string): string {
    const s = this.str(v, field);
    return isDns1035Label(s) ? s : this.fail(field, `${JSON.stringify(s)} is not a DNS-1035 Service name`);
  }
  ip(v: unknown, f: Family, field: string): string {
    const s = this.str(v, field);
    const c = canonicalIP(s);
    if (c === undefined || c !== s || ipFamily(s) !== f) this.fail(field, `${JSON.stringify(s)} is not a canonical IPv${f} address`);
    return s;
  }
  scheme(v: unknown, field: string): PairScheme {
    return v === 'pattern' || v === 'suffix' ? v : this.fail(field, 'must be "pattern" or "suffix"');
  }
  claim(v: unknown, field: string): Claim {
    const c = this.obj(v, field);
    return { service: this.str(c.service, `${field}.service`), preview: this.str(c.preview, `${field}.preview`), scheme: this.scheme(c.scheme, `${field}.scheme`) };
  }
}

function readExclusion(r: FieldReader, raw: unknown, at: string): Exclusion {
  const e = r.obj(raw, at);
  const f = r.family(e.family, `${at}.family`);
  const cidr = r.str(e.cidr, `${at}.cidr`);
  const c = canonicalCidr(cidr);
  if (!c || c.cidr !== cidr || c.family !== f) r.fail(`${at}.cidr`, `${JSON.stringify(cidr)} is not a canonical IPv${f} CIDR`);
  const source = r.str(e.source, `${at}.source`);
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(source)) r.fail(`${at}.source`, 'must be a short word');
  return { family: f, cidr, source };
}

function readMapping(r: FieldReader, raw: unknown, at: string): MapMapping {
  const m = r.obj(raw, at);
  const f = r.family(m.family, `${at}.family`);
  const out: MapMapping = {
    family: f,
    service: r.name(m.service, `${at}.service`),
    preview: r.name(m.preview, `${at}.preview`),
    protocol: m.protocol === 'TCP' || m.protocol === 'UDP' || m.protocol === 'SCTP' ? m.protocol : r.fail(`${at}.protocol`, 'must be TCP, UDP or SCTP'),
    port: typeof m.port === 'number' && Number.isInteger(m.port) && m.port >= 1 && m.port <= 65535 ? m.port : r.fail(`${at}.port`, 'must be 1-65535'),
    activeIP: r.ip(m.activeIP, f, `${at}.activeIP`),
    previewIP: r.ip(m.previewIP, f, `${at}.previewIP`),
    scheme: r.scheme(m.scheme, `${at}.scheme`),
  };
  if (m.portName !== undefined) out.portName = r.str(m.portName, `${at}.portName`);
  return out;
}

function readSkip(r: FieldReader, raw: unknown, at: string): MapSkip {
  const s = r.obj(raw, at);
  const out: MapSkip = { service: r.str(s.service, `${at}.service`), code: r.str(s.code, `${at}.code`), reason: r.str(s.reason, `${at}.reason`) };
  if (s.preview !== undefined) out.preview = r.str(s.preview, `${at}.preview`);
  return out;
}

/** Parse and validate a map file's text; `source` names the file in errors. */
export function parseDnatMap(text: string, source = 'dnat map'): DnatMap {
  const json = text.split('\n').filter((l) => !l.trimStart().startsWith('#')).join('\n');
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch (err) {
    throw new DnatMapError(`${source}: not a ghostwire DNAT map (JSON record unreadable: ${(err as Error).message})`);
  }
  const r = new FieldReader(source);
  const d = r.obj(doc, '(document)');
  if (d.format !== MAP_FORMAT) r.fail('format', `is ${JSON.stringify(d.format)}, expected ${JSON.stringify(MAP_FORMAT)}`);
  const chainRes = parseChainName(r.str(d.chain, 'chain'));
  const chain = chainRes.ok ? chainRes.value : r.fail('chain', `is not a valid chain name (${chainRes.allowed})`);
  const families = r.list(d.families, 'families').map((f, i) => r.family(f, `families[${i}]`));
  if (families.length === 0 || new Set(families).size !== families.length) r.fail('families', 'must list 4 and/or 6 once each');
  const exclusions = r.list(d.exclusions, 'exclusions').map((raw, i) => readExclusion(r, raw, `exclusions[${i}]`));
  const mappings = r.list(d.mappings, 'mappings').map((raw, i) => readMapping(r, raw, `mappings[${i}]`));
  for (const e of exclusions) if (!families.includes(e.family)) r.fail('exclusions', `hold IPv${e.family} but families do not`);
  for (const m of mappings) if (!families.includes(m.family)) r.fail('mappings', `hold IPv${m.family} but families do not`);
  const out: DnatMap = {
    format: MAP_FORMAT,
    generatedAt: r.str(d.generatedAt, 'generatedAt'),
    namespace: r.str(d.namespace, 'namespace'),
    chain,
    families,
    exclusions,
    mappings,
    skipped: r.list(d.skipped ?? [], 'skipped').map((raw, i) => readSkip(r, raw, `skipped[${i}]`)),
    conflicts: r.list(d.conflicts ?? [], 'conflicts').map((raw, i): MapConflict => {
      const c = r.obj(raw, `conflicts[${i}]`);
      return { loser: r.claim(c.loser, `conflicts[${i}].loser`), winner: r.claim(c.winner, `conflicts[${i}].winner`) };
    }),
  };
  if (d.dnsSuffix !== undefined) {
    const ds = parseDnsSuffix(r.str(d.dnsSuffix, 'dnsSuffix'));
    out.dnsSuffix = ds.ok ? ds.value : r.fail('dnsSuffix', `is not a DNS suffix (${ds.allowed})`);
  }
  return out;
}

/** Write `text` to `path` atomically: a temporary file in the same directory, fsync, mode 0644, rename. */
export async function writeFileAtomic(path: string, text: string, mode = 0o644): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  let renamed = false;
  try {
    const fh = await open(tmp, 'wx', mode);
    try {
      await fh.writeFile(text, 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await chmod(tmp, mode); // the umask may have narrowed it
    await rename(tmp, path);
    renamed = true;
  } finally {
    if (!renamed) await unlink(tmp).catch(() => undefined);
  }
}
