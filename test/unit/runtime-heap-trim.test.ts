// The watcher's heap trim (src/runtime/watcher/heap-trim.ts): when it collects, and that a real Node process with
// --expose-gc gets its freed heap pages back, which an ordinary GC does not do. No timing is asserted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { startHeapTrim } from '../../src/runtime/watcher/heap-trim.js';
import { repoPath } from '../helpers/paths.js';

const MB = 1 << 20;

function fake(sizes: number[]) {
  const calls: string[] = [];
  let i = 0;
  const trim = startHeapTrim({
    intervalMs: 3_600_000, // the test calls check() itself
    slackBytes: MB,
    settleChecks: 2,
    gc: ((opts?: { flavor?: string }) => {
      calls.push(opts?.flavor ?? 'regular');
    }) as unknown as NodeJS.GCFunction,
    residentBytes: () => sizes[Math.min(i++, sizes.length - 1)] as number,
  });
  return { trim, calls };
}

test('without gc() (node started without --expose-gc) the trim is off and never collects', () => {
  const trim = startHeapTrim({ intervalMs: 3_600_000, slackBytes: MB, gc: undefined, residentBytes: () => 100 * MB });
  // globalThis.gc is undefined in this test process, so the default is off too.
  assert.equal(typeof globalThis.gc, 'undefined');
  assert.equal(startHeapTrim({ intervalMs: 3_600_000, slackBytes: MB }).active, false);
  assert.equal(trim.active, false);
  assert.equal(trim.check(), false);
  trim.stop();
});

test('trims unconditionally while settling, then only after growth beyond the slack, with a memory-reducing GC', () => {
  // resident() is read before and after each GC: settle (40 -> 30, 31 -> 30), then 30.5 (no), 32 -> 29, 29.9 (no), 31 -> 31.
  const { trim, calls } = fake([40, 30, 31, 30, 30.5, 32, 29, 29.9, 31, 31, 31.5].map((x) => x * MB));
  assert.equal(trim.check(), true, 'settling: trims');
  assert.equal(trim.check(), true, 'settling: trims whatever the size');
  assert.equal(trim.check(), false, '0.5 MB above the last trim: within the slack');
  assert.equal(trim.check(), true, '2 MB above: trims');
  assert.equal(trim.check(), false, 'below the new mark');
  assert.equal(trim.check(), true, '2 MB above 29: trims, and a GC that gives nothing back raises the mark to 31');
  assert.equal(trim.check(), false, '31.5: within the slack of the raised mark, no GC every check');
  assert.deepEqual(calls, ['last-resort', 'last-resort', 'last-resort', 'last-resort']);
  trim.stop();
});

test('a real process with --expose-gc: an ordinary GC keeps freed pages resident, the trim gives them back', () => {
  const script = `
    const { startHeapTrim } = await import(${JSON.stringify(pathToFileURL(repoPath('dist', 'src', 'runtime', 'watcher', 'heap-trim.js')).href)});
    const rss = () => process.memoryUsage.rss();
    let garbage = [];
    for (let i = 0; i < 300000; i++) garbage.push({ a: 'x' + i, b: [i, i + 1], c: { d: i } });
    garbage = null;
    globalThis.gc({ type: 'major', execution: 'sync' });
    const afterOrdinaryGc = rss();
    const trim = startHeapTrim({ intervalMs: 3600000, slackBytes: 1 << 20, settleChecks: 0 });
    const trimmed = trim.check();
    trim.stop();
    process.stdout.write(JSON.stringify({ active: trim.active, trimmed, afterOrdinaryGc, afterTrim: rss() }));`;
  const r = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { active: boolean; trimmed: boolean; afterOrdinaryGc: number; afterTrim: number };
  assert.equal(out.active, true);
  assert.equal(out.trimmed, true);
  const freed = (out.afterOrdinaryGc - out.afterTrim) / MB;
  assert.ok(freed > 20, `the trim gave back ${freed.toFixed(1)} MB that an ordinary GC kept (${(out.afterOrdinaryGc / MB).toFixed(1)} -> ${(out.afterTrim / MB).toFixed(1)} MB resident)`);
});
