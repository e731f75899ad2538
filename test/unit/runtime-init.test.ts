// `ghostwire init` end to end against the stub API server over HTTPS, with an in-memory iptables (no root).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, statSync, writeFileSync, rmSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { CLI } from '../helpers/paths.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { runInit } from '../../src/commands/init.js';
import { parseDnatMap } from '../../src/runtime/dnat-map.js';
import { parseSave } from '../../src/runtime/iptables/rules.js';
import { explainRestoreFailure, createExecutor } from '../../src/runtime/iptables/executor.js';
import { startKubeStub, svc, type KubeStub } from '../helpers/kube-stub.js';
import { fakeExecutor } from '../helpers/fake-iptables.js';
import { LogCapture } from '../helpers/log-capture.js';

let stub: KubeStub;
let dir: string;
let kubeconfig: string;
let resolv: string;

before(async () => {
  stub = await startKubeStub({
    services: [svc('orders', '10.96.0.20'), svc('orders-preview', '10.96.0.21'), svc('pay-active', ['10.96.1.1', 'fd00::1'], [443]), svc('pay-preview', ['10.96.1.2', 'fd00::2'], [443]), svc('db', 'None'), svc('db-preview', '10.96.3.3')],
  });
  dir = mkdtempSync(join(tmpdir(), 'gw-init-'));
  kubeconfig = stub.writeKubeconfig(dir);
  resolv = join(dir, 'resolv.conf');
  writeFileSync(resolv, 'nameserver 10.96.0.10\n');
});
after(async () => {
  await stub.close();
  rmSync(dir, { recursive: true, force: true });
});

function env(extra: Record<string, string> = {}): Record<string, string> {
  return { KUBECONFIG: kubeconfig, POD_NAMESPACE: stub.namespace, GW_IPTABLES_DNAT_MAP: join(dir, 'shared', 'dnat.map'), ...extra };
}

async function init(argv: string[], e: Record<string, string>, ex = fakeExecutor()) {
  const logs = new LogCapture();
  const out = new PassThrough();
  let stdout = '';
  out.on('data', (d: Buffer) => (stdout += d.toString()));
  const code = await runInit(['--resolv-conf', resolv, ...argv], { env: e, stdout: out, executor: ex, logDestination: logs as never });
  return { code, logs, stdout, ex };
}

test('init programs one batch per family and writes the map (0644); never touches the hooks', async () => {
  const e = env({ GW_IPV6: 'true' });
  const { code, ex, logs } = await init([], e);
  assert.equal(code, 0, JSON.stringify(logs.lines));
  assert.deepEqual(ex.restores.map((r) => r.family), [4, 6]);
  const nat4 = parseSave(ex.tables[4].save());
  assert.deepEqual(nat4?.rules.filter((r) => r.chain === 'OUTPUT' || r.chain === 'PREROUTING'), []);
  assert.equal(nat4?.rules.filter((r) => r.chain === 'CANARY_DNAT').length, 4); // imds, dns, orders, pay
  assert.equal(parseSave(ex.tables[6].save())?.rules.filter((r) => r.chain === 'CANARY_DNAT').length, 2); // imds v6, pay v6
  const mapPath = e.GW_IPTABLES_DNAT_MAP as string;
  assert.equal(statSync(mapPath).mode & 0o777, 0o644);
  const map = parseDnatMap(readFileSync(mapPath, 'utf8'));
  assert.deepEqual(map.mappings.map((m) => `${m.service}/${m.family}`), ['orders/4', 'pay-active/4', 'pay-active/6']);
  assert.ok(logs.find(/^skipping db -> db-preview: db is headless/));
  assert.ok(logs.find(/^programmed CANARY_DNAT with 3 DNAT rules and 3 exclusions; jump left as it was \(no POD_NAME\)$/));
});

test('init reads its own Pod\'s role: preview gets the jump in the same batch as the chain, active none; the watcher takes over from there', async () => {
  for (const [role, want] of [['preview', true], ['active', false], [undefined, false]] as const) {
    stub.setLabels(role ? { role } : {});
    const e = env({ GW_IPV6: 'true', POD_NAME: stub.podName });
    const since = Date.now();
    const { code, ex, logs } = await init([], e);
    assert.equal(code, 0, JSON.stringify(logs.lines));
    assert.deepEqual(ex.restores.map((r) => r.family), [4, 6], 'one batch per family, chain and jump together');
    for (const family of [4, 6] as const) {
      const jumps = parseSave(ex.tables[family].save())?.rules.filter((r) => r.chain === 'OUTPUT').map((r) => r.spec) ?? [];
      assert.deepEqual(jumps, want ? ['-j CANARY_DNAT'] : [], `${role ?? '(no label)'} IPv${family}`);
    }
    assert.equal(stub.count('get-pod', since), 1);
    assert.ok(logs.find(want ? /; jump to CANARY_DNAT first in OUTPUT \(preview\)$/ : /; no jump in OUTPUT \(active\)$/));
  }
  // A second run (a restarted pod sandbox keeps nothing, but be safe) converges without a duplicate jump.
  stub.setLabels({ role: 'preview' });
  const ex = fakeExecutor();
  await init([], env({ POD_NAME: stub.podName }), ex);
  await init([], env({ POD_NAME: stub.podName }), ex);
  assert.equal(parseSave(ex.tables[4].save())?.rules.filter((r) => r.chain === 'OUTPUT').length, 1);
});

