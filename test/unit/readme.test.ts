import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { optionTableMarkdown } from '../../src/config/doc-table.js';
import { repoPath } from '../helpers/paths.js';

test('the README option table is the one generated from the option table', () => {
  const readme = readFileSync(repoPath('README.md'), 'utf8');
  assert.ok(readme.includes(optionTableMarkdown()), 'README.md option table is stale: paste the output of optionTableMarkdown() (src/config/doc-table.ts)');
});
