// Every validator of src/config/validate.ts, in CEL. The option table drives this module: an option is translated by
// its `parse` function (or the rule a parametrised validator carries), so a new option built from a known validator
// reaches the admission policy without an edit here, and one built from a new validator makes
// test/unit/policy-options.test.ts fail until it gets a translation. Each translation must agree with the validator
// on every input: test/e2e/policy-options.test.ts runs both on hostile values through a real API server. PURE.
import type { AnyOption } from '../config/options.js';
import {
  CHAIN_NAME,
  DNS1123_LABEL,
  DURATION_PART,
  IANA_SVC_NAME,
  IMAGE,
  IMAGE_MAX,
  LABEL_NAME,
  QUANTITY,
  QUANTITY_SCALE,
  RESERVED_CHAINS,
  SUFFIX,
  UNIT_MS,
  type ValidatorRule,
  parseBoolean,
  parseChainName,
  parseCidrList,
  parseDnsSuffix,
  parseImage,
  parseLabelKey,
  parseLabelValue,
  parseNamespace,
  parsePreviewPattern,
  parseQuantity,
  parseSuffix,
  parseTunnelPorts,
  ruleOf,
} from '../config/validate.js';
import { type CelRule, type Fresh, bind, bindBool, doubleLiteral, jsonQuoted, matches, str, strList, trimmed } from './cel.js';
import { cidrListRule } from './cidr-rule.js';
import { durationRule } from './duration-rule.js';

type Validator = (raw: string) => { ok: boolean; allowed?: string };

/** The validator's message for an invalid value, taken from the validator itself. */
export function allowedText(parse: Validator, invalid = '\u0000'): string {
  const r = parse(invalid);
  if (r.ok || r.allowed === undefined) throw new Error(`validator accepted ${JSON.stringify(invalid)}`);
  return r.allowed;
}

/** A rule on the trimmed value whose text is the trimmed value and whose message is constant. */
function onTrimmed(parse: Validator, valid: (t: string, f: Fresh) => string): CelRule {
  const allowed = str(allowedText(parse));
  return {
    valid: (x, f) => bindBool(f, trimmed(x), (t) => valid(t, f)),
    text: (x) => trimmed(x),
    allowed: () => allowed,
  };
}

// Kubernetes name rules, on a trimmed value t (ASCII whenever the patterns match, so CEL's size() counts as
// JavaScript's length does).
export const dns1123Label = (t: string): string => `(${t}.size() <= 63 && ${matches(t, DNS1123_LABEL)})`;
export function dnsSubdomain(t: string, f: Fresh): string {
  const l = f.next('l');
  return `(${t}.size() > 0 && ${t}.size() <= 253 && ${t}.split('.').all(${l}, ${dns1123Label(l)}))`;
}
const labelName = (t: string): string => `(${t}.size() > 0 && ${t}.size() <= 63 && ${matches(t, LABEL_NAME)})`;
const portName = (t: string): string => `(${matches(t, IANA_SVC_NAME)} && ${t}.matches('[a-z]') && !${t}.contains('--'))`;

const BOOLEAN: CelRule = { ...onTrimmed(parseBoolean, (t) => `${t}.lowerAscii() in ['true', 'false']`), text: (x) => `${trimmed(x)}.lowerAscii()` };

const LABEL_KEY = onTrimmed(parseLabelKey, (t, f) =>
  bindBool(f, `${t}.lastIndexOf('/')`, (i) => `(${i} == -1 ? ${labelName(t)} : ${bindBool(f, `${t}.substring(0, ${i})`, (p) => dnsSubdomain(p, f))} && ${bindBool(f, `${t}.substring(${i} + 1)`, labelName)})`),
);

const PREVIEW_PATTERN: CelRule = {
  ...onTrimmed(parsePreviewPattern, (t) => `(${t}.matches('^[a-z0-9-]*\\\\{\\\\{name\\\\}\\\\}[a-z0-9-]*$') && ${t} != '{{name}}')`),
  allowed: (x) => `(${trimmed(x)} == '{{name}}' ? ${str(allowedText(parsePreviewPattern, '{{name}}'))} : ${str(allowedText(parsePreviewPattern))})`,
};

const QUANTITY_RULE = onTrimmed(parseQuantity, (t, f) => `(${matches(t, QUANTITY)} && ${quantityDouble(t, f)} > 0.0)`);

/**
 * CEL: the double config/validate.ts quantityValue() computes (Number(digits) * scale), for a text matching QUANTITY.
 * A number Go cannot hold (over 300 digits) is compared as the JavaScript Infinity it becomes there.
 */
export function quantityDouble(t: string, f: Fresh): string {
  const scale = `{${Object.entries(QUANTITY_SCALE).map(([k, v]) => `${str(k)}: ${doubleLiteral(v)}`).join(', ')}}`;
  return bind(f, `${t}.find('^[0-9]+(\\\\.[0-9]+)?')`, (n) => `(${n}.matches('^0*[0-9]{0,300}(\\\\.|$)') ? double(${n}) * ${scale}[${t}.substring(${n}.size())] : 1.0e308 * 10.0)`);
}

const TUNNEL_PORTS = tunnelPortsRule();

