// The config identity of config/policy-identity.ts, computed in CEL by the mutating policy: the same value for the
// same config (test/unit/policy-identity.test.ts, and the e2e tests on the real API server). PURE.
import { ALPHABET, COVERED, MODULI, POLICY_ID_PREFIX, SEED, builtinText } from '../config/policy-identity.js';
import { str } from './cel.js';

export { POLICY_ID_PREFIX, identityText, policyConfigId } from '../config/policy-identity.js';

/** CEL: the text identityText() builds, from `value(key)` (the options' final values). */
export function identityTextCel(value: (key: string) => string): string {
  return [str(SEED), ...COVERED.map((o) => `(${value(o.key)} == ${str(builtinText(o))} ? '' : ${str(`${o.key}=`)} + ${value(o.key)} + '\\n')`)].join(' + ');
}

/** CEL: the identity of the text `text` (a string expression). */
export function policyConfigIdCel(text: string): string {
  const codes = `{${[...ALPHABET].map((ch, i) => `${str(ch)}: ${i + 2}`).join(', ')}}`;
  const word = ({ p, a, b, c }: (typeof MODULI)[number]) =>
    `[('00000000' + '%x'.format([lists.range(ks.size()).map(i, ks[i] * ((((i * i) % ${p}) * ${a} + i * ${b} + ${c}) % ${p}) % ${p}).sum() % ${p}]))]` +
    '.map(h, h.substring(h.size() - 8))[0]';
  return `[${codes}].map(M, [${text}.split('').map(ch, M[?ch].orValue(1))].map(ks, ${str(POLICY_ID_PREFIX)} + ${MODULI.map(word).join(' + ')})[0])[0]`;
}
