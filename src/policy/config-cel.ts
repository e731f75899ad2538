// CEL variables for the effective config, layered exactly as config/resolve.ts layers it: built-in < the defaults
// (the policy's parameter ConfigMap, read key by key) < the object's annotations < the pod template's. An invalid
// value leaves the lower layer's value in force (what warn mode injects; deny mode refuses the object anyway). Then
// the cross-field rules of config/cross-field.ts, whose fields fall back together to the defaults. PURE.
import { CROSS_FIELD_RULES, keyOf } from '../config/cross-field.js';
import { ANNOTATION_PREFIX, type AnyOption, OPTION_LIST } from '../config/options.js';
import { type Fresh, str, trimmed } from './cel.js';
import { identityTextCel, policyConfigIdCel } from './identity.js';
import { allowedImagesVariables, imageVariable } from './image-cel.js';
import { FIXED } from './parts.js';
import { quantityDouble, ruleFor } from './option-rules.js';
import { type Variable, v } from './subject-cel.js';

/** Keys of the parameter ConfigMap besides the options (see params.ts). */
export const INVALID_ANNOTATIONS_KEY = 'invalidAnnotations';

const builtin = (o: AnyOption): string => o.format(o.default as never);

/** Options whose defaults are needed on their own: cross-field fallbacks, the image policy, the defaults' tunnel. */
const DEFAULTS_NEEDED = new Set(['tunnel', 'image', ...CROSS_FIELD_RULES.flatMap((r) => [r.field, r.other, ...r.fallback].map(keyOf))]);

/** The default text of an option: the parameter's value when valid, else the built-in (the problems name it). */
function defaultVariable(o: AnyOption, f: Fresh): Variable {
  const rule = ruleFor(o);
  const x = `${v('defaultsData')}[${str(o.key)}]`;
  return { name: `d_${o.key}`, expression: `${str(o.key)} in ${v('defaultsData')} && ${rule.valid(x, f)} ? ${rule.text(x, f)} : ${str(builtin(o))}` };
}

/**
 * The highest layer with a valid value wins (template, object, defaults); none: the built-in. Written as a chain of
 * conditions rather than a list comprehension: an option nobody sets then costs three map lookups, which matters
 * because the API server evaluates every option on every admission.
 */
function effectiveVariable(o: AnyOption, f: Fresh): Variable {
  const rule = ruleFor(o);
  const key = str(ANNOTATION_PREFIX + o.key);
  const layer = (m: string, k: string) => `${k} in ${m} && ${rule.valid(`${m}[${k}]`, f)} ? ${rule.text(`${m}[${k}]`, f)}`;
  return {
    name: `e_${o.key}`,
    expression: `${layer(v('tplAnn'), key)} : ${layer(v('objAnn'), key)} : ${layer(v('defaultsData'), str(o.key))} : ${str(builtin(o))}`,
  };
}

/** CEL bool: cross-field rule i is violated by the values of the `layer` variables (e_: effective, d_: defaults). */
function violated(i: number, layer: 'e' | 'd', f: Fresh): string {
  const r = CROSS_FIELD_RULES[i] as (typeof CROSS_FIELD_RULES)[number];
  const [a, b] = [v(`${layer}_${keyOf(r.field)}`), v(`${layer}_${keyOf(r.other)}`)];
  if (r.kind === 'distinct') return `${a} == ${b}`;
  return `${quantityDouble(a, f)} > ${quantityDouble(b, f)}`;
}

/** The defaults on their own, and the cross-field rules on them (what config/defaults.ts checks). */
export function defaultsVariables(f: Fresh, data: string): Variable[] {
  return [
    { name: 'defaultsData', expression: data },
    ...OPTION_LIST.filter((o) => DEFAULTS_NEEDED.has(o.key)).map((o) => defaultVariable(o, f)),
    ...CROSS_FIELD_RULES.map((_, i) => ({ name: `dcross${i}`, expression: violated(i, 'd', f) })),
    ...allowedImagesVariables(f),
  ];
}

/** Layering (after defaultsVariables and the subject's layers), cross-field fallbacks, the canonical text, the id. */
export function configVariables(f: Fresh): Variable[] {
  const out: Variable[] = [
    { name: 'warnMode', expression: `${str(INVALID_ANNOTATIONS_KEY)} in ${v('defaultsData')} && ${trimmed(`${v('defaultsData')}[${str(INVALID_ANNOTATIONS_KEY)}]`)} == 'warn'` },
  ];
  for (const o of OPTION_LIST) out.push(effectiveVariable(o, f));
  CROSS_FIELD_RULES.forEach((_, i) => out.push({ name: `cross${i}`, expression: violated(i, 'e', f) }));
  out.push(imageVariable(f));
  for (const o of OPTION_LIST) {
    const falling = CROSS_FIELD_RULES.flatMap((r, i) => (r.fallback.some((field) => keyOf(field) === o.key) ? [`!${v(`cross${i}`)}`] : []));
    // config/resolve.ts: the image falls back to the defaults' when the defaults do not allow it.
    if (o.key === 'image') falling.push(v('imageOk'));
    out.push({ name: `c_${o.key}`, expression: falling.length ? `(${falling.join(' && ')}) ? ${v(`e_${o.key}`)} : ${v(`d_${o.key}`)}` : v(`e_${o.key}`) });
  }
  // What the identity covers (identity.ts): the config the parts are rendered from, FIXED values included.
  const value = (key: string) => {
    const o = OPTION_LIST.find((x) => x.key === key) as AnyOption;
    return o.field in FIXED ? str(o.format(FIXED[o.field] as never)) : v(`c_${key}`);
  };
  out.push({ name: 'configText', expression: identityTextCel(value) });
  out.push({ name: 'configId', expression: policyConfigIdCel(v('configText')) });
  return out;
}

/** CEL: the option's final value (after layering and cross-field fallbacks). */
export const optionValue = (key: string): string => v(`c_${key}`);
