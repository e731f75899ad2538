import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import {
  TUNNEL_CLIENT_COMMAND_ANNOTATION as CMD,
  TUNNEL_ENDPOINT_ANNOTATION as ENDPOINT,
  TUNNEL_PRE_EXEC_ANNOTATION as PRE,
} from '../../src/config/options.js';
import { type TunnelAnnotations, tunnelAnnotations } from '../../src/shadow/annotations.js';
import { type ShadowDeployment, planShadow } from '../../src/shadow/manifests.js';
import { upgradePathPrefix } from '../../src/shadow/tunnel-key.js';
import { TEST_TUNNEL_KEY, config, input, network } from '../helpers/shadow-fixtures.js';

/** What the injector does with the result on a pod template's annotations. */
function applyTo(annotations: Record<string, string>, a: TunnelAnnotations): Record<string, string> {
  const out = { ...annotations };
  for (const k of a.remove) delete out[k];
  Object.assign(out, a.set);
  return out;
}

test('same input gives byte-identical annotations, whatever the order of the declared ports', () => {
  const a = tunnelAnnotations(input());
  const b = tunnelAnnotations(input({ containerPorts: [...input().containerPorts].reverse() }));
  assert.equal(JSON.stringify(a), JSON.stringify(b));
  for (const fullMesh of [false, true]) {
    const x = tunnelAnnotations(input({ config: config({ fullMesh }) }));
    const y = tunnelAnnotations(input({ config: config({ fullMesh }) }));
    assert.equal(JSON.stringify(x), JSON.stringify(y));
  }
});

test('plain mode: endpoint + client command with one sorted -R per TCP/UDP port', () => {
  const a = tunnelAnnotations(
    input({
      containerPorts: [
        { port: 10000, protocol: 'TCP' },
        { port: 9, protocol: 'TCP' },
        { port: 80, protocol: 'TCP' },
        { port: 53, protocol: 'UDP' },
        { port: 3868, protocol: 'SCTP' },
      ],
    }),
  );
  assert.deepEqual(a.errors, []);
  assert.deepEqual(Object.keys(a.set), [ENDPOINT, CMD]);
  assert.deepEqual(a.remove, [PRE]);
  const cmd = a.set[CMD]!;
  const forwards = [...cmd.matchAll(/-R '([a-z]+):\/\/\[::\]:(\d+):localhost:(\d+)'/g)].map((m) => `${m[1]}/${m[2]}`);
  assert.deepEqual(forwards, ['tcp/9', 'udp/53', 'tcp/80', 'tcp/10000'], 'numeric order, UDP included, SCTP left out');
  assert.match(cmd, /^wstunnel client --http-upgrade-path-prefix [0-9a-f]{32} /);
  assert.ok(cmd.endsWith(' ws://my-pod-default.tunnel.example.com:80'));
});

test('TLS decides the URL: wss://<endpoint>:443 on, ws://<endpoint>:80 off (client command and pre-exec)', () => {
  for (const fullMesh of [false, true]) {
    const on = tunnelAnnotations(input({ config: config({ fullMesh }), network: network({ ingressTLS: true }) }));
    const off = tunnelAnnotations(input({ config: config({ fullMesh }), network: network({ ingressTLS: false }) }));
    const key = fullMesh ? PRE : CMD;
    assert.ok(on.set[key]!.includes('wss://my-pod-default.tunnel.example.com:443'));
    assert.ok(!on.set[key]!.includes('ws://my-pod-default.tunnel.example.com:80'));
    assert.ok(off.set[key]!.includes('ws://my-pod-default.tunnel.example.com:80'));
    assert.ok(!off.set[key]!.includes('wss://'));
  }
});

test('switching mode removes the other mode\'s annotation; turning the tunnel off removes all', () => {
  const plain = tunnelAnnotations(input());
  const mesh = tunnelAnnotations(input({ config: config({ fullMesh: true }) }));
  const off = tunnelAnnotations(input({ config: config({ tunnel: false }) }));
  let tpl: Record<string, string> = { 'app.example/keep': 'yes' };
  tpl = applyTo(tpl, plain);
  assert.deepEqual(Object.keys(tpl).sort(), ['app.example/keep', CMD, ENDPOINT].sort());
  tpl = applyTo(tpl, mesh);
  assert.deepEqual(Object.keys(tpl).sort(), ['app.example/keep', ENDPOINT, PRE].sort());
  tpl = applyTo(tpl, plain);
  assert.deepEqual(Object.keys(tpl).sort(), ['app.example/keep', CMD, ENDPOINT].sort());
  tpl = applyTo(tpl, off);
  assert.deepEqual(tpl, { 'app.example/keep': 'yes' });
  assert.deepEqual(off, { set: {}, remove: [ENDPOINT, CMD, PRE], errors: [] });
});

