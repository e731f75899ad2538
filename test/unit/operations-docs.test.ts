// docs/operations.md shows what the code does: its reason-code table is generated from REASON_CODES, its example
// output is the golden table, and every code the report produced for the golden cluster is documented.
// UPDATE_GOLDEN=1 rewrites both generated sections.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { REASON_CODES } from '../../src/status/reasons.js';
import { buildReport } from '../../src/status/report.js';
import { repoPath } from '../helpers/paths.js';
import { clusterFixture } from '../helpers/status-cluster.js';

const DOC = repoPath('docs', 'operations.md');

function section(name: string, wanted: string): void {
  const doc = readFileSync(DOC, 'utf8');
  const begin = doc.indexOf(`<!-- ${name}:begin`);
  const open = doc.indexOf('-->', begin) + 3;
  const end = doc.indexOf(`<!-- ${name}:end -->`);
  assert.ok(begin !== -1 && end > open, `docs/operations.md lacks the ${name} markers`);
  const current = doc.slice(open, end).trim();
  if (process.env.UPDATE_GOLDEN === '1' && current !== wanted) {
    writeFileSync(DOC, `${doc.slice(0, open)}\n${wanted}\n${doc.slice(end)}`);
    return;
  }
  assert.equal(current, wanted, `docs/operations.md ${name} is stale: run UPDATE_GOLDEN=1 npm run test:unit`);
}

test('docs/operations.md reason codes are REASON_CODES', () => {
  section('reason-codes', ['| code | meaning |', '|---|---|', ...REASON_CODES.map(([c, m]) => `| \`${c}\` | ${m} |`)].join('\n'));
});

test('docs/operations.md example output is the golden table', () => {
  section('status-example', `\`\`\`\n${readFileSync(repoPath('test', 'golden', 'status', 'cluster.table.txt'), 'utf8').trimEnd()}\n\`\`\``);
});

test('every reason code the golden cluster produces is documented', async () => {
  const report = buildReport((await clusterFixture()).input);
  const documented = new Set(REASON_CODES.map(([c]) => c));
  const used = new Set(report.workloads.map((w) => w.reason).filter((r): r is string => r !== null));
  assert.ok(used.size >= 8);
  for (const code of used) assert.ok(documented.has(code), `reason ${code} is not in REASON_CODES`);
});
