// Golden outputs of the injector for every target kind and mode, through the same function `ghostwire inject` uses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { flatten, injectDocuments } from '../../src/offline/inject-documents.js';
import { renderYaml } from '../../src/offline/manifests.js';
import { assertGolden } from '../helpers/golden.js';
import { loadCases } from '../helpers/injector-cases.js';
import { repoPath } from '../helpers/paths.js';

const cases = loadCases();

for (const c of cases) {
  test(`golden: ${c.name}`, () => {
    const results = injectDocuments(c.docs, c.ctx);
    const flat = flatten(results);
    const summary = flat.map((r) => ({
      object: r.label,
      result: r.outcome?.result,
      reason: r.outcome?.reason,
      warnings: r.outcome?.warnings ?? [],
      auditAnnotations: r.outcome?.auditAnnotations ?? {},
      patch: r.outcome?.patch ?? [],
    }));
    assertGolden(`injector/${c.name}.yaml`, renderYaml(results.map((r) => r.output)));
    assertGolden(`injector/${c.name}.patch.json`, `${JSON.stringify(summary, null, 2)}\n`);

    // Convergence: the mutation of its own output is empty.
    const second = flatten(injectDocuments(results.map((r) => r.output), c.ctx));
    for (const r of second) assert.deepEqual(r.outcome?.patch ?? [], [], `${c.name}: second pass on ${r.label} must not patch`);
  });
}

test('golden: no stale golden files without a fixture', () => {
  const names = new Set(cases.map((c) => c.name));
  const orphans = readdirSync(repoPath('test', 'golden', 'injector')).filter((f) => !names.has(f.replace(/\.patch\.json$|\.yaml$/, '')));
  assert.deepEqual(orphans, [], `stale goldens in test/golden/injector (their fixture is gone): ${orphans.join(', ')}`);
});