function tunnelPortsRule(): CelRule {
  const allowed = allowedText(parseTunnelPorts, 'x');
  const fields = (e: string) => `${trimmed(e)}.split(':')`;
  const proto = (p: string) => `(${p}.size() < 3 ? 'TCP' : ${p}[2].replace('\u017f', 'S').upperAscii())`;
  const entryOk = (p: string) =>
    `(${p}.size() <= 3 && ${p}[0].matches('^[0-9]{1,5}$') && int(${p}[0]) >= 1 && int(${p}[0]) <= 65535 && ` +
    `(${p}.size() < 2 || ${p}[1] == '' || ${portName(`${p}[1]`)}) && ${proto(p)} in ['TCP', 'UDP', 'SCTP'])`;
  const key = (p: string) => `string(int(${p}[0])) + '/' + ${proto(p)}`;
  // Index of the first entry that fails, as the validator's loop meets it: invalid, or valid but listed twice.
  const entries = (x: string, f: Fresh) => {
    const e = f.next('e');
    return `${x}.split(',').map(${e}, ${fields(e)})`;
  };
  const firstBad = (x: string, f: Fresh) =>
    bind(f, entries(x, f), (ps) => {
      const i = f.next('i');
      const j = f.next('j');
      return `lists.range(${ps}.size()).filter(${i}, !${entryOk(`${ps}[${i}]`)} || lists.range(${i}).exists(${j}, ${key(`${ps}[${j}]`)} == ${key(`${ps}[${i}]`)}))`;
    });
  return {
    valid: (x, f) => `(${trimmed(x)} == '' || ${firstBad(x, f)}.size() == 0)`,
    text: (x, f) =>
      `(${trimmed(x)} == '' ? '' : ${bind(f, entries(x, f), (ps) => {
        const p = f.next('p');
        return `${ps}.map(${p}, string(int(${p}[0])) + ':' + (${p}.size() > 1 ? ${p}[1] : '') + ':' + ${proto(p)}).join(',')`;
      })})`,
    allowed: (x, f) =>
      bind(f, entries(x, f), (ps) =>
        bind(f, `${firstBad(x, f)}[0]`, (i) => `(${entryOk(`${ps}[${i}]`)} ? ${str(`${allowed} (port `)} + ${key(`${ps}[${i}]`)} + ' is listed twice)' : ${str(allowed)})`)),
  };
}

function oneOfRule(rule: Extract<ValidatorRule, { kind: 'oneOf' }>, parse: Validator): CelRule {
  const allowed = str(allowedText(parse));
  const norm = (t: string) => (rule.caseInsensitive ? `${t}.lowerAscii()` : t);
  const keys = rule.values.map((v) => (rule.caseInsensitive ? v.toLowerCase() : v));
  return {
    valid: (x) => `${norm(trimmed(x))} in ${strList(keys)}`,
    // The canonical spelling: "output" is written "OUTPUT".
    text: (x, f) => bind(f, norm(trimmed(x)), (t) => rule.values.reduceRight((rest, v, i) => `(${t} == ${str(keys[i] as string)} ? ${str(v)} : ${rest})`, "''")),
    allowed: () => allowed,
  };
}

const BY_PARSER = new Map<unknown, CelRule>([
  [parseBoolean, BOOLEAN],
  [parseLabelKey, LABEL_KEY],
  [parseLabelValue, onTrimmed(parseLabelValue, labelName)],
  [parsePreviewPattern, PREVIEW_PATTERN],
  [parseSuffix, onTrimmed(parseSuffix, (t) => matches(t, SUFFIX))],
  [parseNamespace, onTrimmed(parseNamespace, (t) => `(${t} == '' || ${dns1123Label(t)})`)],
  [parseDnsSuffix, onTrimmed(parseDnsSuffix, (t, f) => `(${t}.startsWith('.') && ${bindBool(f, `${t}.substring(1)`, (s) => dnsSubdomain(s, f))})`)],
  [parseChainName, onTrimmed(parseChainName, (t) => `(${matches(t, CHAIN_NAME)} && !(${t}.upperAscii() in ${strList([...RESERVED_CHAINS])}))`)],
  [parseCidrList, cidrListRule(allowedText(parseCidrList, 'x').replace(/ \("x" is not one\)$/, ''))],
  [parseImage, onTrimmed(parseImage, (t) => `(${matches(t, IMAGE)} && ${t}.size() <= ${IMAGE_MAX})`)],
  [parseQuantity, QUANTITY_RULE],
  [parseTunnelPorts, TUNNEL_PORTS],
]);

/** The CEL translation of a validator, or undefined when there is none (a policy cannot be generated then). */
export function ruleForParser(parse: unknown): CelRule | undefined {
  const rule = ruleOf(parse);
  if (rule?.kind === 'oneOf') return oneOfRule(rule, parse as Validator);
  if (rule?.kind === 'duration') return durationRule(rule, DURATION_PART, UNIT_MS, allowedText(parse as Validator, 'x'));
  return BY_PARSER.get(parse);
}

export function ruleFor(option: AnyOption): CelRule {
  const r = ruleForParser(option.parse);
  if (!r) throw new Error(`option ${option.key} has no admission policy translation: its validator needs a CEL rule in src/policy/option-rules.ts`);
  return r;
}

/** CEL: "<annotation>: \"<value>\" is invalid; allowed: <...>", as config/errors.ts formatFieldError words it. */
export function problemText(field: string, x: string, allowed: string, f: Fresh): string {
  return `${str(`${field}: `)} + ${jsonQuoted(f, x)} + ' is invalid; allowed: ' + ${allowed}`;
}
