// The watcher's connection executors against the REAL kernel: `conntrack -L/-R` and `ss -K` inside a network
// namespace, on TCP connections opened there to servers on ClusterIP-like addresses (test/helpers/connections-probe.ts
// runs in the namespace). What the parsers and selectors are tested for on text elsewhere is checked here on the
// tools' real output and behaviour.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoPath } from '../helpers/paths.js';
import { createNetns, routeSkipReason, type Netns } from '../helpers/netns.js';

const skip = routeSkipReason();
if (skip) console.log(`# runtime-connections skipped: ${skip}`);
const PROBE = repoPath('dist', 'test', 'helpers', 'connections-probe.js');

let ns: Netns;
let dir: string;

before(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'gw-rt-conn-'));
  ns = await createNetns('gw-conn');
  for (const a of ['10.96.0.20', '10.96.0.21', '10.96.0.30']) await ns.run('ip', ['addr', 'add', `${a}/32`, 'dev', 'lo']);
  // A namespace tracks connections only once a rule needs it (nf_tables: a NAT rule; in a pod, ghostwire's DNAT).
  await ns.run('iptables', ['-w', '5', '-t', 'nat', '-A', 'OUTPUT', '-d', '192.0.2.1/32', '-p', 'tcp', '--dport', '9', '-j', 'DNAT', '--to-destination', '192.0.2.2:9']);
});

after(async () => {
  await ns?.destroy();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface ProbeResult {
  listed?: Array<{ origDst: string; replySrc: string }>;
  wrong?: Array<{ dst: string; dport: number; src?: string; sport?: number }>;
  closed?: number;
  filters?: number;
  deleted?: number;
  after?: number;
  ends: string[];
  backendEnds: string[];
  error?: string;
}

async function probe(request: object): Promise<ProbeResult> {
  const r = await ns.exec(process.execPath, [PROBE], { input: `${JSON.stringify({ scratchDir: dir, ...request })}\n`, timeoutMs: 20_000 });
  const line = r.stdout.trim().split('\n').at(-1) ?? '';
  assert.ok(line.startsWith('{'), `probe: ${r.stdout}${r.stderr}`);
  return JSON.parse(line) as ProbeResult;
}

const toPreview = [{ family: 4, protocol: 'TCP', activeIP: '10.96.0.20', port: 80, target: '10.96.0.21' }];

test('real conntrack and ss: the wrong connections are listed, closed at the socket and their entries deleted; others stay', { skip }, async () => {
  const r = await probe({ connect: [{ ip: '10.96.0.20', port: 80 }, { ip: '10.96.0.20', port: 80 }, { ip: '10.96.0.30', port: 80 }], routes: toPreview });
  assert.equal(r.error, undefined);
  // conntrack -L -o extended, parsed: the two connections to .20 are not NATed (reply from .20 itself).
  assert.deepEqual(r.listed?.filter((e) => e.origDst === '10.96.0.20').map((e) => e.replySrc), ['10.96.0.20', '10.96.0.20']);
  assert.equal(r.wrong?.length, 2);
  assert.equal(r.closed, 2, 'ss -K closed both sockets');
  assert.equal(r.filters, 1, 'one conntrack -D for the destination and its wrong reply source');
  assert.ok((r.deleted ?? 0) <= 2, `conntrack -R reported ${r.deleted} deletions`);
  assert.equal(r.after, 0, 'no live entry to the rerouted destination is left');
  assert.deepEqual(r.ends.slice(0, 2), ['ECONNABORTED', 'ECONNABORTED'], 'the application saw its connections aborted');
  assert.deepEqual(r.backendEnds, ['ECONNRESET', 'ECONNRESET'], 'the old backend got a reset for each: no half-open socket is left there');
  assert.equal(r.ends[2], 'open', 'the connection to another destination is untouched');
});

test('routes that match the kernel select nothing: no socket closed, no entry deleted', { skip }, async () => {
  const r = await probe({ connect: [{ ip: '10.96.0.20', port: 80 }], routes: [{ family: 4, protocol: 'TCP', activeIP: '10.96.0.20', port: 80, target: '10.96.0.20' }] });
  assert.equal(r.error, undefined);
  assert.deepEqual([r.wrong?.length, r.closed, r.filters, r.deleted], [0, 0, 0, 0]);
  assert.deepEqual(r.ends, ['open']);
});

test('a missing binary is a clear error naming the tool, not a crash', { skip }, async () => {
  const r = await probe({ connect: [{ ip: '10.96.0.20', port: 80 }], routes: toPreview, path: '/nonexistent' });
  assert.match(r.error ?? '', /conntrack/);
  assert.deepEqual(r.ends, ['open']);
});
