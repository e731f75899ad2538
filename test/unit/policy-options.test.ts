// The policy generator is driven by the option table: every option, every validator and every cross-field rule has
// a CEL translation, and an option without one stops the generator with a message naming it. Whether each
// translation agrees with its validator on every value is proven on a real API server (test/e2e/policy-options).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CROSS_FIELD_RULES, keyOf } from '../../src/config/cross-field.js';
import { DEFAULTS_DOCUMENT_KEYS, builtinDefaults } from '../../src/config/defaults.js';
import { ANNOTATION_PREFIX, type AnyOption, OPTION_LIST } from '../../src/config/options.js';
import { bad, ok } from '../../src/config/validate.js';
import { Fresh } from '../../src/policy/cel.js';
import { allowedText, ruleFor, ruleForParser } from '../../src/policy/option-rules.js';
import { renderPolicy, workloadVariables } from '../../src/policy/objects.js';
import { PARAMETER_KEYS, UNSUPPORTED_DEFAULTS_KEYS } from '../../src/policy/problems-cel.js';
import { VERSION } from '../../src/version.js';
import { UNSAMPLED } from '../helpers/policy-samples.js';

const policies = renderPolicy({ name: 'ghostwire', namespace: 'ghostwire', defaults: builtinDefaults(), version: VERSION });
const spec = (kind: string, name: string) => (policies.find((o) => o.kind === kind && (o.metadata as { name: string }).name === name) as { spec: any }).spec;
const variableNames = (s: any): string[] => s.variables.map((v: { name: string }) => v.name);

test('every option of the table has a CEL translation of its validator', () => {
  const missing = OPTION_LIST.filter((o) => ruleForParser(o.parse) === undefined).map((o) => o.key);
  assert.deepEqual(missing, [], `options without a policy translation: ${missing.join(', ')} (add a CEL rule for their validator in src/policy/option-rules.ts)`);
});

test('an option whose validator has no translation stops the generator, naming the option', () => {
  const newValidator = (raw: string) => (raw === 'x' ? ok(raw) : bad<string>('"x"'));
  const option = { ...(OPTION_LIST[0] as AnyOption), key: 'brandNew', parse: newValidator } as AnyOption;
  assert.throws(() => ruleFor(option), /option brandNew has no admission policy translation/);
  // A parametrised validator carries its rule: a new option built with oneOf() needs no translation of its own.
  assert.ok(ruleForParser(OPTION_LIST.find((o) => o.key === 'jumpHook')!.parse));
});

test('every option reaches the mutating policy (its value; the tunnel\'s only as far as refusing one) and the validating policy (its check)', () => {
  const inject = variableNames(spec('MutatingAdmissionPolicy', 'ghostwire-inject'));
  const validate = JSON.stringify(spec('ValidatingAdmissionPolicy', 'ghostwire-validate'));
  for (const o of OPTION_LIST) {
    if (o.group !== 'tunnel' || o.key === 'tunnel') assert.ok(inject.includes(`c_${o.key}`), `the mutating policy resolves ${o.key}`);
    assert.ok(validate.includes(JSON.stringify(`${ANNOTATION_PREFIX}${o.key}`).slice(1, -1)), `the validating policy checks ${ANNOTATION_PREFIX}${o.key}`);
  }
});

test('every cross-field rule is checked on the annotations and on the defaults', () => {
  const names = workloadVariables(VERSION).map((v) => v.name);
  CROSS_FIELD_RULES.forEach((r, i) => {
    assert.ok(names.includes(`cross${i}`) && names.includes(`dcross${i}`), `rule ${keyOf(r.field)} vs ${keyOf(r.other)}`);
  });
});

test('the refusal texts are the validators\' own words', () => {
  const f = new Fresh();
  for (const o of OPTION_LIST) {
    // Constant messages appear whole; the CIDR list adds the bad part, the preview pattern its special case.
    const message = allowedText(o.parse as never, '\u0000').replace(/ \(.* is not one\)$/, '');
    const cel = ruleFor(o).allowed('x', f);
    assert.ok(cel.includes(JSON.stringify(message).slice(1, -1)), `${o.key}: ${message}`);
  }
});

test('every option has sample values for the end-to-end comparison', () => {
  assert.deepEqual(UNSAMPLED(), [], 'add sample values for these options to test/helpers/policy-samples.ts');
});

test('every key of the defaults document is a parameter of the policies or refused in policy mode on purpose', () => {
  // A new key in config/defaults.ts (like allowedImages) must reach the parameter ConfigMap and its CEL, or be
  // listed as one policy mode does not take (the shadow tunnel's network settings).
  for (const key of [...OPTION_LIST.map((o) => o.key), ...DEFAULTS_DOCUMENT_KEYS]) {
    assert.ok(PARAMETER_KEYS.includes(key) !== UNSUPPORTED_DEFAULTS_KEYS.includes(key), `${key}: add it to PARAMETER_KEYS (with its CEL) or UNSUPPORTED_DEFAULTS_KEYS in src/policy/problems-cel.ts`);
  }
});
