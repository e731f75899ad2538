// The config identity policy mode writes instead of the webhook's SHA-256 prefix (CEL has no hash function).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type InjectConfig, OPTION_LIST, builtinConfig } from '../../src/config/options.js';
import { identityText, policyConfigId, policyConfigIdCel } from '../../src/policy/identity.js';
import { samplesFor } from '../helpers/policy-samples.js';

test('the identity is "policy:" and 16 hex digits, stable across runs and key order', () => {
  const id = policyConfigId(builtinConfig());
  assert.match(id, /^policy:[0-9a-f]{16}$/);
  assert.equal(policyConfigId({ ...builtinConfig() }), id);
  // Read back from a v1.37.2 API server (test/e2e/policy*.test.ts compare every stored identity with this function).
  assert.equal(id, 'policy:32e14c312e5c75e6');
  assert.equal(policyConfigId({ ...builtinConfig(), natChain: 'TEAM', excludeCidrs: ['10.0.0.0/8'] }), 'policy:59510bf824ef4d92');
});

test('every option value that changes the canonical text changes the identity', () => {
  const seen = new Map<string, string>();
  for (const o of OPTION_LIST) {
    for (const raw of samplesFor(o)) {
      const parsed = o.parse(raw);
      if (!parsed.ok) continue;
      const config = { ...builtinConfig(), [o.field]: parsed.value } as InjectConfig;
      const text = identityText(config);
      const id = policyConfigId(config);
      const other = seen.get(id);
      assert.ok(other === undefined || other === text, `two configs share ${id}`);
      seen.set(id, text);
    }
  }
  assert.ok(seen.size > 100);
});

test('only options that differ from the built-in defaults enter the identity text', () => {
  assert.equal(identityText(builtinConfig()), 'ghostwire\n');
  assert.equal(identityText({ ...builtinConfig(), natChain: 'TEAM', ipv6: true }), 'ghostwire\nnatChain=TEAM\nipv6=true\n');
  // Policy mode has no tunnels: the tunnel options change nothing it injects, nor its identity.
  assert.equal(identityText({ ...builtinConfig(), tunnelTimeoutMs: 1000, fullMesh: true }), 'ghostwire\n');
});

test('the CEL computes over the same text with 64-bit-safe arithmetic', () => {
  const cel = policyConfigIdCel('variables.configText');
  assert.match(cel, /2147483647/);
  assert.match(cel, /2147483629/);
  assert.ok(!cel.includes('sha256'));
});
