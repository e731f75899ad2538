// The webhook process (compiled `ghostwire serve`, the chart's V8 heap limits) through a bounded burst of hostile
// requests over real HTTPS: every answer stays small, the process never grows past what the chart's memory limit
// allows (requests beyond the in-flight body budget are refused with 503), keeps answering, and keeps no request
// alive in its memo.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { Agent, request as rawHttpsRequest } from 'node:https';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { CLI, repoPath } from '../helpers/paths.js';
import { httpsRequest, testCerts } from '../helpers/https.js';
import { deepReview } from '../helpers/hostile-objects.js';
import { until } from '../helpers/until.js';

const MiB = 1024 * 1024;

/** NODE_OPTIONS as charts/ghostwire/templates/deployment.yaml renders them from values.yaml. */
function chartNodeOptions(): { options: string; limitBytes: number } {
  const values = parse(readFileSync(repoPath('charts', 'ghostwire', 'values.yaml'), 'utf8')) as { heap: { maxOldSpaceMi: number; maxSemiSpaceMi: number }; resources: { limits: { memory: string } } };
  const limit = /^(\d+)Mi$/.exec(values.resources.limits.memory);
  assert.ok(limit, 'resources.limits.memory is in Mi');
  return { options: `--max-old-space-size=${values.heap.maxOldSpaceMi} --max-semi-space-size=${values.heap.maxSemiSpaceMi}`, limitBytes: Number(limit[1]) * MiB };
}

function status(pid: number, key: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1]) * 1024;
}

const review = (request: Record<string, unknown>) => JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request });
const podReview = (uid: string, annotations: Record<string, string>, spec: Record<string, unknown> = { containers: [{ name: 'c', image: 'c' }] }) =>
  review({ uid, kind: { group: '', version: 'v1', kind: 'Pod' }, namespace: 'shop', operation: 'CREATE', object: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'shop', annotations: { 'ghostwire.dev/enabled': 'true', ...annotations } }, spec } });

function hostileBurst(): Array<{ what: string; bodies: string[]; concurrency: number }> {
  const unknown: Record<string, string> = {};
  for (let i = 0; i < 110_000; i++) unknown[`ghostwire.dev/a${i}`] = '';
  const wide = (n: number, what: 'containers' | 'volumes') => ({ containers: what === 'containers' ? Array.from({ length: n }, (_, i) => ({ name: `c${i}`, image: 'a' })) : [{ name: 'c' }], ...(what === 'volumes' ? { volumes: Array.from({ length: n }, (_, i) => ({ name: `v${i}`, emptyDir: {} })) } : {}) });
  return [
    { what: '110,000 unknown annotations', bodies: [0, 1, 2].map((i) => podReview(`a${i}`, { ...unknown, [`ghostwire.dev/x${i}`]: '' })), concurrency: 1 },
    { what: '60,000 volumes', bodies: [0, 1, 2, 3].map((i) => podReview(`v${i}`, {}, wide(60_000 + i, 'volumes'))), concurrency: 4 },
    { what: '160,000 containers', bodies: [0, 1].map((i) => podReview(`c${i}`, {}, wide(160_000 + i, 'containers'))), concurrency: 2 },
    { what: 'a 5 MB uid', bodies: [0, 1, 2].map((i) => podReview('u'.repeat(5_000_000 + i), {})), concurrency: 2 },
    { what: '100,000-deep nesting', bodies: [deepReview(100_000)], concurrency: 1 },
    // More at once than the in-flight body budget admits: the rest are answered 503 before their bodies are read.
    { what: '16 reviews of 3 MB at once', bodies: Array.from({ length: 16 }, (_, i) => podReview(`f${i}`, {}, wide(100_000 + i, 'containers'))), concurrency: 16 },
    // Distinct configs whose values are slices of 200 KB strings: a memo that kept slices would keep all of them.
    { what: 'memo fill', bodies: Array.from({ length: 150 }, (_, i) => podReview(`m${i}`, { 'ghostwire.dev/roleLabelKey': `example.com/role-${i}${' '.repeat(200_000)}` })), concurrency: 4 },
  ];
}

/** A POST that announces `body` but sends only its headers until finish(); `status` is its answer's status code. */
function heldPost(port: number, body: string): { status: Promise<number>; finish: () => void } {
  const req = rawHttpsRequest({
    host: '127.0.0.1',
    port,
    method: 'POST',
    path: '/mutate',
    rejectUnauthorized: false,
    agent: false,
    headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
  });
  const status = new Promise<number>((resolve, reject) => {
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
  });
  req.flushHeaders();
  return { status, finish: () => req.end(body) };
}

