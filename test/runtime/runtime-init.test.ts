// `ghostwire init` with REAL iptables in a network namespace created by the test, real TCP servers on the
// "ClusterIPs" inside it, and the stub API server reached through a unix-socket bridge.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CLI } from '../helpers/paths.js';
import { iptablesBackend, runtimeSkipReason, stableSave, type Agent, type Netns } from '../helpers/netns.js';
import { svc, type KubeStub } from '../helpers/kube-stub.js';
import { startStubbedPod, type StubbedPod } from '../helpers/stubbed-pod.js';
import { parseDnatMap } from '../../src/runtime/dnat-map.js';

const skip = runtimeSkipReason({ ipv6: true });
if (skip) console.log(`# runtime-init skipped: ${skip}`);

let ns: Netns;
let stub: KubeStub;
let agent: Agent;
let dir: string;
let env: NodeJS.ProcessEnv;
let pod: StubbedPod;

before(async () => {
  if (skip) return;
  console.log(`# iptables backend: ${iptablesBackend()}`);
  pod = await startStubbedPod({
    name: 'gw-init',
    addresses: ['10.96.0.10', '10.96.0.20', '10.96.0.21', '10.96.0.40', '10.96.0.41', 'fd00:96::20', 'fd00:96::21'],
    backends: ['10.96.0.20:80=orders', '10.96.0.21:80=orders-preview', '10.96.0.40:80=billing', '10.96.0.41:80=billing-preview', '[fd00:96::20]:80=orders-v6', '[fd00:96::21]:80=orders-preview-v6'],
    stub: {
      services: [
        svc('orders', ['10.96.0.20', 'fd00:96::20']),
        svc('orders-preview', ['10.96.0.21', 'fd00:96::21']),
        // billing's active address is excluded: it must never be rewritten.
        svc('billing', '10.96.0.40'),
        svc('billing-preview', '10.96.0.41'),
        svc('db', 'None', [5432]),
        svc('db-preview', '10.96.0.51', [5432]),
      ],
    },
    // No POD_NAME: init programs the rules and leaves the jump as it is.
    env: { POD_NAME: undefined, GW_EXCLUDE_CIDRS: '10.96.0.40/32' },
  });
  ({ ns, stub, agent, dir, env } = pod);
});

after(async () => {
  await pod?.close();
});

const init = (extraEnv: NodeJS.ProcessEnv = {}, args: string[] = []) =>
  ns.exec(process.execPath, [CLI, 'init', '--resolv-conf', join(dir, 'resolv.conf'), ...args], { env: { ...env, ...extraEnv }, timeoutMs: 20_000 });
const save = async (family: 4 | 6 = 4) => ns.run(family === 4 ? 'iptables-save' : 'ip6tables-save', ['-t', 'nat']);

test('init programs the chain (exclusions first, DNAT per port) without the jump; traffic still reaches active', { skip }, async () => {
  const r = await init();
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const nat = stableSave(await save());
  const chain = nat.split('\n').filter((l) => l.startsWith('-A CANARY_DNAT'));
  assert.deepEqual(chain, [
    '-A CANARY_DNAT -d 169.254.169.254/32 -m comment --comment "ghostwire exclude imds" -j RETURN',
    '-A CANARY_DNAT -d 10.96.0.10/32 -m comment --comment "ghostwire exclude dns" -j RETURN',
    '-A CANARY_DNAT -d 10.96.0.40/32 -m comment --comment "ghostwire exclude GW_EXCLUDE_CIDRS" -j RETURN',
    '-A CANARY_DNAT -d 10.96.0.40/32 -p tcp -m tcp --dport 80 -m comment --comment "ghostwire billing -> billing-preview 80/tcp" -j DNAT --to-destination 10.96.0.41:80',
    '-A CANARY_DNAT -d 10.96.0.20/32 -p tcp -m tcp --dport 80 -m comment --comment "ghostwire orders -> orders-preview 80/tcp" -j DNAT --to-destination 10.96.0.21:80',
  ]);
  assert.doesNotMatch(nat, /-A (OUTPUT|PREROUTING) .*CANARY_DNAT/);
  assert.match(r.stdout, /skipping db -> db-preview: db is headless/);
  assert.equal(await agent.probe('10.96.0.20', 80), 'orders');
  const map = parseDnatMap(readFileSync(env.GW_IPTABLES_DNAT_MAP as string, 'utf8'));
  assert.equal(map.mappings.length, 2);
  assert.equal(statSync(env.GW_IPTABLES_DNAT_MAP as string).mode & 0o777, 0o644);
});

