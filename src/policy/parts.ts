// What the policy injects, taken from inject/render.ts itself: renderParts() runs on a probe config whose string
// options are sentinels, and the output becomes a template whose leaves are constants or option values. Every
// GW_* variable is mapped by its name in the option table, every boolean option that changes the output becomes a
// condition. A use of an option the template cannot express (a sentinel inside a longer string, say) stops the
// generator, and test/unit/policy-parts.test.ts checks the template against renderParts() for varied configs. PURE.
import { type InjectConfig, OPTION_LIST, builtinConfig } from '../config/options.js';
import { type DesiredParts, renderParts } from '../inject/render.js';

export type Tmpl =
  | { t: 'const'; value: unknown }
  | { t: 'opt'; key: string }
  | { t: 'id' }
  | { t: 'concat'; parts: Tmpl[] }
  | { t: 'obj'; fields: Array<[string, Tmpl]> }
  | { t: 'list'; items: Tmpl[] }
  | { t: 'cond'; key: string; then: Tmpl; else: Tmpl };

export interface PartTemplates {
  init: Tmpl;
  watcher: Tmpl;
  volume: Tmpl;
  status: Tmpl;
}

// Marks survive JSON.stringify unescaped (the status annotation is JSON), unlike control characters.
const ID = '\u27e6id\u27e7';
const sentinel = (key: string) => `\u27e6opt:${key}\u27e7`;
const SENTINEL_RE = /\u27e6(?:opt:([A-Za-z]+)|id)\u27e7/g;

/** Options the policy never renders with another value (a policy-injected workload has no tunnel). */
export const FIXED: Readonly<Partial<InjectConfig>> = { tunnel: false };

const ENV_KEY = new Map(OPTION_LIST.filter((o) => o.env).map((o) => [o.env as string, o.key]));

function probe(version: string, flags: Record<string, boolean>): DesiredParts {
  const config = builtinConfig() as unknown as Record<string, unknown>;
  for (const o of OPTION_LIST) if (typeof o.default === 'string') config[o.field] = sentinel(o.key);
  for (const [key, value] of Object.entries(flags)) config[(OPTION_LIST.find((o) => o.key === key) as { field: string }).field] = value;
  Object.assign(config, FIXED);
  return renderParts(config as unknown as InjectConfig, ID, version);
}

/** A string: a constant, an option's value, the identity, or a concatenation of those. */
function stringTmpl(s: string, path: string): Tmpl {
  const parts: Tmpl[] = [];
  let at = 0;
  for (const m of s.matchAll(SENTINEL_RE)) {
    if (m.index > at) parts.push({ t: 'const', value: s.slice(at, m.index) });
    parts.push(m[1] ? { t: 'opt', key: m[1] } : { t: 'id' });
    at = m.index + m[0].length;
  }
  if (at < s.length) parts.push({ t: 'const', value: s.slice(at) });
  if (parts.some((p) => p.t === 'const' && String(p.value).includes('\u27e6'))) {
    throw new Error(`${path}: a probe value reached the rendered parts in a form the policy generator does not know`);
  }
  return parts.length === 1 ? (parts[0] as Tmpl) : parts.length === 0 ? { t: 'const', value: '' } : { t: 'concat', parts };
}

function toTmpl(value: unknown, path: string): Tmpl {
  if (typeof value === 'string') return stringTmpl(value, path);
  if (Array.isArray(value)) return { t: 'list', items: value.map((v, i) => toTmpl(v, `${path}[${i}]`)) };
  if (value !== null && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    // A GW_* variable of the option table carries that option's value, whatever its type.
    if (typeof obj.name === 'string' && 'value' in obj && ENV_KEY.has(obj.name)) {
      return { t: 'obj', fields: [['name', { t: 'const', value: obj.name }], ['value', { t: 'opt', key: ENV_KEY.get(obj.name) as string }]] };
    }
    return { t: 'obj', fields: Object.entries(obj).map(([k, v]) => [k, toTmpl(v, `${path}.${k}`)]) };
  }
  return { t: 'const', value };
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** Boolean options that change the rendered parts (nativeSidecar today): each becomes a condition. */
function structuralBooleans(version: string): string[] {
  return OPTION_LIST.filter((o) => typeof o.default === 'boolean' && !(o.field in FIXED))
    .filter((o) => !same(probe(version, { [o.key]: true }), probe(version, { [o.key]: false })))
    .map((o) => o.key);
}

function branch(version: string, keys: readonly string[], flags: Record<string, boolean>, pick: (p: DesiredParts) => unknown, path: string): Tmpl {
  if (keys.length === 0) return toTmpl(pick(probe(version, flags)), path);
  const [key, ...rest] = keys as [string, ...string[]];
  const on = branch(version, rest, { ...flags, [key]: true }, pick, path);
  const off = branch(version, rest, { ...flags, [key]: false }, pick, path);
  return same(on, off) ? on : { t: 'cond', key, then: on, else: off };
}

/** `version` is written into the status annotation, as the webhook writes its own. */
export function partTemplates(version: string): PartTemplates {
  const keys = structuralBooleans(version);
  const part = (pick: (p: DesiredParts) => unknown, path: string) => branch(version, keys, {}, pick, path);
  return { init: part((p) => p.init, 'init'), watcher: part((p) => p.watcher, 'watcher'), volume: part((p) => p.volume, 'volume'), status: part((p) => p.statusJson, 'status') };
}

/** The template with option values filled in (TypeScript twin of the CEL, for tests). */
export function instantiate(t: Tmpl, value: (key: string) => string, id: string): unknown {
  switch (t.t) {
    case 'const':
      return t.value;
    case 'opt':
      return value(t.key);
    case 'id':
      return id;
    case 'concat':
      return t.parts.map((p) => instantiate(p, value, id)).join('');
    case 'obj':
      return Object.fromEntries(t.fields.map(([k, v]) => [k, instantiate(v, value, id)]));
    case 'list':
      return t.items.map((i) => instantiate(i, value, id));
    case 'cond':
      return instantiate(value(t.key) === 'true' ? t.then : t.else, value, id);
  }
}