test('a bounded hostile burst: small answers, peak memory well under the chart limit, the webhook keeps answering', { timeout: 180_000 }, async (t) => {
  const { options, limitBytes } = chartNodeOptions();
  const dir = mkdtempSync(join(tmpdir(), 'gw-mem-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const certs = testCerts();
  writeFileSync(join(dir, 'tls.crt'), certs.certPem);
  writeFileSync(join(dir, 'tls.key'), certs.keyPem, { mode: 0o600 });
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--host', '127.0.0.1', '--tls-cert', join(dir, 'tls.crt'), '--tls-key', join(dir, 'tls.key'), '--events', 'off'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_OPTIONS: options },
  });
  t.after(() => child.kill('SIGKILL'));
  let output = '';
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString();
      const m = /"address":\{[^}]*"port":(\d+)/.exec(output);
      if (m) resolve(Number(m[1]));
    });
    child.on('exit', (code) => reject(new Error(`serve exited ${code}: ${output}`)));
  });
  const legit = podReview('legit', {});
  assert.equal((await httpsRequest(port, 'POST', '/mutate', { body: legit })).json().response.allowed, true);
  const baseline = status(child.pid as number, 'VmRSS');
  let busy = 0;
  // Keep-alive connections, as the API server uses (a refused body is then read and dropped, not reset).
  const agent = new Agent({ keepAlive: true, maxSockets: 16 });
  t.after(() => agent.destroy());

  for (const group of hostileBurst()) {
    const queue = [...group.bodies];
    await Promise.all(
      Array.from({ length: group.concurrency }, async () => {
        for (let body = queue.shift(); body !== undefined; body = queue.shift()) {
          const res = await httpsRequest(port, 'POST', '/mutate', { body, agent });
          assert.ok(res.status === 200 || res.status === 400 || (res.status === 503 && group.concurrency > 4), `${group.what}: HTTP ${res.status}`);
          if (res.status === 503) busy++;
          assert.ok(res.body.length < 16 * 1024, `${group.what}: a ${res.body.length}-byte answer`);
        }
      }),
    );
  }
  // The budget, deterministically: six 5 MB reviews announce their size and hold their bodies back, so the two the
  // budget admits keep their reservations and the four others are answered 503 before sending a byte of body.
  const heldBody = podReview('held', { 'ghostwire.dev/pad': 'x'.repeat(5 * 1024 * 1024) });
  const held = Array.from({ length: 6 }, () => heldPost(port, heldBody));
  let answered = 0;
  for (const h of held) void h.status.then(() => answered++, () => undefined);
  await until('four held reviews refused before their bodies', () => answered, (n) => n >= 4, 10_000);
  for (const h of held) h.finish();
  const heldStatuses = await Promise.all(held.map((h) => h.status));
  assert.equal(heldStatuses.filter((code) => code === 503).length, 4, `statuses of the held reviews: ${heldStatuses.join(', ')}`);
  assert.equal(heldStatuses.filter((code) => code === 200).length, 2, `statuses of the held reviews: ${heldStatuses.join(', ')}`);
  const peak = status(child.pid as number, 'VmHWM');
  // Before the assertions, so a failing run still shows its figures.
  t.diagnostic(`NODE_OPTIONS ${options}: RSS ${(baseline / MiB).toFixed(0)} MiB before, peak ${(peak / MiB).toFixed(0)} MiB, ${(status(child.pid as number, 'VmRSS') / MiB).toFixed(0)} MiB after; ${busy} of the 16 at once answered 503`);
  const legitAfter = await httpsRequest(port, 'POST', '/mutate', { body: legit });
  assert.equal(legitAfter.json().response.allowed, true, 'the webhook still answers');
  assert.equal((await httpsRequest(port, 'GET', '/healthz')).status, 200);
  // Headroom under the chart's limit: the peak stays below 7/8 of it (measured: about two thirds).
  assert.ok(peak < (limitBytes * 7) / 8, `peak RSS ${(peak / MiB).toFixed(0)} MiB (baseline ${(baseline / MiB).toFixed(0)} MiB) against a ${(limitBytes / MiB).toFixed(0)} MiB limit`);
  assert.ok(!/"level":"(error|fatal)"/.test(output), output.slice(0, 500));
});