test('reruns never duplicate the pre-exec script: the value is replaced whole', () => {
  const mesh = tunnelAnnotations(input({ config: config({ fullMesh: true }) }));
  let tpl: Record<string, string> = { [PRE]: '#!/bin/sh\necho a user script that was there before\n' };
  for (let i = 0; i < 3; i++) tpl = applyTo(tpl, mesh);
  assert.equal(tpl[PRE], mesh.set[PRE]);
  assert.equal(tpl[PRE]!.split('#!/bin/sh').length - 1, 1, 'exactly one script');
});

test('the full-mesh script names the keys Secret and carries no key', () => {
  const mesh = tunnelAnnotations(input({ config: config({ fullMesh: true }) }));
  const script = mesh.set[PRE]!;
  assert.ok(script.includes('Secret default/shadow-my-pod-wg-keys'));
  assert.ok(script.includes('/run/secrets/ghostwire/shadow-my-pod-wg-keys'));
  assert.ok(!/PrivateKey = [A-Za-z0-9+/]{43}=/.test(script), 'no inline private key');
  assert.ok(!/[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=/.test(script), 'no base64 key anywhere');
  assert.ok(script.includes("-L 'udp://127.0.0.1:51820:127.0.0.1:51820?timeout_sec=0'"));
  assert.ok(script.includes('AllowedIPs = 10.7.0.1/32, 10.105.0.0/16, 10.244.0.0/16'));
});

test('the upgrade-path prefix is HMAC-SHA256(key, namespace/name), the same in the Deployment and the command', () => {
  const expected = createHmac('sha256', TEST_TUNNEL_KEY).update('default/my-pod').digest('hex').slice(0, 32);
  assert.equal(upgradePathPrefix(TEST_TUNNEL_KEY, 'default', 'my-pod'), expected);
  for (const fullMesh of [false, true]) {
    const a = tunnelAnnotations(input({ config: config({ fullMesh }) }));
    const text = a.set[fullMesh ? PRE : CMD]!;
    assert.ok(text.includes(`--http-upgrade-path-prefix ${expected} `));
    const deployment = planShadow(input({ config: config({ fullMesh }) })).objects.find((o) => o.kind === 'Deployment') as ShadowDeployment;
    const args = deployment.spec!.template.spec!.containers[0]!.args!;
    assert.equal(args[args.indexOf('--restrict-http-upgrade-path-prefix') + 1], expected);
  }
  assert.notEqual(upgradePathPrefix(TEST_TUNNEL_KEY, 'default', 'other'), expected);
  assert.notEqual(upgradePathPrefix(TEST_TUNNEL_KEY, 'other', 'my-pod'), expected);
  assert.notEqual(upgradePathPrefix(`${TEST_TUNNEL_KEY}x`, 'default', 'my-pod'), expected);
  // "a/b" + "c" and "a" + "b/c" cannot be confused: namespaces never contain "/".
});

test('errors say why a tunnel cannot be rendered, and leave no stale annotations', () => {
  const all = [ENDPOINT, CMD, PRE];
  const noDns = tunnelAnnotations(input({ network: network({ wildcardDNS: '' }) }));
  assert.deepEqual(noDns.set, {});
  assert.deepEqual(noDns.remove, all);
  assert.match(noDns.errors.join(), /wildcardDNS is empty/);
  const noPorts = tunnelAnnotations(input({ containerPorts: [] }));
  assert.match(noPorts.errors.join(), /no port to tunnel/);
  assert.deepEqual(tunnelAnnotations(input({ containerPorts: [], config: config({ fullMesh: true }) })).errors, [], 'full mesh needs no port');
  const sctp = tunnelAnnotations(input({ config: config({ tunnelPorts: [{ port: 3868, protocol: 'SCTP' }] }) }));
  assert.match(sctp.errors.join(), /3868\/SCTP cannot be tunnelled/);
  const reserved = tunnelAnnotations(input({ containerPorts: [{ port: 28080, protocol: 'TCP' }] }));
  assert.match(reserved.errors.join(), /28080\/TCP is reserved/);
  const wg = tunnelAnnotations(input({ config: config({ fullMesh: true, tunnelPorts: [{ port: 51820, protocol: 'UDP' }] }) }));
  assert.match(wg.errors.join(), /51820\/UDP is reserved/);
  const badNs = tunnelAnnotations(input({ namespace: 'Not_A_Namespace' }));
  assert.match(badNs.errors.join(), /not a DNS-1123 label/);
});

test('tunnelPorts are added to the container ports', () => {
  const a = tunnelAnnotations(input({ containerPorts: [{ port: 8080, protocol: 'TCP' }], config: config({ tunnelPorts: [{ port: 7000, name: 'extra', protocol: 'TCP' }] }) }));
  assert.match(a.set[CMD]!, /tcp:\/\/\[::\]:7000:localhost:7000'.*tcp:\/\/\[::\]:8080:localhost:8080'/);
});
