// Writing CEL text: literals, fresh comprehension variables, and the few idioms the Kubernetes CEL environment
// needs because it has no let-binding (cel.bind is not available to admission policies): `[x].map(v, e(v))[0]`
// evaluates x once and names it. Everything here returns CEL source text. PURE.

/** CEL for one validator. `x` is an expression yielding the raw string (an annotation or ConfigMap value). */
export interface CelRule {
  /** bool: the validator accepts x. */
  valid: (x: string, f: Fresh) => string;
  /** string: format(parse(x)) for a valid x, the text the injected containers and the config identity carry. */
  text: (x: string, f: Fresh) => string;
  /** string: what is allowed, for an invalid x: the validator's own `allowed`, word for word. */
  allowed: (x: string, f: Fresh) => string;
}

/** A CEL double literal. */
export const doubleLiteral = (v: number): string => (Number.isInteger(v) ? `${v}.0` : String(v));

/** A CEL string literal (a JSON string is a valid CEL string: the same escapes, \uXXXX included). */
export const str = (s: string): string => JSON.stringify(s);

/** A CEL list of string literals. */
export const strList = (items: readonly string[]): string => `[${items.map(str).join(', ')}]`;

/** Names for comprehension variables; unique within one generated expression. */
export class Fresh {
  private n = 0;
  next(hint = 'v'): string {
    this.n += 1;
    return `${hint}${this.n}`;
  }
}

/** `body(name)` with `expr` evaluated once and bound to a fresh name. */
export function bind(fresh: Fresh, expr: string, body: (name: string) => string): string {
  const v = fresh.next();
  return `[${expr}].map(${v}, ${body(v)})[0]`;
}

/** The same for a boolean body (all() of a one-element list). */
export function bindBool(fresh: Fresh, expr: string, body: (name: string) => string): string {
  const v = fresh.next();
  return `[${expr}].all(${v}, ${body(v)})`;
}

/** JSON (from the renderer) as a CEL value. Every map value and list item is wrapped in dyn(): CEL literals must be
 *  homogeneous, and a container mixes strings, numbers, lists and maps. */
export function jsonLiteral(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return str(value);
  if (typeof value === 'boolean') return String(value);
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new Error(`only integers are rendered into CEL, not ${value}`);
    return String(value);
  }
  if (Array.isArray(value)) return `[${value.map((v) => `dyn(${jsonLiteral(v)})`).join(', ')}]`;
  if (typeof value === 'object') {
    const fields = Object.entries(value as Record<string, unknown>).map(([k, v]) => `${str(k)}: dyn(${jsonLiteral(v)})`);
    return `{${fields.join(', ')}}`;
  }
  throw new Error(`cannot render ${typeof value} into CEL`);
}

/** JSON Pointer escaping of one segment (RFC 6901), at generation time. */
export const pointerSegment = (s: string): string => s.replace(/~/g, '~0').replace(/\//g, '~1');

/**
 * JavaScript's String.prototype.trim() removes exactly these characters (WhiteSpace and LineTerminator: tab, line
 * feed, vertical tab, form feed, carriage return, the Unicode space separators Zs, U+2028, U+2029, U+FEFF). CEL's
 * trim() follows Go's unicode.IsSpace, which differs (U+0085, U+FEFF), so the generator trims with this class.
 */
export const JS_WHITESPACE = '\\s\\v\\p{Zs}\\x{2028}\\x{2029}\\x{feff}';

/** CEL: `x` with leading and trailing JavaScript whitespace removed (RE2 finds the leftmost-longest span). */
export const trimmed = (x: string): string => `${x}.find(${str(`[^${JS_WHITESPACE}](?s:.*[^${JS_WHITESPACE}])?`)})`;

/** A JavaScript RegExp's source as an RE2 pattern; the patterns ghostwire uses are written in the common subset. */
export function re2(pattern: RegExp): string {
  if (pattern.flags.replace(/[gy]/g, '') !== '') throw new Error(`regex /${pattern.source}/${pattern.flags}: flags have no RE2 equivalent`);
  return pattern.source;
}

/** CEL: `x.matches(pattern)` for a JavaScript RegExp. */
export const matches = (x: string, pattern: RegExp): string => `${x}.matches(${str(re2(pattern))})`;

/**
 * CEL: a string quoted as JavaScript's JSON.stringify quotes it, after the same clipping as config/errors.ts
 * quoteValue (more than 80 characters: the first 77 and "..."; both count code points).
 */
export function jsonQuoted(fresh: Fresh, x: string): string {
  return bind(fresh, x, (v) => {
    let e = `(${v}.size() > 80 ? ${v}.substring(0, 77) + '...' : ${v})`;
    e = `${e}.replace('\\\\', '\\\\\\\\').replace('"', '\\\\"')`;
    for (let c = 0; c < 0x20; c++) e = `${e}.replace(${str(String.fromCharCode(c))}, ${str(JSON.stringify(String.fromCharCode(c)).slice(1, -1))})`;
    return `'"' + ${e} + '"'`;
  });
}

const BREAKS = [', ', ' && ', ' || ', ' ? ', ' : ', ' + '];

/**
 * Line breaks for people reading a generated expression (CEL ignores whitespace outside string literals): once a
 * line is longer than `width`, break after the next separator and indent by bracket depth.
 */
export function formatCel(expr: string, width = 110): string {
  let out = '';
  let line = 0;
  let depth = 0;
  let quote: string | undefined;
  for (let i = 0; i < expr.length; i++) {
    const c = expr[i] as string;
    if (quote) {
      out += c;
      line++;
      if (c === '\\') {
        out += expr[i + 1] ?? '';
        i++;
      } else if (c === quote) quote = undefined;
      continue;
    }
    if (c === '"' || c === "'") quote = c;
    else if ('([{'.includes(c)) depth++;
    else if (')]}'.includes(c)) depth--;
    const sep = line > width ? BREAKS.find((b) => expr.startsWith(b, i)) : undefined;
    if (sep) {
      out += `${sep.trimEnd()}\n${'  '.repeat(Math.max(0, depth))}`;
      i += sep.length - 1;
      line = depth * 2;
      continue;
    }
    out += c;
    line = c === '\n' ? 0 : line + 1;
  }
  return out;
}
