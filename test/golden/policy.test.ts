// Golden output of `ghostwire policy` (the function the command prints): the built-in defaults, and a team's
// defaults document. UPDATE_GOLDEN=1 rewrites them; a golden without a case fails.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { builtinDefaults, parseDefaults } from '../../src/config/defaults.js';
import { renderPolicy } from '../../src/policy/objects.js';
import { policyYaml } from '../../src/policy/output.js';
import { VERSION } from '../../src/version.js';
import { assertGolden } from '../helpers/golden.js';
import { repoPath } from '../helpers/paths.js';

const team = repoPath('test', 'fixtures', 'policy', 'team.defaults.yaml');
const CASES = {
  'builtin-defaults': () => builtinDefaults(),
  'team-defaults': () => parseDefaults(readFileSync(team, 'utf8'), team).defaults,
};

for (const [name, defaults] of Object.entries(CASES)) {
  test(`golden: ghostwire policy with ${name}`, () => {
    const objects = renderPolicy({ name: 'ghostwire', namespace: 'ghostwire', defaults: defaults(), version: VERSION, optInLabel: { key: 'ghostwire.dev/injection', value: 'enabled' } });
    // The policies are the same for every defaults document: only the parameter ConfigMap differs.
    const yaml = name === 'builtin-defaults' ? policyYaml(objects, VERSION) : policyYaml(objects.filter((o) => o.kind === 'ConfigMap'), VERSION);
    assertGolden(`policy/${name}.yaml`, yaml);
  });
}

test('golden: the policies do not depend on the defaults (they read them from the parameter ConfigMap)', () => {
  const render = (d: ReturnType<typeof builtinDefaults>) => renderPolicy({ name: 'ghostwire', namespace: 'ghostwire', defaults: d, version: VERSION }).filter((o) => o.kind !== 'ConfigMap');
  assert.deepEqual(render(CASES['team-defaults']()), render(builtinDefaults()));
});

test('golden: no stale golden files without a case', () => {
  const orphans = readdirSync(repoPath('test', 'golden', 'policy')).filter((f) => !(f.replace(/\.yaml$/, '') in CASES));
  assert.deepEqual(orphans, [], `stale goldens in test/golden/policy: ${orphans.join(', ')}`);
});
