// Golden files: whole readable objects under test/golden/. UPDATE_GOLDEN=1 rewrites them; otherwise a difference
// fails with the first differing lines and a hint. Orphaned goldens are caught by each suite's listing check.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { repoPath } from './paths.js';

function firstDifference(expected: string, actual: string): string {
  const e = expected.split('\n');
  const a = actual.split('\n');
  let i = 0;
  while (i < e.length && i < a.length && e[i] === a[i]) i++;
  const from = Math.max(0, i - 2);
  const show = (lines: string[]) => lines.slice(from, i + 3).map((l, k) => `  ${from + k + 1}: ${l}`).join('\n');
  return `first difference at line ${i + 1}\n--- golden\n${show(e)}\n+++ actual\n${show(a)}`;
}

export function assertGolden(relPath: string, actual: string): void {
  const file = repoPath('test', 'golden', relPath);
  if (process.env.UPDATE_GOLDEN === '1') {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, actual);
    return;
  }
  assert.ok(existsSync(file), `golden file test/golden/${relPath} is missing; run with UPDATE_GOLDEN=1 to create it`);
  const expected = readFileSync(file, 'utf8');
  if (actual !== expected) {
    assert.fail(`test/golden/${relPath} is stale: ${firstDifference(expected, actual)}\nReview the change and rerun with UPDATE_GOLDEN=1 to update it.`);
  }
}
