// The config identity policy mode writes instead of the webhook's SHA-256 prefix (CEL has no hash function).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type InjectConfig, OPTION_LIST, builtinConfig } from '../../src/config/options.js';
import { canonicalConfigText, policyConfigId, policyConfigIdCel } from '../../src/policy/identity.js';
import { samplesFor } from '../helpers/policy-samples.js';

test('the identity is "policy:" and 16 hex digits, stable across runs and key order', () => {
  const id = policyConfigId(builtinConfig());
  assert.match(id, /^policy:[0-9a-f]{16}$/);
  assert.equal(policyConfigId({ ...builtinConfig() }), id);
  // Measured on the API server (test/e2e/policy.test.ts compares every stored identity with this function).
  assert.equal(id, 'policy:34df34ac1cd4fda3');
});

test('every option value that changes the canonical text changes the identity', () => {
  const seen = new Map<string, string>();
  for (const o of OPTION_LIST) {
    for (const raw of samplesFor(o)) {
      const parsed = o.parse(raw);
      if (!parsed.ok) continue;
      const config = { ...builtinConfig(), [o.field]: parsed.value } as InjectConfig;
      const text = canonicalConfigText(config);
      const id = policyConfigId(config);
      const other = seen.get(id);
      assert.ok(other === undefined || other === text, `two configs share ${id}`);
      seen.set(id, text);
    }
  }
  assert.ok(seen.size > 100);
});

test('the CEL computes over the same canonical text with 64-bit-safe arithmetic', () => {
  const cel = policyConfigIdCel('variables.configText');
  assert.match(cel, /2147483647/);
  assert.match(cel, /2147483629/);
  assert.ok(!cel.includes('sha256'));
});
