// What changed between two DNAT maps, by Service name, for logs and Events (PURE; never whole objects).
import type { DnatMap, MapMapping } from './dnat-map.js';

export interface MapChange {
  /** "orders -> orders-preview" for pairs that appeared. */
  added: string[];
  removed: string[];
  /** Pairs whose addresses or ports changed. */
  rewritten: string[];
}

/**
 * Everything of a map that matters for the rules and for people, without its timestamp, in a fixed field order (a
 * map read back from the file and one built in memory compare equal).
 */
export function mapContentKey(map: DnatMap): string {
  const claim = (c: DnatMap['conflicts'][number]['loser']) => [c.service, c.preview, c.scheme];
  return JSON.stringify([
    map.format, map.namespace, map.dnsSuffix ?? '', map.chain, map.families,
    map.exclusions.map((e) => [e.family, e.cidr, e.source]),
    map.mappings.map((m) => [m.family, m.service, m.preview, m.scheme, m.protocol, m.port, m.portName ?? '', m.activeIP, m.previewIP]),
    map.skipped.map((k) => [k.service, k.preview ?? '', k.code, k.reason]),
    map.conflicts.map((c) => [claim(c.loser), claim(c.winner)]),
  ]);
}

function byService(map: DnatMap | undefined): Map<string, { pair: string; rules: string }> {
  const out = new Map<string, { pair: string; rules: string[] }>();
  for (const m of map?.mappings ?? []) {
    const e = out.get(m.service) ?? { pair: `${m.service} -> ${m.preview}`, rules: [] };
    e.rules.push(ruleText(m));
    out.set(m.service, e);
  }
  return new Map([...out].map(([k, v]) => [k, { pair: v.pair, rules: v.rules.sort().join(',') }]));
}

const ruleText = (m: MapMapping): string => `${m.family}/${m.protocol}/${m.activeIP}:${m.port}>${m.previewIP}`;

export function diffMaps(before: DnatMap | undefined, after: DnatMap): MapChange {
  const b = byService(before);
  const a = byService(after);
  const change: MapChange = { added: [], removed: [], rewritten: [] };
  for (const [service, now] of a) {
    const was = b.get(service);
    if (!was) change.added.push(now.pair);
    else if (was.pair !== now.pair || was.rules !== now.rules) change.rewritten.push(now.pair);
  }
  for (const [service, was] of b) if (!a.has(service)) change.removed.push(was.pair);
  return change;
}

/** "added orders -> orders-preview; removed ..." (at most `max` names per kind, then a count). */
export function describeMapChange(c: MapChange, max = 10): string {
  const part = (what: string, names: string[]): string[] =>
    names.length === 0 ? [] : [`${what} ${names.slice(0, max).join(', ')}${names.length > max ? ` and ${names.length - max} more` : ''}`];
  const parts = [...part('added', c.added), ...part('removed', c.removed), ...part('rewritten', c.rewritten)];
  return parts.length === 0 ? 'no pair changed' : parts.join('; ');
}
