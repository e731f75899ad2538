import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  OPTION_LIST,
  builtinDefaults,
  configFromEnv,
  configHash,
  formatFieldError,
  formatFieldErrors,
  parseDefaults,
  podEnv,
  resolveConfig,
  resolveEnabled,
} from '../../src/config/index.js';
import {
  formatDuration,
  parseChainName,
  parseCidrList,
  parseDurationMs,
  parseLabelKey,
  parseLabelValue,
  parsePreviewPattern,
  parseTunnelPorts,
} from '../../src/config/validate.js';

test('durations parse Go syntax and round-trip through formatDuration', () => {
  for (const [text, ms] of [['2s', 2000], ['500ms', 500], ['1m30s', 90_000], ['15m', 900_000], ['1h', 3_600_000], ['1.5s', 1500]] as const) {
    assert.equal(parseDurationMs(text), ms, text);
    assert.equal(parseDurationMs(formatDuration(ms)), ms);
  }
  for (const bad of ['2', 's', '2sec', '-1s', '2s ', '1m 30s', 'soon']) assert.equal(parseDurationMs(bad.trimEnd() === bad ? bad : `${bad}x`), undefined, bad);
});

test('CIDR lists accept IPv4 and IPv6, normalise bare addresses, reject junk with the bad entry named', () => {
  const ok = parseCidrList('169.254.169.254/32, 10.96.0.10 ,fd00:EC2::254/128,2001:db8::/32');
  assert.deepEqual(ok, { ok: true, value: ['169.254.169.254/32', '10.96.0.10/32', 'fd00:ec2::254/128', '2001:db8::/32'] });
  for (const bad of ['10.0.0.0/33', '10.0.0/8', 'fd00::/129', '1.2.3.4/-1', 'a,b', '10.0.0.0/8,,10.1.0.0/16', '10.0.0.0/8 -j ACCEPT']) {
    const r = parseCidrList(bad);
    assert.equal(r.ok, false, bad);
  }
  const r = parseCidrList('10.0.0.0/8,evil');
  assert.ok(!r.ok && r.allowed.includes('"evil"'));
});

test('chain names are iptables-safe, at most 28 characters, never a built-in or an option', () => {
  assert.equal(parseChainName('CANARY_DNAT').ok, true);
  assert.equal(parseChainName('A'.repeat(28)).ok, true);
  for (const bad of ['A'.repeat(29), '-j', '--flush', 'OUTPUT', 'accept', 'MY CHAIN', 'X;rm', '', 'Ä']) {
    assert.equal(parseChainName(bad).ok, false, bad);
  }
});

test('label keys and values follow Kubernetes syntax', () => {
  for (const good of ['role', 'rollouts.argoproj.io/role', 'app.kubernetes.io/name', 'a_b.c-d']) assert.equal(parseLabelKey(good).ok, true, good);
  for (const bad of ['', '/role', 'Role/x', '-role', 'role-', 'a/b/c', `${'a'.repeat(64)}`, 'ro le']) assert.equal(parseLabelKey(bad).ok, false, bad);
  assert.equal(parseLabelValue('preview').ok, true);
  for (const bad of ['', '-x', 'x-', 'a b', 'a'.repeat(64)]) assert.equal(parseLabelValue(bad).ok, false, bad);
});

test('preview pattern must contain {{name}} exactly once and otherwise DNS characters', () => {
  assert.equal(parsePreviewPattern('{{name}}-preview').ok, true);
  assert.equal(parsePreviewPattern('preview-{{name}}').ok, true);
  for (const bad of ['preview', '{{name}}', '{{name}}-{{name}}', '{{name}}_preview', '{{ name }}-x', '{{name}}-$(id)']) {
    assert.equal(parsePreviewPattern(bad).ok, false, bad);
  }
});

test('tunnel ports parse port[:name[:protocol]] and reject duplicates', () => {
  assert.deepEqual(parseTunnelPorts('8080:http,5353:dns:udp,9000'), {
    ok: true,
    value: [{ port: 8080, name: 'http', protocol: 'TCP' }, { port: 5353, name: 'dns', protocol: 'UDP' }, { port: 9000, protocol: 'TCP' }],
  });
  for (const bad of ['0', '70000', 'http', '80:HTTP', '80:http:icmp', '80,80', '80:a:tcp:x']) assert.equal(parseTunnelPorts(bad).ok, false, bad);
});

