// `ghostwire status` on workloads the admission policies injected: their status annotation carries the policies'
// config identity ("policy:..."), not the webhook's SHA-256 hash, and drift compares it with the identity the current
// defaults and annotations give (config/policy-identity.ts), so a policy-injected workload is current, not
// reported as needing a rollout forever.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VERSION } from '../../src/version.js';
import { type Defaults, resolveConfig } from '../../src/config/index.js';
import { POLICY_INJECTED_ANNOTATION } from '../../src/config/options.js';
import { policyConfigId } from '../../src/config/policy-identity.js';
import type { KubeObject } from '../../src/kube/objects.js';
import { type DriftContext, judgeWorkload } from '../../src/status/drift.js';
import { KINDS } from '../../src/status/workloads.js';
import { BEFORE, CURRENT, TUNNEL_KEY, inject, workload } from '../helpers/status-cluster.js';

const ctx = (defaults: Defaults): DriftContext => ({ defaults, version: VERSION, tunnelKey: TUNNEL_KEY, tunnelKeyKnown: true, ownNamespace: 'ghostwire' });
const templateOf = (o: KubeObject): any => (o.spec as any).template ?? (o.spec as any).jobTemplate?.spec.template ?? o;

/** What the policies store: the webhook's parts, their identity in the status annotation and injected-by. */
function policyInjected(o: KubeObject, defaults: Defaults): KubeObject {
  const out = inject(o, defaults);
  const tpl = templateOf(out);
  const layers = o.kind === 'Pod' ? [o.metadata?.annotations] : [o.metadata?.annotations, templateOf(o).metadata?.annotations];
  const id = policyConfigId({ ...resolveConfig(defaults, layers as Array<Record<string, string>>).config, tunnel: false });
  const status = JSON.parse(tpl.metadata.annotations['ghostwire.dev/status']);
  tpl.metadata.annotations['ghostwire.dev/status'] = JSON.stringify({ ...status, configHash: id });
  tpl.metadata.annotations[POLICY_INJECTED_ANNOTATION] = id;
  return out;
}

test('every kind the policies injected with the current defaults is current, its expected identity the one it runs', () => {
  for (const k of KINDS) {
    const o = policyInjected(workload(k.kind.kind, 'shop', `p-${k.resource}`), CURRENT);
    const d = judgeWorkload(o, k.kind, ctx(CURRENT));
    assert.equal(d.state, 'current', `${k.kind.kind}: ${d.reason} ${d.detail}`);
    assert.match(d.runningHash ?? '', /^policy:[0-9a-f]{16}$/);
    assert.equal(d.expectedHash, d.runningHash);
  }
});

test('a defaults change after a policy injection: rollout needed, from one policy identity to the other', () => {
  const kind = KINDS.find((k) => k.kind.kind === 'Deployment')!.kind;
  const o = policyInjected(workload('Deployment', 'shop', 'cart'), BEFORE);
  const d = judgeWorkload(o, kind, ctx(CURRENT));
  assert.equal(d.state, 'rollout-needed');
  assert.match(d.expectedHash ?? '', /^policy:/);
  assert.notEqual(d.expectedHash, d.runningHash);
  assert.equal(judgeWorkload(o, kind, ctx(BEFORE)).state, 'current');
});
