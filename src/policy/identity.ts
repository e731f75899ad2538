// The config identity a policy-injected workload carries in its status annotation. The webhook writes
// configHash = SHA-256 of the canonical option text (config/resolve.ts); the API server's CEL has no hash function
// (checked on v1.37.2: no sha256, base64 or math library), so the policy writes "policy:" + two 31-bit polynomial
// sums over the same canonical text. Equal configs get equal identities and different ones, in practice, different
// identities; it is an identity, not a security measure. The CEL and the TypeScript below compute the same value.
// PURE.
import { type InjectConfig, OPTION_LIST } from '../config/options.js';
import { str } from './cel.js';

export const POLICY_ID_PREFIX = 'policy:';

/** Code of a character: its position in printable ASCII plus newline, shifted so every code is >= 1. */
const ALPHABET = `${Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join('')}\n`;
const MODULI = [
  { p: 2147483647n, a: 1103515245n, b: 12345n, c: 2654435761n % 2147483647n },
  { p: 2147483629n, a: 1664525n, b: 1013904223n, c: 40503n },
] as const;

/** The canonical text configHash() hashes: `key=value\n` for every option, in table order. */
export function canonicalConfigText(config: InjectConfig): string {
  return OPTION_LIST.map((o) => `${o.key}=${o.format(config[o.field] as never)}\n`).join('');
}

export function policyConfigId(config: InjectConfig): string {
  const chars = [...canonicalConfigText(config)];
  const words = MODULI.map(({ p, a, b, c }) => {
    let sum = 0n;
    chars.forEach((ch, i) => {
      const n = BigInt(i);
      const w = (((n * n) % p) * a + n * b + c) % p;
      sum += (BigInt(ALPHABET.indexOf(ch) + 2) * w) % p;
    });
    return (sum % p).toString(16).padStart(8, '0');
  });
  return `${POLICY_ID_PREFIX}${words.join('')}`;
}

/** CEL: the identity of the canonical text `text` (a string expression). */
export function policyConfigIdCel(text: string): string {
  const word = ({ p, a, b, c }: (typeof MODULI)[number]) =>
    `[('00000000' + '%x'.format([cs.size() == 0 ? 0 : lists.range(cs.size()).map(i, ((${str(ALPHABET)}.indexOf(cs[i]) + 2) * ` +
    `(((i * i) % ${p}) * ${a} + i * ${b} + ${c}) % ${p}) % ${p}).sum() % ${p}]))].map(h, h.substring(h.size() - 8))[0]`;
  return `[${text}.split('')].map(cs, ${str(POLICY_ID_PREFIX)} + ${MODULI.map(word).join(' + ')})[0]`;
}
