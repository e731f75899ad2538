// The config identity a workload injected by the admission policies (src/policy/) carries in its status
// annotation. The webhook writes configHash = SHA-256 of the canonical option text (config/resolve.ts); the API server's CEL has no hash function
// (checked on v1.37.2: no sha256, base64 or math library), so the policy writes "policy:" and two 31-bit polynomial
// sums, as 16 hex digits, over the `key=value` lines of the options that differ from the built-in defaults (hashing
// every option's line cost the API server about 18 ms of CPU per admission, measured; most options keep their
// default). Shadow-tunnel options are left out: policy mode has no tunnels, they change nothing it injects. Equal
// configs get equal identities, different ones in practice different identities; it is an identity, not a security
// measure. src/policy/identity.ts computes the same value in CEL; `ghostwire status` compares it here. PURE.
import { type InjectConfig, OPTION_LIST } from './options.js';

export const POLICY_ID_PREFIX = 'policy:';

/** Code of a character: its position in printable ASCII plus newline, shifted so every code is >= 2 (others: 1). */
export const ALPHABET = `${Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join('')}\n`;
export const MODULI = [
  { p: 2147483647n, a: 1103515245n, b: 12345n, c: 506952114n },
  { p: 2147483629n, a: 1664525n, b: 1013904223n, c: 40503n },
] as const;

export const builtinText = (o: (typeof OPTION_LIST)[number]) => o.format(o.default as never);
/** The options the identity covers: all but the shadow tunnel's (the table's group). */
export const COVERED = OPTION_LIST.filter((o) => o.group !== 'tunnel');
/** A fixed first line, so the identity of the built-in config is not all zeros. */
export const SEED = 'ghostwire\n';

/** `key=value\n` for every option whose value differs from its built-in default, in table order. */
export function identityText(config: InjectConfig): string {
  return SEED + COVERED.map((o) => {
    const value = o.format(config[o.field] as never);
    return value === builtinText(o) ? '' : `${o.key}=${value}\n`;
  }).join('');
}

export function policyConfigId(config: InjectConfig): string {
  const codes = [...identityText(config)].map((ch) => BigInt(ALPHABET.includes(ch) ? ALPHABET.indexOf(ch) + 2 : 1));
  const words = MODULI.map(({ p, a, b, c }) => {
    let sum = 0n;
    codes.forEach((code, i) => {
      const n = BigInt(i);
      sum += (code * ((((n * n) % p) * a + n * b + c) % p)) % p;
    });
    return (sum % p).toString(16).padStart(8, '0');
  });
  return `${POLICY_ID_PREFIX}${words.join('')}`;
}

