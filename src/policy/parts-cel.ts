// The part templates (parts.ts) in CEL: as values for the JSON patch, and as "covers" checks that tell whether an
// existing container, volume or annotation already is what ghostwire would write. The check mirrors
// inject/template.ts covers(): fields the API server adds (defaults) do not count, an absent field equals our empty
// string, resource quantities compare by value ("0.5" is stored as "500m"), and lists of named objects (env,
// volumeMounts, ports) may hold entries of others (the ServiceAccount token mount). PURE.
import { type Fresh, bindBool, jsonLiteral, str, strList } from './cel.js';
import type { Tmpl } from './parts.js';

/** How option values and the identity are spelled in CEL; `shared` names subtrees built once (by their JSON). */
export interface Leaves {
  option: (key: string) => string;
  id: string;
  shared?: ReadonlyMap<string, string>;
}

/** CEL: the template's value. */
export function tmplCel(t: Tmpl, leaves: Leaves): string {
  const shared = leaves.shared?.get(JSON.stringify(t));
  if (shared !== undefined) return shared;
  switch (t.t) {
    case 'const':
      return jsonLiteral(t.value);
    case 'opt':
      return leaves.option(t.key);
    case 'id':
      return leaves.id;
    case 'concat':
      return `(${t.parts.map((p) => tmplCel(p, leaves)).join(' + ')})`;
    case 'obj':
      return `{${t.fields.map(([k, v]) => `${str(k)}: dyn(${tmplCel(v, leaves)})`).join(', ')}}`;
    case 'list':
      return `[${t.items.map((i) => `dyn(${tmplCel(i, leaves)})`).join(', ')}]`;
    case 'cond':
      return `(${leaves.option(t.key)} == 'true' ? ${tmplCel(t.then, leaves)} : ${tmplCel(t.else, leaves)})`;
  }
}

const RESERVED = new Set(['in', 'as', 'break', 'const', 'continue', 'else', 'false', 'for', 'function', 'if', 'import', 'let', 'loop', 'package', 'namespace', 'null', 'return', 'true', 'var', 'void', 'while']);

function field(k: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k) || RESERVED.has(k)) throw new Error(`field ${JSON.stringify(k)} cannot be selected in CEL`);
  return k;
}

const isString = (t: Tmpl): boolean => t.t === 'opt' || t.t === 'id' || t.t === 'concat' || (t.t === 'const' && typeof t.value === 'string');

function nameOf(t: Tmpl): string {
  const name = t.t === 'obj' ? t.fields.find(([k]) => k === 'name')?.[1] : undefined;
  if (name?.t !== 'const' || typeof name.value !== 'string') throw new Error('lists of objects in the injected parts need a constant name on every item');
  return name.value;
}

/** CEL bool: `a.k` covers template `t` (a field of the object `a`). */
function fieldCovers(a: string, k: string, t: Tmpl, quantities: boolean, leaves: Leaves, f: Fresh): string {
  const x = `${a}.${field(k)}`;
  if (t.t === 'cond') return `(${leaves.option(t.key)} == 'true' ? ${fieldCovers(a, k, t.then, quantities, leaves, f)} : ${fieldCovers(a, k, t.else, quantities, leaves, f)})`;
  if (isString(t)) {
    const d = tmplCel(t, leaves);
    const equal = quantities ? `quantity(${x}).compareTo(quantity(${d})) == 0` : `${x} == ${d}`;
    return `(has(${x}) ? ${equal} : ${d} == '')`;
  }
  if (t.t === 'const') return `(has(${x}) && ${x} == ${jsonLiteral(t.value)})`;
  return `(has(${x}) && ${covers(x, t, quantities || k === 'resources', leaves, f)})`;
}

/** A condition between two objects, pushed down to the fields that differ (a field of one branch only is checked
 *  only in that branch), so the check is written once for what both branches share. */
function condObject(t: Extract<Tmpl, { t: 'cond' }>, a: string, quantities: boolean, leaves: Leaves, f: Fresh): string | undefined {
  if (t.then.t !== 'obj' || t.else.t !== 'obj') return undefined;
  const on = new Map(t.then.fields);
  const off = new Map(t.else.fields);
  const flag = `${leaves.option(t.key)} == 'true'`;
  const keys = [...new Set([...on.keys(), ...off.keys()])];
  return `(${keys.map((k) => {
    const [x, y] = [on.get(k), off.get(k)];
    if (x && y) return JSON.stringify(x) === JSON.stringify(y) ? fieldCovers(a, k, x, quantities, leaves, f) : fieldCovers(a, k, { t: 'cond', key: t.key, then: x, else: y }, quantities, leaves, f);
    return x ? `(!(${flag}) || ${fieldCovers(a, k, x, quantities, leaves, f)})` : `(${flag} || ${fieldCovers(a, k, y as Tmpl, quantities, leaves, f)})`;
  }).join(' && ')})`;
}

/** CEL bool: the value `a` carries every field of template `t` with the same value. */
export function covers(a: string, t: Tmpl, quantities: boolean, leaves: Leaves, f: Fresh): string {
  if (t.t === 'cond') return condObject(t, a, quantities, leaves, f) ?? `(${leaves.option(t.key)} == 'true' ? ${covers(a, t.then, quantities, leaves, f)} : ${covers(a, t.else, quantities, leaves, f)})`;
  if (t.t === 'obj') return t.fields.length === 0 ? 'true' : `(${t.fields.map(([k, v]) => fieldCovers(a, k, v, quantities, leaves, f)).join(' &&\n')})`;
  if (t.t === 'list') {
    if (t.items.every((i) => i.t === 'const')) return `${a} == ${jsonLiteral(t.items.map((i) => (i as { value: unknown }).value))}`;
    if (t.items.every((i) => isString(i))) return `${a} == [${t.items.map((i) => tmplCel(i, leaves)).join(', ')}]`;
    // Named objects: ours, in our order, among whatever others added.
    const names = t.items.map(nameOf);
    const x = f.next('x');
    return bindBool(f, `${a}.filter(${x}, has(${x}.name) && ${x}.name in ${strList(names)})`, (ours) =>
      `(${ours}.size() == ${names.length} && ${t.items.map((item, i) => bindBool(f, `${ours}[${i}]`, (e) => covers(e, item, quantities, leaves, f))).join(' && ')})`);
  }
  throw new Error(`covers: a ${t.t} template is compared as a field, not as a value`);
}
