// CEL for what the webhook says about a configuration: every invalid annotation with its value and what is allowed
// (admission/configure.ts, config/resolve.ts), unknown ghostwire.dev/ keys, invalid parameters (the defaults), and
// the one thing policy mode refuses on purpose: a shadow tunnel. Same words, same order as the webhook. Problems are
// collected as {k: key, v: value, a: allowed} items and worded once (config/errors.ts formatFieldError). PURE.
import { CROSS_FIELD_RULES, keyOf } from '../config/cross-field.js';
import { ANNOTATION_PREFIX, ENABLED_ANNOTATION, OPTION_LIST, OUTPUT_ANNOTATIONS } from '../config/options.js';
import { oneOf } from '../config/validate.js';
import { TUNNEL_KINDS } from '../shadow/tunnel.js';
import { type Fresh, jsonQuoted, str, strList } from './cel.js';
import { ALLOWED_IMAGES_KEY } from '../config/image-policy.js';
import { UNKNOWN_KEYS_NAMED } from '../config/resolve.js';
import { INVALID_ANNOTATIONS_KEY } from './config-cel.js';
import { allowedImagesDefaultsProblem, imageProblem } from './image-cel.js';
import { ruleFor, ruleForParser } from './option-rules.js';
import { BOOL, type Variable, v } from './subject-cel.js';

const SENTINEL = '\u0000value\u0000';

/** The keys a parameter ConfigMap may hold: the options, and the defaults document's invalidAnnotations. */
export const PARAMETER_KEYS: readonly string[] = [...OPTION_LIST.map((o) => o.key), INVALID_ANNOTATIONS_KEY, ALLOWED_IMAGES_KEY];
/** Keys of the defaults document the policy does not take: the shadow tunnel's settings (no tunnels in policy mode). */
export const UNSUPPORTED_DEFAULTS_KEYS: readonly string[] = ['network'];
/** config/defaults.ts parses invalidAnnotations with this validator. */
const INVALID_ANNOTATIONS = ruleForParser(oneOf(['deny', 'warn'] as const)) as NonNullable<ReturnType<typeof ruleForParser>>;

export const TUNNEL_NEEDS_WEBHOOK = "a shadow tunnel's upgrade path is signed with the webhook's key, which an admission policy cannot do";
const TUNNEL_REFUSAL = ` asks for a shadow tunnel (ghostwire.dev/tunnel: "true"), which injection by admission policy cannot give: ${TUNNEL_NEEDS_WEBHOOK}. Use the webhook (injector.mode: webhook) for tunnel workloads, or set ghostwire.dev/tunnel: "false"`;

const item = (k: string, value: string, allowed: string) => `{'k': dyn(${k}), 'v': dyn(${value}), 'a': dyn(${allowed})}`;

/** CEL: items worded as formatFieldError words them. */
function worded(items: string, f: Fresh): string {
  const p = f.next('p');
  return `${items}.map(${p}, ${p}.k + ': ' + ${jsonQuoted(f, `${p}.v`)} + ' is invalid; allowed: ' + ${p}.a)`;
}

/** CEL: the item of a violated cross-field rule; `name` names fields as the source does, `value` yields values. */
function crossItem(i: number, name: (key: string) => string, value: (key: string) => string): string {
  const r = CROSS_FIELD_RULES[i] as (typeof CROSS_FIELD_RULES)[number];
  const [before, after] = r.allowed(keyOf(r.other), SENTINEL).split(SENTINEL) as [string, string];
  return item(str(name(keyOf(r.field))), value(keyOf(r.field)), `${str(before)} + ${value(keyOf(r.other))} + ${str(after)}`);
}

/**
 * Items for the invalid option values of the map `m` whose keys are the option keys behind `prefix`, in the order
 * the API server sends them (sorted by key), each checked by its option's rule: a dispatch on the key, so only the
 * keys present cost anything (the API server evaluates this on every admission).
 */
function invalidItems(m: string, prefix: string, f: Fresh): string {
  const k = f.next('k');
  const dispatch = OPTION_LIST.reduceRight((rest, option) => {
    const x = `${m}[${k}]`;
    const rule = ruleFor(option);
    return `(${k} == ${str(prefix + option.key)} ? (${rule.valid(x, f)} ? [] : [${item(k, x, rule.allowed(x, f))}]) :\n${rest})`;
  }, '[]');
  return `${m}.filter(${k}, ${k} in ${strList(OPTION_LIST.map((o) => prefix + o.key))}).sort().map(${k}, ${dispatch}).flatten()`;
}

/** Per layer (lowest first), its invalid option annotations. */
function layerItems(f: Fresh): string {
  const m = f.next('m');
  return `${v('layers')}.map(${m}, ${invalidItems(m, ANNOTATION_PREFIX, f)}).flatten()`;
}

const KNOWN = [ENABLED_ANNOTATION, ...OUTPUT_ANNOTATIONS, ...OPTION_LIST.map((o) => ANNOTATION_PREFIX + o.key)];
const KNOWN_KEYS = OPTION_LIST.map((o) => o.key).join(', ');