test('annotations override ConfigMap defaults, template over object; every bad annotation is named', () => {
  const { defaults, errors } = parseDefaults('roleLabelKey: track\nnatChain: TEAM_DNAT\n', 'test');
  assert.deepEqual(errors, []);
  const r = resolveConfig(defaults, [
    { 'ghostwire.dev/natChain': 'OBJECT_DNAT', 'ghostwire.dev/jumpHook': 'PREROUTING' },
    { 'ghostwire.dev/natChain': 'TEMPLATE_DNAT', 'ghostwire.dev/ipv6': 'maybe', 'ghostwire.dev/pollInterval': 'fast' },
  ]);
  assert.equal(r.config.roleLabelKey, 'track');
  assert.equal(r.config.natChain, 'TEMPLATE_DNAT');
  assert.equal(r.config.jumpHook, 'PREROUTING');
  assert.equal(r.config.ipv6, false, 'an invalid value leaves the lower layer in force');
  assert.deepEqual(r.errors.map((e) => e.field), ['ghostwire.dev/ipv6', 'ghostwire.dev/pollInterval']);
  const message = formatFieldErrors(r.errors);
  assert.match(message, /ghostwire\.dev\/ipv6: "maybe" is invalid; allowed: "true" or "false"/);
  assert.match(message, /ghostwire\.dev\/pollInterval: "fast" is invalid; allowed: a duration/);
});

test('cross-field rules: equal suffixes and requests above limits are reported', () => {
  const r = resolveConfig(builtinDefaults(), [{ 'ghostwire.dev/previewSuffix': '-active', 'ghostwire.dev/cpuRequest': '2', 'ghostwire.dev/cpuLimit': '500m' }]);
  assert.deepEqual(r.errors.map((e) => e.field).sort(), ['ghostwire.dev/cpuRequest', 'ghostwire.dev/previewSuffix']);
  assert.equal(r.config.cpuRequest, '10m', 'resources fall back as a whole so the pod stays valid');
  assert.equal(r.config.previewSuffix, '-preview', 'the suffixes fall back together, so warn mode injects a valid pair');
});

test('cross-field rules hold for every source: annotations, the defaults document and the GW_* environment', () => {
  const annotation = resolveConfig(builtinDefaults(), [{ 'ghostwire.dev/activeSuffix': '-x', 'ghostwire.dev/previewSuffix': '-x' }]);
  assert.deepEqual(annotation.errors.map(formatFieldError), ['ghostwire.dev/previewSuffix: "-x" is invalid; allowed: a suffix different from activeSuffix (-x)']);
  // The defaults document used to accept this, and then every enabled admission was denied naming an annotation
  // that did not exist.
  const doc = parseDefaults('activeSuffix: -x\npreviewSuffix: -x\n', 'ConfigMap gw/defaults config.yaml');
  assert.deepEqual(doc.errors.map(formatFieldError), ['previewSuffix: "-x" is invalid; allowed: a suffix different from activeSuffix (-x)']);
  assert.equal(doc.errors[0]?.source, 'ConfigMap gw/defaults config.yaml');
  const env = configFromEnv({ GW_ACTIVE_SUFFIX: '-x', GW_PREVIEW_SUFFIX: '-x' });
  assert.deepEqual(env.errors.map(formatFieldError), ['GW_PREVIEW_SUFFIX: "-x" is invalid; allowed: a suffix different from GW_ACTIVE_SUFFIX (-x)']);
  // Resources: the document names its keys, annotations their keys.
  const res = parseDefaults('cpuRequest: "2"\ncpuLimit: 500m\n', 'f');
  assert.deepEqual(res.errors.map(formatFieldError), ['cpuRequest: "2" is invalid; allowed: at most cpuLimit (500m)']);
});

test('unknown ghostwire.dev annotations are reported, output annotations are not', () => {
  const r = resolveConfig(builtinDefaults(), [{ 'ghostwire.dev/natchain': 'X', 'ghostwire.dev/status': '{}', 'other.io/x': 'y' }]);
  assert.equal(r.notices.length, 1);
  assert.match(r.notices[0] as string, /ghostwire\.dev\/natchain/);
});

test('enabled: the highest layer decides, an invalid value is an error', () => {
  assert.equal(resolveEnabled([{ 'ghostwire.dev/enabled': 'true' }, { 'ghostwire.dev/enabled': 'false' }]).enabled, false);
  assert.equal(resolveEnabled([{ 'ghostwire.dev/enabled': 'false' }, { 'ghostwire.dev/enabled': 'TRUE' }]).enabled, true);
  assert.equal(resolveEnabled([undefined, {}]).enabled, false);
  const bad = resolveEnabled([{ 'ghostwire.dev/enabled': 'yes' }]);
  assert.equal(bad.enabled, false);
  assert.equal(bad.error?.field, 'ghostwire.dev/enabled');
});

