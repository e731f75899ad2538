// Node.js 24 is the one supported runtime (package.json engines, the Dockerfile's base image), so every test must run
// on it: a suite that passes on another major proves nothing about what ships. Run the suite through .ci/run, or put
// the directory printed by scripts/ensure-node.sh first on PATH (README "Quick start").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { repoPath } from '../helpers/paths.js';

const SUPPORTED_MAJOR = 24;
const engines = (JSON.parse(readFileSync(repoPath('package.json'), 'utf8')) as { engines: { node: string } }).engines.node;
const HOW = 'put the directory printed by `bash scripts/ensure-node.sh` first on PATH, or run .ci/run';

/** [major, minor, patch] of "v24.22.3" or "24.11.0". */
const parts = (version: string): number[] => version.replace(/^v/, '').split('.').map(Number);

/** Whether `version` satisfies a caret range "^M.m.p" (the only form package.json uses). */
function satisfiesCaret(version: string, range: string): boolean {
  const m = /^\^(\d+)\.(\d+)\.(\d+)$/.exec(range);
  if (!m) throw new Error(`engines.node ${JSON.stringify(range)} is not a ^M.m.p range`);
  const want = m.slice(1).map(Number) as [number, number, number];
  const [major, minor, patch] = parts(version) as [number, number, number];
  if (major !== want[0]) return false;
  return minor > want[1] || (minor === want[1] && patch >= want[2]);
}

test(`package.json engines requires Node.js ${SUPPORTED_MAJOR}`, () => {
  assert.match(engines, new RegExp(`^\\^${SUPPORTED_MAJOR}\\.\\d+\\.\\d+$`));
  assert.equal(satisfiesCaret('v24.22.3', engines), true);
  assert.equal(satisfiesCaret('v20.20.2', engines), false, 'the check can fail: Node 20 is refused');
  assert.equal(satisfiesCaret('v25.0.0', engines), false, 'the next major is refused');
  assert.equal(satisfiesCaret('v24.0.0', engines), false, 'a 24.x below the range is refused');
});

test(`this test process runs on Node.js ${SUPPORTED_MAJOR} within engines`, () => {
  assert.ok(satisfiesCaret(process.version, engines), `tests run on ${process.version} (${process.execPath}), engines.node is ${engines}: ${HOW}`);
});

test(`\`node\` on PATH (what npm scripts and #!/usr/bin/env node programs start) is Node.js ${SUPPORTED_MAJOR} too`, () => {
  const r = spawnSync('node', ['-p', 'process.version'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.error?.message ?? r.stderr);
  assert.ok(satisfiesCaret(r.stdout.trim(), engines), `node on PATH is ${r.stdout.trim()}, engines.node is ${engines}: ${HOW}`);
});
