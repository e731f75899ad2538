import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chainSpecs, formatDnatMap, parseDnatMap, writeFileAtomic, MAP_FORMAT, type DnatMap } from '../../src/runtime/dnat-map.js';
import { chainRestorePayload } from '../../src/runtime/iptables/rules.js';

const MAP: DnatMap = {
  format: MAP_FORMAT,
  generatedAt: '2026-01-02T03:04:05.000Z',
  namespace: 'shop',
  dnsSuffix: '.svc.cluster.local',
  chain: 'CANARY_DNAT',
  families: [4, 6],
  exclusions: [
    { family: 4, cidr: '169.254.169.254/32', source: 'imds' },
    { family: 6, cidr: 'fd00:ec2::254/128', source: 'imds' },
    { family: 4, cidr: '10.96.0.10/32', source: 'dns' },
  ],
  mappings: [
    { family: 4, service: 'orders', preview: 'orders-preview', scheme: 'pattern', protocol: 'TCP', port: 80, portName: 'http', activeIP: '10.96.0.20', previewIP: '10.96.0.21' },
    { family: 6, service: 'pay-active', preview: 'pay-preview', scheme: 'suffix', protocol: 'UDP', port: 53, activeIP: 'fd00::1', previewIP: 'fd00::2' },
  ],
  skipped: [{ service: 'db', preview: 'db-preview', code: 'headless', reason: 'db is headless (clusterIP: None)' }],
  conflicts: [{ loser: { service: 'orders', preview: 'x-preview', scheme: 'pattern' }, winner: { service: 'x-active', preview: 'x-preview', scheme: 'suffix' } }],
};

test('map round-trip: format -> parse gives the same map, and the same chain payloads', () => {
  const text = formatDnatMap(MAP);
  const back = parseDnatMap(text);
  assert.deepEqual(back, MAP);
  assert.deepEqual(chainSpecs(back).map(chainRestorePayload), chainSpecs(MAP).map(chainRestorePayload));
  assert.equal(formatDnatMap(back), text);
});

test('map is human-readable: commented header and one table row per exclusion and rule', () => {
  const text = formatDnatMap(MAP);
  const comments = text.split('\n').filter((l) => l.startsWith('#'));
  assert.match(comments[0] ?? '', /^# ghostwire DNAT map/);
  assert.ok(comments.some((l) => /^# dnat +IPv4 +10\.96\.0\.20:80\/TCP +-> +10\.96\.0\.21:80 +orders -> orders-preview \(pattern\)$/.test(l)), comments.join('\n'));
  assert.ok(comments.some((l) => /^# dnat +IPv6 +\[fd00::1\]:53\/UDP +-> +\[fd00::2\]:53/.test(l)));
  assert.ok(comments.some((l) => /^# exclude +IPv4 +10\.96\.0\.10\/32 +RETURN +dns$/.test(l)));
  assert.ok(comments.some((l) => l === '# skipped  db -> db-preview: db is headless (clusterIP: None)'));
  assert.ok(comments.some((l) => l.startsWith('# conflict orders -> x-preview (pattern) lost to x-active -> x-preview (suffix)')));
  // One mapping per line in the JSON part.
  assert.equal(text.split('\n').filter((l) => l.trim().startsWith('{"family"')).length, 5);
});

test('map parser refuses anything that could smuggle an argument into iptables', () => {
  const text = formatDnatMap(MAP);
  const bad: Array<[string, string, RegExp]> = [
    ['"10.96.0.20"', '"10.96.0.20 -j ACCEPT"', /mappings\[0\]\.activeIP .* is not a canonical IPv4 address/],
    ['"previewIP":"fd00::2"', '"previewIP":"FD00::2"', /mappings\[1\]\.previewIP/],
    ['"chain": "CANARY_DNAT"', '"chain": "OUTPUT"', /chain is not a valid chain name/],
    ['"service":"orders"', '"service":"orders\\" -j x"', /mappings\[0\]\.service .* is not a DNS-1035 Service name/],
    ['"port":80', '"port":0', /mappings\[0\]\.port must be 1-65535/],
    ['"protocol":"TCP"', '"protocol":"ICMP"', /mappings\[0\]\.protocol must be TCP, UDP or SCTP/],
    ['"cidr":"10.96.0.10/32"', '"cidr":"10.96.0.10/8"', /exclusions\[2\]\.cidr .* is not a canonical IPv4 CIDR/],
    ['"source":"dns"', '"source":"dns --x"', /exclusions\[2\]\.source must be a short word/],
    ['"families": [4,6]', '"families": [4]', /hold IPv6 but families do not/],
    ['"format": "ghostwire.dev/dnat-map/v1"', '"format": "v0"', /format is "v0"/],
    ['"dnsSuffix": ".svc.cluster.local"', '"dnsSuffix": "svc cluster"', /dnsSuffix is not a DNS suffix/],
    ['"family":6,"service"', '"family":4,"service"', /mappings\[1\]\.activeIP .* is not a canonical IPv4 address/],
  ];
  for (const [from, to, re] of bad) {
    assert.ok(text.includes(from), from);
    assert.throws(() => parseDnatMap(text.replace(from, to), '/shared/dnat.map'), (err: Error) => re.test(err.message) && err.message.startsWith('/shared/dnat.map: '), `${from} -> ${to}`);
  }
  assert.throws(() => parseDnatMap('# only comments\n'), /JSON record unreadable/);
});

test('atomic write: mode 0644 whatever the umask, replaces the file, leaves no temporary file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gw-map-'));
  const path = join(dir, 'sub', 'dnat.map');
  const old = process.umask(0o077);
  try {
    await writeFileAtomic(path, 'first\n');
    writeFileSync(join(dir, 'keep'), '');
    await writeFileAtomic(path, formatDnatMap(MAP));
  } finally {
    process.umask(old);
  }
  assert.equal(statSync(path).mode & 0o777, 0o644);
  assert.deepEqual(parseDnatMap(readFileSync(path, 'utf8')), MAP);
  assert.deepEqual(readdirSync(join(dir, 'sub')), ['dnat.map']);
  rmSync(dir, { recursive: true, force: true });
});

test('atomic write failure leaves the old file intact and no temporary file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gw-map-'));
  const path = join(dir, 'dnat.map');
  await writeFileAtomic(path, 'old\n');
  // Renaming a file over a directory fails after the temporary file was written.
  const target = join(dir, 'adir');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(join(target, 'x'), { recursive: true });
  await assert.rejects(writeFileAtomic(target, 'new\n'));
  assert.equal(readFileSync(path, 'utf8'), 'old\n');
  assert.deepEqual(readdirSync(dir).sort(), ['adir', 'dnat.map']);
  rmSync(dir, { recursive: true, force: true });
});
