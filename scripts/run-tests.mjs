#!/usr/bin/env node
// Runs the compiled test files of the chosen tiers in ONE `node --test` process, so CI reads one summary.
//   unit: test/unit, test/golden, test/server (fast, no root, no cluster)
//   all:  unit + test/runtime (network namespaces, root) + test/e2e (real kube-apiserver)
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';

const TIERS = {
  unit: ['unit', 'golden', 'server'],
  runtime: ['runtime'],
  e2e: ['e2e'],
  all: ['unit', 'golden', 'server', 'runtime', 'e2e'],
};
const tier = process.argv[2] ?? 'all';
const dirs = TIERS[tier];
if (!dirs) {
  console.error(`unknown tier "${tier}"; one of ${Object.keys(TIERS).join(', ')}`);
  process.exit(2);
}

function collect(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).sort().flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return collect(path);
    return name.endsWith('.test.js') ? [path] : [];
  });
}

const files = dirs.flatMap((d) => collect(join('dist', 'test', d)));
if (files.length === 0) {
  console.error(`no compiled tests found for tier "${tier}" (did the build run?)`);
  process.exit(1);
}
const extra = process.env.GW_TEST_ARGS ? process.env.GW_TEST_ARGS.split(' ') : [];
const result = spawnSync(process.execPath, ['--test', '--test-reporter=spec', ...extra, ...files], { stdio: 'inherit' });
process.exit(result.status ?? 1);
