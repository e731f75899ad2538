// Golden files live in the source tree under test/golden/ (tests run from dist/, so paths go through REPO_ROOT).
// UPDATE_GOLDEN=1 rewrites them; otherwise a difference (or a missing file) fails with a hint.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { repoPath } from './paths.js';

export function assertGolden(relPath: string, actual: string): void {
  const file = repoPath('test', 'golden', relPath);
  if (process.env.UPDATE_GOLDEN === '1') {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, actual);
    return;
  }
  if (!existsSync(file)) {
    assert.fail(`golden file test/golden/${relPath} is missing; create it with UPDATE_GOLDEN=1 (then review and commit it)`);
  }
  const expected = readFileSync(file, 'utf8');
  if (expected === actual) return;
  const a = actual.split('\n');
  const e = expected.split('\n');
  let i = 0;
  while (i < a.length && i < e.length && a[i] === e[i]) i++;
  assert.fail(
    `golden file test/golden/${relPath} is stale (first difference at line ${i + 1}):\n` +
      `  golden: ${JSON.stringify(e[i] ?? '<end of file>')}\n` +
      `  actual: ${JSON.stringify(a[i] ?? '<end of file>')}\n` +
      'If the change is intended, regenerate with UPDATE_GOLDEN=1 and review the diff (git diff test/golden).',
  );
}
