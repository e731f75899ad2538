// An IPv6 zone id ("fe80::1%eth0") has no iptables syntax: every way in refuses it with a message naming the field
// (annotation, defaults ConfigMap, GW_EXCLUDE_CIDRS), a Service address carrying one is skipped with its reason in the
// DNAT map, and `ghostwire init` reports instead of crashing (it used to die on a BigInt conversion).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { VERSION } from '../../src/version.js';
import { mutate } from '../../src/admission/mutate.js';
import { builtinDefaults, configFromEnv, formatFieldErrors, parseDefaults } from '../../src/config/index.js';
import { requestFor } from '../../src/offline/inject-documents.js';
import { runInit } from '../../src/commands/init.js';
import { parseDnatMap } from '../../src/runtime/dnat-map.js';
import { buildExclusions, resolvNameservers } from '../../src/runtime/exclusions.js';
import { startKubeStub, svc, type KubeStub } from '../helpers/kube-stub.js';
import { fakeExecutor } from '../helpers/fake-iptables.js';
import { LogCapture } from '../helpers/log-capture.js';

const ZONED = ['fe80::1%eth0', 'fe80::%eth0/64', 'fe80::1%25eth0/128', '10.0.0.0/8,fe80::1%lo'];

test('annotation: an excludeCidrs value with a zone id is denied naming the annotation and the bad part', () => {
  const ctx = { defaults: builtinDefaults(), version: VERSION, tunnelKey: 'zone-test-key-0123456789' };
  for (const value of ZONED) {
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', annotations: { 'ghostwire.dev/enabled': 'true', 'ghostwire.dev/excludeCidrs': value } }, spec: { containers: [{ name: 'c' }] } };
    const out = mutate(requestFor(pod, 'shop'), ctx);
    assert.equal(out.allowed, false, value);
    assert.match(out.denial?.message ?? '', /ghostwire\.dev\/excludeCidrs: ".*" is invalid; allowed: a comma-separated list of IPv4 or IPv6 CIDRs without zone ids/);
    assert.match(out.denial?.message ?? '', /\("fe80::[^"]*%[^"]*" is not one\)/, value);
  }
});

test('defaults ConfigMap: excludeCidrs with a zone id is rejected naming the key', () => {
  const { errors } = parseDefaults('excludeCidrs: ["10.0.0.0/8", "fe80::%eth0/64"]\n', 'ConfigMap ghostwire/ghostwire-defaults config.yaml');
  assert.equal(errors.length, 1);
  assert.match(formatFieldErrors(errors), /excludeCidrs: .* is invalid; allowed: .*without zone ids.*\("fe80::%eth0\/64" is not one\)/);
});

test('GW_EXCLUDE_CIDRS with a zone id is an error naming the variable; exclusions and resolv.conf never pass one on', () => {
  const { errors } = configFromEnv({ GW_EXCLUDE_CIDRS: 'fe80::1%eth0' });
  assert.equal(errors.length, 1);
  assert.equal(errors[0]?.field, 'GW_EXCLUDE_CIDRS');
  assert.match(formatFieldErrors(errors), /without zone ids/);
  assert.deepEqual(buildExclusions({ families: [4, 6], nameservers: ['fe80::1%eth0'], extra: ['fe80::%eth0/64'] }).map((e) => e.source), ['imds', 'imds']);
  assert.deepEqual(resolvNameservers('nameserver fe80::1%eth0\nnameserver 10.96.0.10\n'), ['fe80::1', '10.96.0.10']);
});

let stub: KubeStub;
let dir: string;
before(async () => {
  stub = await startKubeStub({
    services: [svc('orders', '10.96.0.20'), svc('orders-preview', '10.96.0.21'), svc('linklocal', 'fe80::20%eth0'), svc('linklocal-preview', 'fe80::21%eth0')],
  });
  dir = mkdtempSync(join(tmpdir(), 'gw-zone-'));
  writeFileSync(join(dir, 'resolv.conf'), 'nameserver 10.96.0.10\n');
});
after(async () => {
  await stub.close();
  rmSync(dir, { recursive: true, force: true });
});

async function init(extra: Record<string, string>) {
  const logs = new LogCapture();
  const env = { KUBECONFIG: stub.writeKubeconfig(dir), POD_NAMESPACE: stub.namespace, GW_IPTABLES_DNAT_MAP: join(dir, 'shared', 'dnat.map'), GW_IPV6: 'true', ...extra };
  const code = await runInit(['--resolv-conf', join(dir, 'resolv.conf')], { env, stdout: new PassThrough(), executor: fakeExecutor(), logDestination: logs as never });
  return { code, logs, mapPath: env.GW_IPTABLES_DNAT_MAP };
}

test('init: a Service ClusterIP with a zone id is skipped with its reason in the DNAT map; the rest is programmed', async () => {
  const r = await init({});
  assert.equal(r.code, 0, JSON.stringify(r.logs.lines));
  const map = parseDnatMap(readFileSync(r.mapPath, 'utf8'));
  assert.deepEqual(map.mappings.map((m) => m.service), ['orders']);
  const skip = map.skipped.find((s) => s.service === 'linklocal');
  assert.equal(skip?.code, 'invalid-cluster-ip');
  assert.match(skip?.reason ?? '', /linklocal has a ClusterIP with an IPv6 zone id, which iptables cannot match, "fe80::20%eth0"/);
  assert.match(readFileSync(r.mapPath, 'utf8'), /# skipped  linklocal -> linklocal-preview: .*zone id/);
});

test('init: GW_EXCLUDE_CIDRS with a zone id exits 2 naming the variable, no crash', async () => {
  const r = await init({ GW_EXCLUDE_CIDRS: '10.3.0.0/16,fe80::1%eth0' });
  assert.equal(r.code, 2);
  const error = r.logs.lines.find((l) => l.level === 'error')?.msg ?? '';
  assert.match(error, /GW_EXCLUDE_CIDRS: .* is invalid; allowed: .*without zone ids/);
  assert.doesNotMatch(error, /BigInt/);
});
