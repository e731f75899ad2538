// Golden files of `ghostwire status`: the report of one cluster holding every case (table, JSON and YAML, the three
// -o formats) and of a healthy one (exit code 0), built by the real pipeline from test/helpers/status-cluster.ts.
// UPDATE_GOLDEN=1 rewrites them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { stringify } from 'yaml';
import { buildReport } from '../../src/status/report.js';
import { renderTable } from '../../src/status/table.js';
import { assertGolden } from '../helpers/golden.js';
import { repoPath } from '../helpers/paths.js';
import { allWellFixture, clusterFixture } from '../helpers/status-cluster.js';

const EXPECTED = ['all-well.table.txt', 'cluster.json', 'cluster.table.txt', 'cluster.yaml'];

test('status goldens: the cluster with every case, as table, JSON and YAML; exit code 3', async () => {
  const report = buildReport((await clusterFixture()).input);
  assert.equal(report.exitCode, 3);
  assertGolden('status/cluster.table.txt', renderTable(report));
  assertGolden('status/cluster.json', `${JSON.stringify(report, null, 2)}\n`);
  assertGolden('status/cluster.yaml', stringify(report, { lineWidth: 0 }));
});

test('status goldens: a healthy cluster says so and exits 0', async () => {
  const report = buildReport((await allWellFixture()).input);
  assert.deepEqual(report.attention, []);
  assert.equal(report.exitCode, 0);
  assertGolden('status/all-well.table.txt', renderTable(report));
});

test('status goldens: no orphaned or missing golden files', () => {
  if (process.env.UPDATE_GOLDEN === '1') return;
  assert.deepEqual(readdirSync(repoPath('test', 'golden', 'status')).sort(), EXPECTED);
});
