// The memo's claim, checked: bounded by entries and by bytes, never keyed by unbounded caller content, and its byte
// estimate is an upper bound of the heap it really keeps alive, whatever annotation sets are sent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { BoundedCache, DEFAULT_MEMO_LIMITS, heapBytes, stringBytes } from '../../src/admission/memo.js';
import { repoPath } from '../helpers/paths.js';
import { SCENARIOS, type ProbeResult } from '../helpers/memo-probe.js';

const MiB = 1024 * 1024;

test('BoundedCache: entries and bytes stay within limits at every step; oversized values and long keys are never stored as given', () => {
  const cache = new BoundedCache<string>(50, 64 * 1024);
  for (let i = 0; i < 2000; i++) {
    const value = 'v'.repeat((i * 7919) % 9000);
    const key = i % 3 === 0 ? BoundedCache.key(`${'k'.repeat(10_000)}${i}`) : BoundedCache.key(`k${i}`);
    assert.ok(key.length <= 128, 'a key is short whatever its input');
    cache.set(key, value, stringBytes(value));
    assert.ok(cache.size.entries <= 50 && cache.size.bytes <= 64 * 1024, JSON.stringify(cache.size));
  }
  const big = 'x'.repeat(10 * 1024);
  assert.equal(cache.set('big', big, stringBytes(big)), big, 'an oversized value is returned...');
  assert.equal(cache.get('big'), undefined, '...but not kept (more than an eighth of the budget)');
  assert.equal(BoundedCache.key('x'.repeat(129)).length, 44);
});

test('heapBytes: iterative (a 100,000-deep value does not overflow the stack) and at least the text size', () => {
  let deep: unknown = [];
  for (let i = 0; i < 100_000; i++) deep = [deep];
  assert.ok(heapBytes(deep) >= 100_000 * 32);
  assert.ok(heapBytes({ a: 'x'.repeat(1000) }) > 1000);
  assert.equal(stringBytes('\u00e9'.repeat(8)), 24);
  assert.equal(stringBytes('\u20ac'.repeat(8)), 32);
});

function runProbe(scenario: string, requests: number, entries: number, bytes: number): ProbeResult {
  const r = spawnSync(process.execPath, ['--expose-gc', repoPath('dist', 'test', 'helpers', 'memo-probe.js'), scenario, String(requests), String(entries), String(bytes)], { encoding: 'utf8', maxBuffer: 1 << 20 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as ProbeResult;
}

test('hostile annotation sets cannot grow the memo past its budget, and what it keeps is no more than it accounts for', () => {
  const limits = { entries: 256, bytes: 2 * MiB };
  for (const scenario of Object.keys(SCENARIOS)) {
    const r = runProbe(scenario, 400, limits.entries, limits.bytes);
    for (const [name, c] of Object.entries(r.caches)) {
      assert.ok(c.entries <= limits.entries && c.bytes <= limits.bytes, `${scenario}: ${name} ${JSON.stringify(c)}`);
    }
    // Slack for what one GC leaves behind; main kept 42 MB alive here while accounting for 3 MB (slices of the
    // requests' strings).
    assert.ok(r.retainedBytes <= r.estimatedBytes + 0.5 * MiB, `${scenario}: ${(r.retainedBytes / MiB).toFixed(2)} MiB kept alive, ${(r.estimatedBytes / MiB).toFixed(2)} MiB accounted`);
    assert.ok(r.retainedBytes <= 4 * limits.bytes + 0.5 * MiB, `${scenario}: over the budget`);
  }
});

test('the default limits keep a rotation of 1,000 typical configs whole', () => {
  const r = runProbe('typical', 1000, DEFAULT_MEMO_LIMITS.entries, DEFAULT_MEMO_LIMITS.bytes);
  for (const [name, c] of Object.entries(r.caches)) assert.equal(c.entries, 1000, `${name} ${JSON.stringify(c)}`);
  assert.ok(r.retainedBytes <= r.estimatedBytes, `${r.retainedBytes} > ${r.estimatedBytes}`);
});