test('defaults documents: unknown keys, bad values and bad YAML reject the whole document', () => {
  for (const [text, field] of [
    ['natChain: "has space"', 'natChain'],
    ['nosuchkey: 1', 'nosuchkey'],
    ['invalidAnnotations: maybe', 'invalidAnnotations'],
    ['network:\n  enableTunnel: true', 'network.wildcardDNS'],
    ['network:\n  bogus: 1', 'network.bogus'],
    ['[1, 2]', '(document)'],
    ['a: [', '(document)'],
  ] as const) {
    const r = parseDefaults(text, 'ConfigMap ns/cm config.yaml');
    assert.ok(r.errors.some((e) => e.field === field), `${text} -> ${JSON.stringify(r.errors)}`);
    assert.ok(r.errors.every((e) => e.source === 'ConfigMap ns/cm config.yaml'));
  }
  const ok = parseDefaults('ipv6: true\npollInterval: 5s\nexcludeCidrs: [10.0.0.0/8]\nnetwork:\n  enableTunnel: true\n  wildcardDNS: tunnel.example.com\n', 'x');
  assert.deepEqual(ok.errors, []);
  assert.equal(ok.defaults.config.ipv6, true);
  assert.equal(ok.defaults.config.pollIntervalMs, 5000);
  assert.equal(ok.defaults.config.tunnel, true, 'network.enableTunnel turns tunnels on by default');
});

test('the GW_* environment round-trips through podEnv and configFromEnv', () => {
  const r = resolveConfig(builtinDefaults(), [{ 'ghostwire.dev/excludeCidrs': '10.0.0.0/8,fd00::/8', 'ghostwire.dev/refreshInterval': '15m', 'ghostwire.dev/jumpHook': 'PREROUTING' }]);
  const env = Object.fromEntries(podEnv(r.config).map((e) => [e.name, e.value]));
  const back = configFromEnv({ ...env, POD_NAMESPACE: 'shop', POD_NAME: 'web-1' });
  assert.deepEqual(back.errors, []);
  assert.deepEqual(back.config.excludeCidrs, ['10.0.0.0/8', 'fd00::/8']);
  assert.equal(back.config.refreshIntervalMs, 900_000);
  assert.equal(back.config.jumpHook, 'PREROUTING');
  assert.equal(back.config.effectiveNamespace, 'shop');
  assert.equal(back.config.podName, 'web-1');
  const bad = configFromEnv({ GW_JUMP_HOOK: 'INPUT', GW_NAT_CHAIN: 'x y' });
  assert.deepEqual(bad.errors.map((e) => e.field), ['GW_NAT_CHAIN', 'GW_JUMP_HOOK']);
});

test('every option has a unique key, and env names follow GW_<UPPER_SNAKE>', () => {
  const keys = OPTION_LIST.map((o) => o.key);
  assert.equal(new Set(keys).size, keys.length);
  for (const o of OPTION_LIST) if (o.env) assert.match(o.env, /^GW_[A-Z0-9_]+$/);
});

test('config hash is stable and changes with any option', () => {
  const a = builtinDefaults().config;
  assert.equal(configHash(a), configHash({ ...a }));
  assert.notEqual(configHash(a), configHash({ ...a, natChain: 'OTHER' }));
  assert.notEqual(configHash(a), configHash(a, { 'ghostwire.dev/tunnel-endpoint': 'x' }));
  assert.match(configHash(a), /^[0-9a-f]{16}$/);
});

test('certificate expiry is read for ECDSA certificates too', async () => {
  const { generateKeyPairSync, X509Certificate } = await import('node:crypto');
  const { certificateNotAfter } = await import('../../src/tls/certs.js');
  const { execFileSync } = await import('node:child_process');
  const { mkdtempSync, writeFileSync, readFileSync, rmSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'gw-ec-'));
  try {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    writeFileSync(join(dir, 'k.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
    execFileSync('openssl', ['req', '-x509', '-key', join(dir, 'k.pem'), '-subj', '/CN=ec', '-days', '3', '-out', join(dir, 'c.pem')], { stdio: 'ignore' });
    const pem = readFileSync(join(dir, 'c.pem'), 'utf8');
    assert.equal(certificateNotAfter(pem).getTime(), Date.parse(new X509Certificate(pem).validTo));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