/** CEL: config/resolve.ts's one notice for the unknown keys `u` (in layer order): the first few named, the rest counted. */
function unknownNotice(u: string): string {
  const named = `${u}.slice(0, ${u}.size() < ${UNKNOWN_KEYS_NAMED} ? ${u}.size() : ${UNKNOWN_KEYS_NAMED})`;
  const what = `(${u}.size() == 1 ? 'unknown annotation ' : string(${u}.size()) + ' unknown annotations ')`;
  const more = `(${u}.size() > ${UNKNOWN_KEYS_NAMED} ? ' and ' + string(${u}.size() - ${UNKNOWN_KEYS_NAMED}) + ' more' : '')`;
  return `'ghostwire: ' + ${what} + ${named}.join(', ') + ${more} + ${str(` ignored (known: ${KNOWN_KEYS})`)}`;
}
const kindsText = `${TUNNEL_KINDS.slice(0, -1).map((k) => `${k}s`).join(', ')} and ${TUNNEL_KINDS[TUNNEL_KINDS.length - 1]}s`;

export function annotationProblemVariables(f: Fresh): Variable[] {
  const last = `${v('enabledValues')}[${v('enabledValues')}.size() - 1]`;
  const enabled = `(${v('enabledError')} ? [${item(str(ENABLED_ANNOTATION), last, BOOL.allowed(last, f))}] : [])`;
  const cross = CROSS_FIELD_RULES.map((_, i) => `(${v(`cross${i}`)} ? [${crossItem(i, (k) => ANNOTATION_PREFIX + k, (k) => v(`e_${k}`))}] : [])`);
  const [u, i] = [f.next('u'), f.next('i')];
  const tunnelKind = `request.kind.kind in ${strList([...TUNNEL_KINDS])}`;
  return [
    // admission/configure.ts: the enabled problem, then the layers' invalid values, then the cross-field rules.
    { name: 'problemItems', expression: `${enabled} +\n${layerItems(f)} +\n${cross.join(' + ')} +\n${imageProblem(item)}` },
    { name: 'problems', expression: worded(v('problemItems'), f) },
    { name: 'unknownKeys', expression: `[${v('layers')}.map(m, m.filter(k, k.startsWith(${str(ANNOTATION_PREFIX)}) && !(k in ${strList(KNOWN)})).sort()).flatten()].map(${u}, lists.range(${u}.size()).filter(${i}, !(${u}[${i}] in ${u}.slice(0, ${i}))).map(${i}, ${u}[${i}]))[0]` },
    // admission/configure.ts: warnings are the unknown keys (one notice, config/resolve.ts), then a tunnel asked for
    // on a kind that has none.
    {
      name: 'notices',
      expression: `(${v('unknownKeys')}.size() == 0 ? [] : [${unknownNotice(v('unknownKeys'))}]) + (${v('c_tunnel')} == 'true' && !(${tunnelKind}) ? ` +
        `[${str(`ghostwire: tunnels are kept for ${kindsText}; `)} + request.kind.kind + ' ' + ${v('ns')} + '/' + (has(object.metadata.name) ? object.metadata.name : '') + ' gets no tunnel annotations'] : [])`,
    },
    // Policy mode cannot sign the tunnel's upgrade path (the webhook's key): a tunnel workload is refused whole.
    { name: 'tunnelRefused', expression: `${v('c_tunnel')} == 'true' && ${tunnelKind}` },
    { name: 'tunnelDenial', expression: `'ghostwire: ' + ${v('what')} + ${str(TUNNEL_REFUSAL)}` },
  ];
}

/** The parameter ConfigMap checked as config/defaults.ts checks a defaults document, every problem named. */
export function defaultsProblemVariables(f: Fresh): Variable[] {
  const data = v('defaultsData');
  const mode = `${data}[${str(INVALID_ANNOTATIONS_KEY)}]`;
  const modeItem = `(${str(INVALID_ANNOTATIONS_KEY)} in ${data} && !(${INVALID_ANNOTATIONS.valid(mode, f)}) ? [${item(str(INVALID_ANNOTATIONS_KEY), mode, INVALID_ANNOTATIONS.allowed(mode, f))}] : [])`;
  const unknown = `${data}.filter(k, !(k in ${strList(PARAMETER_KEYS)})).sort().map(k, ${item('k', "''", str(`a known key: ${PARAMETER_KEYS.join(', ')}`))})`;
  const cross = CROSS_FIELD_RULES.map((_, i) => `(${v(`dcross${i}`)} ? [${crossItem(i, (k) => k, (k) => v(`d_${k}`))}] : [])`);
  const tunnel = `(${v('d_tunnel')} == 'true' ? [${item("'tunnel'", "'true'", str(`"false" (${TUNNEL_NEEDS_WEBHOOK})`))}] : [])`;
  return [
    { name: 'defaultsItems', expression: `${unknown} +\n${invalidItems(data, '', f)} +\n${modeItem} + ${allowedImagesDefaultsProblem(item)} + ${cross.join(' + ')} + ${tunnel}` },
    { name: 'defaultsProblems', expression: worded(v('defaultsItems'), f) },
  ];
}
