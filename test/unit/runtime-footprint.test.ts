// What init and watch load at start-up, every injected pod pays for in private memory. Three loads were measured to
// cost the most on Node 24 and are kept out: undici (an ESM import of node:http reads its lazy WebSocket getter:
// ~6.5 MB), the YAML parser (the config/index.js barrel: ~4 MB) and the OpenTelemetry API (prom-client's index and
// CPU metric: ~3 MB). Not timed: the test looks at which modules a fresh process loaded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { repoPath } from '../helpers/paths.js';

interface Loaded {
  builtins: string[];
  files: string[];
}

/** The built-in and CommonJS modules a fresh node process holds after importing `specifiers` (nothing is run). */
function loadedAfterImport(specifiers: string[]): Loaded {
  const script = [
    ...specifiers.map((s) => `await import(${JSON.stringify(s)});`),
    "const { createRequire } = await import('node:module');",
    "process.stdout.write(JSON.stringify({ builtins: process.moduleLoadList, files: Object.keys(createRequire(process.cwd() + '/').cache) }));",
  ].join('\n');
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: repoPath(), encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as Loaded;
}

const command = (name: string): string => pathToFileURL(repoPath('dist', 'src', 'commands', `${name}.js`)).href;

function heavyLoads(l: Loaded): string[] {
  return [
    ...l.builtins.filter((b) => /internal\/deps\/undici/.test(b)),
    ...l.files.filter((f) => /\/node_modules\/(yaml|@opentelemetry\/api)\//.test(f)).map((f) => f.replace(/^.*\/node_modules\//, '')),
  ];
}

for (const name of ['init', 'watch']) {
  test(`ghostwire ${name} loads neither undici, the YAML parser nor the OpenTelemetry API at start-up`, () => {
    const loaded = loadedAfterImport([command(name)]);
    assert.ok(loaded.files.some((f) => f.includes('/node_modules/pino/')), 'the probe sees the CommonJS modules the command loads');
    assert.deepEqual(heavyLoads(loaded), []);
  });
}

test('the check can fail: an ESM import of node:http loads undici, the config barrel loads yaml, prom-client loads OpenTelemetry', () => {
  const loaded = loadedAfterImport(['node:http', pathToFileURL(repoPath('dist', 'src', 'config', 'index.js')).href, 'prom-client']);
  const heavy = heavyLoads(loaded);
  assert.ok(heavy.some((h) => /undici/.test(h)), heavy.join(', '));
  assert.ok(heavy.some((h) => h.startsWith('yaml/')), heavy.join(', '));
  assert.ok(heavy.some((h) => h.startsWith('@opentelemetry/api/')), heavy.join(', '));
});