test('init fails loud when it cannot read its Pod: the first connections could take the wrong route', async () => {
  stub.failPods = 403;
  try {
    const { code, ex, logs } = await init([], env({ POD_NAME: stub.podName }));
    assert.equal(code, 1);
    assert.equal(ex.restores.length, 0, 'nothing programmed');
    assert.match(logs.lines.find((l) => l.level === 'error')?.msg ?? '', /cannot read this Pod's role .* HTTP 403/);
  } finally {
    stub.failPods = undefined;
  }
});

test('init --dry-run prints the payloads and the map, touches neither iptables nor the file', async () => {
  const e = env({ GW_IPTABLES_DNAT_MAP: join(dir, 'dry', 'dnat.map') });
  const { code, ex, stdout } = await init(['--dry-run'], e);
  assert.equal(code, 0);
  assert.equal(ex.restores.length, 0);
  assert.equal(existsSync(join(dir, 'dry', 'dnat.map')), false);
  assert.match(stdout, /^### iptables-restore --noflush -w 5 <<EOF\n# ghostwire CANARY_DNAT \(IPv4\)/);
  assert.match(stdout, /-A CANARY_DNAT -d 10\.96\.0\.20\/32 -p tcp -m tcp --dport 80 .* -j DNAT --to-destination 10\.96\.0\.21:80/);
  assert.doesNotMatch(stdout, /ip6tables-restore/);
  const mapText = stdout.slice(stdout.indexOf('# ghostwire DNAT map'));
  assert.equal(parseDnatMap(mapText).mappings.length, 2);
});

test('a failing discovery exits 1 with ONE error line and leaves the previous chain and map untouched', async () => {
  const e = env();
  const first = await init([], e);
  assert.equal(first.code, 0);
  const before = first.ex.tables[4].save();
  const mapBefore = readFileSync(e.GW_IPTABLES_DNAT_MAP as string, 'utf8');
  stub.failServices = 500;
  try {
    const r = await init([], e, first.ex);
    assert.equal(r.code, 1);
    const errors = r.logs.lines.filter((l) => l.level === 'error');
    assert.equal(errors.length, 1);
    assert.match(errors[0]?.msg ?? '', /^init failed: discovery failed, chain CANARY_DNAT left as it was: GET \/api\/v1\/namespaces\/shop\/services\?limit=500: HTTP 500 InternalError: stub: services are unavailable$/);
    assert.equal(first.ex.tables[4].save(), before);
    assert.equal(readFileSync(e.GW_IPTABLES_DNAT_MAP as string, 'utf8'), mapBefore);
  } finally {
    stub.failServices = undefined;
  }
});

test('a failing restore exits 1 and does not write the map', async () => {
  const e = env({ GW_IPTABLES_DNAT_MAP: join(dir, 'fail', 'dnat.map') });
  const ex = fakeExecutor();
  ex.failRestores = 1;
  const r = await init([], e, ex);
  assert.equal(r.code, 1);
  assert.match(r.logs.lines.find((l) => l.level === 'error')?.msg ?? '', /programming failed: IPv4 chain CANARY_DNAT unchanged: .*xtables lock/);
  assert.equal(existsSync(join(dir, 'fail', 'dnat.map')), false);
});

test('credentials problems and unknown flags are reported clearly', async () => {
  const r = await init([], { POD_NAMESPACE: 'shop' });
  assert.equal(r.code, 1);
  assert.match(r.logs.lines.find((l) => l.level === 'error')?.msg ?? '', /no Kubernetes API credentials/);
  const bad = await init(['--frobnicate'], env());
  assert.equal(bad.code, 2);
});

test('executor: restore errors point at the payload line; a missing binary is named', async () => {
  const payload = '*nat\n:CANARY_DNAT - [0:0]\n-A CANARY_DNAT -j BOGUS\nCOMMIT\n';
  assert.equal(
    explainRestoreFailure("iptables-restore v1.8.9 (nf_tables): Chain 'BOGUS' does not exist\nError occurred at line: 3\nTry `iptables-restore -h' or 'iptables-restore --help' for more information.\n", payload),
    "iptables-restore v1.8.9 (nf_tables): Chain 'BOGUS' does not exist; Error occurred at line: 3 [payload line 3: -A CANARY_DNAT -j BOGUS]",
  );
  const path = process.env.PATH;
  process.env.PATH = dir; // no iptables here
  try {
    await assert.rejects(createExecutor().restore(6, payload), /ip6tables-restore not found in PATH/);
  } finally {
    process.env.PATH = path;
  }
});

test('ghostwire init --dry-run (the CLI) needs no root: run as an unprivileged user', async () => {
  // When the tests run as root, drop to nobody for this process; otherwise we already are unprivileged.
  const asRoot = process.getuid?.() === 0;
  const pub = mkdtempSync(join(tmpdir(), 'gw-init-pub-'));
  try {
    chmodSync(pub, 0o755);
    const kc = stub.writeKubeconfig(pub, { name: 'kubeconfig' });
    chmodSync(kc, 0o644);
    writeFileSync(join(pub, 'resolv.conf'), 'nameserver 10.96.0.10\n', { mode: 0o644 });
    const child = spawn(process.execPath, [CLI, 'init', '--dry-run', '--resolv-conf', join(pub, 'resolv.conf')], {
      env: { PATH: process.env.PATH ?? '', KUBECONFIG: kc, POD_NAMESPACE: stub.namespace, GW_IPTABLES_DNAT_MAP: join(pub, 'never', 'dnat.map') },
      ...(asRoot ? { uid: 65534, gid: 65534 } : {}),
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((r) => child.on('close', r));
    assert.equal(code, 0, err);
    assert.match(out, /-A CANARY_DNAT -d 10\.96\.0\.20\/32 .* --to-destination 10\.96\.0\.21:80/);
    assert.match(err, /dry run: iptables and the map file were not touched/);
    assert.equal(existsSync(join(pub, 'never')), false);
  } finally {
    rmSync(pub, { recursive: true, force: true });
  }
});
