// The webhook's memory settings in the chart, rendered by the real helm binary: the V8 heap limits reach the
// container as NODE_OPTIONS, stay under the memory limit, and the schema refuses nonsense. The process behind them is
// measured in test/server/memory-bounds.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { repoPath } from '../helpers/paths.js';
import { helmOrSkip, parseManifests, runHelm } from '../helpers/helm.js';

const CHART = repoPath('charts', 'ghostwire');

function render(helm: string, set: string[]) {
  return runHelm(helm, ['template', 'gw', CHART, '--namespace', 'ghostwire-system', ...set.flatMap((s) => ['--set', s])]);
}

test('NODE_OPTIONS carries the heap limits; old space, young generation and 64 MiB outside the heap fit the memory limit', (t) => {
  const helm = helmOrSkip(t);
  if (!helm) return;
  const r = render(helm, []);
  assert.equal(r.status, 0, r.stderr);
  const deploy = parseManifests(r.stdout).find((o) => o.kind === 'Deployment' && o.metadata.name === 'gw-ghostwire');
  const container = deploy?.spec.template.spec.containers.find((c: { name: string }) => c.name === 'webhook');
  const env = Object.fromEntries((container.env as Array<{ name: string; value?: string }>).map((e) => [e.name, e.value]));
  const m = /^--max-old-space-size=(\d+) --max-semi-space-size=(\d+)$/.exec(env.NODE_OPTIONS ?? '');
  assert.ok(m, env.NODE_OPTIONS);
  const limitMi = Number(/^(\d+)Mi$/.exec(container.resources.limits.memory)?.[1]);
  // V8's young generation is three semi-spaces; Node, its code and TLS buffers take about 64 MiB more (measured).
  assert.ok(Number(m[1]) + 3 * Number(m[2]) + 64 <= limitMi, `old space ${m[1]} MiB, semi-space ${m[2]} MiB against a ${limitMi} MiB limit`);
  const custom = render(helm, ['heap.maxOldSpaceMi=300', 'heap.maxSemiSpaceMi=16']);
  assert.match(custom.stdout, /--max-old-space-size=300 --max-semi-space-size=16/);
  for (const bad of ['heap.maxOldSpaceMi=10', 'heap.maxSemiSpaceMi=0', 'heap.maxOldSpaceMi=big']) {
    const b = render(helm, [bad]);
    assert.notEqual(b.status, 0, bad);
    assert.match(b.stderr, /heap/, bad);
  }
});
