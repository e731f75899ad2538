// CEL for config/validate.ts parseCidrList(): comma-separated CIDRs or bare addresses, written back in the canonical
// text of net/address.ts (network address, explicit prefix, glibc's IPv6 form). The API server's ip() and cidr()
// do the parsing; two documented differences remain (docs/install.md, "What policy mode cannot do"): CEL refuses
// IPv4-mapped IPv6 addresses (::ffff:a.b.c.d), which the webhook accepts. PURE.
import { type CelRule, type Fresh, bind, bindBool, jsonQuoted, str, trimmed } from './cel.js';

/** CEL: the IPv4 dotted text of a 1-4 digit hex word pair "hi:lo". */
function dotted(hi: string, lo: string, f: Fresh): string {
  const word = (w: string) => {
    const i = f.next('i');
    return `lists.range(${w}.size()).map(${i}, '0123456789abcdef'.indexOf(${w}.charAt(${i})) * [4096, 256, 16, 1][4 - ${w}.size() + ${i}]).sum()`;
  };
  return bind(f, word(hi), (h) => bind(f, word(lo), (l) => `string(${h} / 256) + '.' + string(${h} % 256) + '.' + string(${l} / 256) + '.' + string(${l} % 256)`));
}

/** CEL: Go's text of an address, turned into glibc's where they differ (IPv4-compatible ::a.b.c.d keeps dots). */
function glibcAddress(goText: string, f: Fresh): string {
  return bind(f, goText, (a) =>
    `(${a}.matches('^::[0-9a-f]{1,4}:[0-9a-f]{1,4}$') ? '::' + ${bind(f, `${a}.substring(2).split(':')`, (w) => dotted(`${w}[0]`, `${w}[1]`, f))} : ${a})`);
}

interface Part {
  /** The trimmed part, the address before the first "/", and what follows it. */
  t: string;
  slash: string;
  addr: string;
  prefix: string;
}

function withPart(p: string, f: Fresh, body: (part: Part) => string, bool: boolean): string {
  const b = bool ? bindBool : bind;
  return b(f, trimmed(p), (t) =>
    b(f, `${t}.indexOf('/')`, (slash) => body({ t, slash, addr: `(${slash} == -1 ? ${t} : ${t}.substring(0, ${slash}))`, prefix: `${t}.substring(${slash} + 1)` })));
}

const bits = (addr: string) => `(ip(${addr}).family() == 4 ? 32 : 128)`;

function validPart(p: string, f: Fresh): string {
  return withPart(p, f, ({ slash, addr, prefix }) =>
    `(isIP(${addr}) && (${slash} == -1 || (${prefix}.matches('^[0-9]{1,3}$') && int(${prefix}) <= ${bits(addr)})))`, true);
}

function canonicalPart(p: string, f: Fresh): string {
  return withPart(p, f, ({ slash, addr, prefix }) =>
    `(${slash} == -1 ? ${glibcAddress(`string(ip(${addr}))`, f)} + '/' + string(${bits(addr)}) : ` +
    bind(f, `string(cidr(string(ip(${addr})) + '/' + string(int(${prefix}))).masked())`, (c) =>
      `${glibcAddress(`${c}.substring(0, ${c}.indexOf('/'))`, f)} + ${c}.substring(${c}.indexOf('/'))`) + ')', false);
}

/** `allowed` is the validator's message without its "(... is not one)" tail, which names the first bad part. */
export function cidrListRule(allowed: string): CelRule {
  return {
    valid: (x, f) => {
      const p = f.next('p');
      return `(${trimmed(x)} == '' || ${x}.split(',').all(${p}, ${validPart(p, f)}))`;
    },
    // Canonical parts, duplicates dropped, first occurrence kept.
    text: (x, f) => {
      const p = f.next('p');
      const i = f.next('i');
      return `(${trimmed(x)} == '' ? '' : ${bind(f, `${x}.split(',').map(${p}, ${canonicalPart(p, f)})`, (cs) =>
        `lists.range(${cs}.size()).filter(${i}, !(${cs}[${i}] in ${cs}.slice(0, ${i}))).map(${i}, ${cs}[${i}]).join(',')`)})`;
    },
    allowed: (x, f) => {
      const p = f.next('p');
      return `${str(`${allowed} (`)} + ${jsonQuoted(f, trimmed(`${x}.split(',').filter(${p}, !${validPart(p, f)})[0]`))} + ' is not one)'`;
    },
  };
}
