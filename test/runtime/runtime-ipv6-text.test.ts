// IPv6 exclusions written in the text the kernel tools print, against REAL ip6tables in a network namespace the test
// creates: an IPv4-mapped exclusion (::ffff:0.0.0.0/96, often typed ::ffff:0:0/96) must compare equal to what
// ip6tables-save shows, or the watcher sees the chain as drifted and rebuilds it at every verify. A Service address
// with a zone id is skipped and init still programs the rest.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { CLI } from '../helpers/paths.js';
import { runtimeSkipReason, type Agent, type Netns } from '../helpers/netns.js';
import { svc, type KubeStub } from '../helpers/kube-stub.js';
import { startStubbedPod, type StubbedPod } from '../helpers/stubbed-pod.js';
import { chainSpecs, parseDnatMap } from '../../src/runtime/dnat-map.js';
import { chainState, parseSave } from '../../src/runtime/iptables/rules.js';

const skip = runtimeSkipReason({ ipv6: true });
if (skip) console.log(`# runtime-ipv6-text skipped: ${skip}`);

let ns: Netns;
let stub: KubeStub;
let agent: Agent;
let dir: string;
let env: NodeJS.ProcessEnv;
let pod: StubbedPod;

before(async () => {
  if (skip) return;
  pod = await startStubbedPod({
    name: 'gw-v6text',
    stub: {
      labels: { role: 'preview' },
      services: [svc('orders', 'fd00:96::20'), svc('orders-preview', 'fd00:96::21'), svc('linklocal', 'fe80::20%eth0'), svc('linklocal-preview', 'fe80::21%eth0')],
    },
    env: {
      GW_IPV6: 'true',
      // As users type them; ip6tables-save prints ::ffff:0.0.0.0/96 and ::ffff:10.0.0.0/104.
      GW_EXCLUDE_CIDRS: '::ffff:0:0/96,::ffff:a00:0/104',
      GW_POLL_INTERVAL: '200ms',
    },
  });
  ({ ns, stub, agent, dir, env } = pod);
});

after(async () => {
  await pod?.close();
});

const save6 = () => ns.run('ip6tables-save', ['-t', 'nat']);

test('init writes IPv4-mapped exclusions as ip6tables-save prints them; the chain compares equal; a zone-id Service is skipped', { skip }, async () => {
  const r = await ns.exec(process.execPath, [CLI, 'init', '--resolv-conf', join(dir, 'resolv.conf')], { env, timeoutMs: 20_000 });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const saved = await save6();
  assert.match(saved, /-A CANARY_DNAT -d ::ffff:0\.0\.0\.0\/96 .*-j RETURN/);
  assert.match(saved, /-A CANARY_DNAT -d ::ffff:10\.0\.0\.0\/104 .*-j RETURN/);
  const map = parseDnatMap(readFileSync(env.GW_IPTABLES_DNAT_MAP as string, 'utf8'));
  assert.deepEqual(map.exclusions.filter((e) => e.source === 'GW_EXCLUDE_CIDRS').map((e) => e.cidr), ['::ffff:0.0.0.0/96', '::ffff:10.0.0.0/104']);
  const spec = chainSpecs(map).find((s) => s.family === 6);
  assert.ok(spec);
  assert.equal(chainState(parseSave(saved), spec), 'ok');
  // The same comparison with the text main used to write: the kernel's chain would look drifted forever.
  const old = { ...spec, exclusions: spec.exclusions.map((e) => (e.cidr === '::ffff:0.0.0.0/96' ? { ...e, cidr: '::ffff:0:0/96' } : e)) };
  assert.equal(chainState(parseSave(saved), old), 'drifted');
  assert.equal(map.skipped.find((s) => s.service === 'linklocal')?.code, 'invalid-cluster-ip');
});

test('the watcher verifies every 200 ms for 3 s without seeing a drifted chain', { skip, timeout: 30_000 }, async () => {
  const child: ChildProcess = ns.spawn(process.execPath, [CLI, 'watch', '--listen', '127.0.0.1:0', '--verify-interval', '200ms', '--resolv-conf', join(dir, 'resolv.conf')], { env });
  try {
    const logs: Array<{ msg: string; port?: number }> = [];
    const port = await new Promise<number>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('watcher did not report its port')), 10_000);
      createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
        const entry = JSON.parse(line) as { msg: string; port?: number };
        logs.push(entry);
        if (typeof entry.port === 'number' && /health and metrics listening/.test(entry.msg)) {
          clearTimeout(t);
          resolve(entry.port);
        }
      });
    });
    await new Promise((r) => setTimeout(r, 3000));
    const metrics = (await agent.http(`http://127.0.0.1:${port}/metrics`)).body;
    assert.match(metrics, /^ghostwire_jump_state\{state="preview"\} 1$/m, 'the watcher verified and installed the jump');
    assert.doesNotMatch(metrics, /^ghostwire_chain_repairs_total\{[^}]*\} [1-9]/m, 'no repair: the chain never looked drifted');
    assert.deepEqual(logs.filter((l) => /was (drifted|missing)/.test(l.msg)), []);
    assert.match(await save6(), /-A OUTPUT -j CANARY_DNAT/);
  } finally {
    child.kill('SIGKILL');
  }
});