test('with a jump (what the watcher adds) real connections reach preview; the excluded active address is not rewritten', { skip }, async () => {
  await ns.run('iptables', ['-w', '5', '-t', 'nat', '-I', 'OUTPUT', '1', '-j', 'CANARY_DNAT']);
  try {
    assert.equal(await agent.probe('10.96.0.20', 80), 'orders-preview');
    assert.equal(await agent.probe('10.96.0.40', 80), 'billing');
    assert.equal(await agent.probe('10.96.0.21', 80), 'orders-preview');
  } finally {
    await ns.run('iptables', ['-w', '5', '-t', 'nat', '-D', 'OUTPUT', '-j', 'CANARY_DNAT']);
  }
  assert.equal(await agent.probe('10.96.0.20', 80), 'orders');
});

test('a second init leaves byte-identical iptables-save output (jump included)', { skip }, async () => {
  await ns.run('iptables', ['-w', '5', '-t', 'nat', '-I', 'OUTPUT', '1', '-j', 'CANARY_DNAT']);
  try {
    const first = stableSave(await save());
    const r = await init();
    assert.equal(r.code, 0, r.stderr);
    assert.equal(stableSave(await save()), first);
    assert.equal(await agent.probe('10.96.0.20', 80), 'orders-preview');
  } finally {
    await ns.run('iptables', ['-w', '5', '-t', 'nat', '-D', 'OUTPUT', '-j', 'CANARY_DNAT']);
  }
});

test('a failing discovery (API 500) exits non-zero with one error line and leaves rules and map untouched', { skip }, async () => {
  const before = stableSave(await save());
  const mapBefore = readFileSync(env.GW_IPTABLES_DNAT_MAP as string, 'utf8');
  stub.services.push(svc('new', '10.96.0.60'), svc('new-preview', '10.96.0.61'));
  stub.failServices = 500;
  try {
    const r = await init();
    assert.notEqual(r.code, 0);
    const errors = r.stdout.split('\n').filter((l) => l.includes('"level":"error"'));
    assert.equal(errors.length, 1, r.stdout);
    assert.match(errors[0] as string, /discovery failed, chain CANARY_DNAT left as it was: .*HTTP 500/);
    assert.equal(stableSave(await save()), before);
    assert.equal(readFileSync(env.GW_IPTABLES_DNAT_MAP as string, 'utf8'), mapBefore);
  } finally {
    stub.failServices = undefined;
    stub.services.splice(-2);
  }
});

test('a batch failing at its last line leaves the chain exactly as it was (the atomicity init relies on)', { skip }, async () => {
  const before = stableSave(await save());
  const bad = '*nat\n:CANARY_DNAT - [0:0]\n-F CANARY_DNAT\n-A CANARY_DNAT -d 10.0.0.1/32 -j RETURN\n-A CANARY_DNAT -j NO_SUCH_CHAIN\nCOMMIT\n';
  const r = await ns.exec('iptables-restore', ['--noflush', '-w', '5'], { input: bad });
  assert.notEqual(r.code, 0);
  assert.equal(stableSave(await save()), before);
});

test('--dry-run prints payload and map and changes nothing (iptables, map file)', { skip }, async () => {
  const before = stableSave(await save());
  const mapPath = join(dir, 'dry', 'dnat.map');
  const r = await init({ GW_IPTABLES_DNAT_MAP: mapPath, GW_NAT_CHAIN: 'DRY_CHAIN' }, ['--dry-run']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^### iptables-restore --noflush -w 5 <<EOF/);
  assert.match(r.stdout, /:DRY_CHAIN - \[0:0\]/);
  assert.equal(stableSave(await save()), before);
  assert.equal(existsSync(mapPath), false);
});

test('GW_IPV6=true programs ip6tables too and IPv6 connections follow the jump', { skip }, async () => {
  const r = await init({ GW_IPV6: 'true' });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const nat6 = stableSave(await save(6));
  assert.match(nat6, /-A CANARY_DNAT -d fd00:ec2::254\/128 .* -j RETURN/);
  assert.match(nat6, /-A CANARY_DNAT -d fd00:96::20\/128 -p tcp -m tcp --dport 80 .* -j DNAT --to-destination \[fd00:96::21\]:80/);
  assert.equal(await agent.probe('fd00:96::20', 80), 'orders-v6');
  await ns.run('ip6tables', ['-w', '5', '-t', 'nat', '-I', 'OUTPUT', '1', '-j', 'CANARY_DNAT']);
  try {
    assert.equal(await agent.probe('fd00:96::20', 80), 'orders-preview-v6');
    assert.equal(await agent.probe('10.96.0.20', 80), 'orders'); // no IPv4 jump
  } finally {
    await ns.run('ip6tables', ['-w', '5', '-t', 'nat', '-D', 'OUTPUT', '-j', 'CANARY_DNAT']);
  }
});
