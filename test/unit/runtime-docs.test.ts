// docs/runtime.md's environment table is generated from src/config's OPTION_LIST; this fails when it is stale.
// UPDATE_GOLDEN=1 rewrites the section between the markers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { ENV_OPTIONS, DNAT_MAP_ENV, DEFAULT_DNAT_MAP, ANNOTATION_PREFIX } from '../../src/config/index.js';
import { repoPath } from '../helpers/paths.js';

const BEGIN = '<!-- env-table:begin (generated from src/config OPTION_LIST; UPDATE_GOLDEN=1 npm run test:unit rewrites it) -->';
const END = '<!-- env-table:end -->';

export function renderEnvTable(): string {
  const rows = [
    '| Variable | Annotation | Default | Used by | What it does |',
    '|---|---|---|---|---|',
  ];
  for (const o of ENV_OPTIONS) {
    const def = o.format(o.default as never);
    // Init reads the role too now (it installs the jump the role wants), so every routing option is used by both.
    const usedBy = o.group === 'watcher' ? (o.field === 'logLevel' ? 'init, watch' : 'watch') : 'init, watch';
    rows.push(`| \`${o.env}\` | \`${ANNOTATION_PREFIX}${o.key}\` | ${def === '' ? '(empty)' : `\`${def}\``} | ${usedBy} | ${o.description.replace(/\|/g, '\\|')} |`);
  }
  rows.push(`| \`${DNAT_MAP_ENV}\` | (set by the injector) | \`${DEFAULT_DNAT_MAP}\` | init, watch | Where init writes the DNAT map and the watcher reads it back (absolute path) |`);
  rows.push('| `POD_NAMESPACE` | (downward API) | | init, watch | Namespace used when `GW_NAMESPACE` is empty; falls back to `default` |');
  rows.push('| `POD_NAME` | (downward API) | | init, watch | The Pod whose role label init applies and the watcher follows (required by watch) |');
  rows.push('| `KUBECONFIG` | | | init, watch | Use this kubeconfig instead of the in-cluster service account (tests, laptops) |');
  return rows.join('\n');
}

test('docs/runtime.md env table matches src/config (regenerate with UPDATE_GOLDEN=1)', () => {
  const path = repoPath('docs', 'runtime.md');
  const doc = readFileSync(path, 'utf8');
  const start = doc.indexOf(BEGIN);
  const end = doc.indexOf(END);
  assert.ok(start !== -1 && end > start, 'docs/runtime.md lacks the env-table markers');
  const current = doc.slice(start + BEGIN.length, end).trim();
  const wanted = renderEnvTable();
  if (process.env.UPDATE_GOLDEN === '1' && current !== wanted) {
    writeFileSync(path, `${doc.slice(0, start + BEGIN.length)}\n${wanted}\n${doc.slice(end)}`);
    return;
  }
  assert.equal(current, wanted, 'docs/runtime.md env table is stale: run UPDATE_GOLDEN=1 npm run test:unit');
});

test('every GW_* variable named in docs/runtime.md exists', () => {
  const doc = readFileSync(repoPath('docs', 'runtime.md'), 'utf8');
  const known = new Set([...ENV_OPTIONS.map((o) => o.env as string), DNAT_MAP_ENV]);
  const named = new Set(doc.match(/\bGW_[A-Z0-9_]+/g) ?? []);
  for (const n of named) assert.ok(known.has(n), `docs/runtime.md mentions unknown variable ${n}`);
});
