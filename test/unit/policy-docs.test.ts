// docs/install.md carries what policy mode does not do, as the command prints it (src/policy/limits.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { limitsMarkdown } from '../../src/policy/limits.js';
import { repoPath } from '../helpers/paths.js';

test('docs/install.md lists what policy mode does not do, word for word', () => {
  const page = readFileSync(repoPath('docs', 'install.md'), 'utf8');
  assert.ok(page.includes(limitsMarkdown()), 'docs/install.md "Policy mode" list is stale: paste the output of limitsMarkdown() (src/policy/limits.ts)');
});
