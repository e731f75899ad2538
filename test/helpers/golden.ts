// Golden files under test/golden/. UPDATE_GOLDEN=1 writes them; otherwise a difference fails the test.
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
  const hint = `golden file test/golden/${relPath} is missing or stale; rerun with UPDATE_GOLDEN=1 and review the diff`;
  assert.ok(existsSync(file), hint);
  assert.equal(actual, readFileSync(file, 'utf8'), hint);
}
