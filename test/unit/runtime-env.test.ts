import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { configFromEnv, formatFieldErrors } from '../../src/config/index.js';
import { CLI } from '../helpers/paths.js';

const messages = (env: Record<string, string>): string => formatFieldErrors(configFromEnv(env).errors);

test('defaults without any GW_* variable; namespace falls back to POD_NAMESPACE then "default"', () => {
  const { config, errors } = configFromEnv({ POD_NAMESPACE: 'shop' });
  assert.deepEqual(errors, []);
  assert.equal(config.effectiveNamespace, 'shop');
  assert.equal(config.natChain, 'CANARY_DNAT');
  assert.equal(config.jumpHook, 'OUTPUT');
  assert.equal(config.dnatMapPath, '/shared/dnat.map');
  assert.equal(config.svcPreviewPattern, '{{name}}-preview');
  assert.equal(configFromEnv({}).config.effectiveNamespace, 'default');
  assert.equal(configFromEnv({ GW_NAMESPACE: 'other', POD_NAMESPACE: 'shop' }).config.effectiveNamespace, 'other');
});

test('values are parsed with the injector validators', () => {
  const { config, errors } = configFromEnv({
    GW_JUMP_HOOK: 'prerouting', GW_EXCLUDE_CIDRS: '10.3.5.0/16, 169.254.169.254', GW_IPV6: 'TRUE', GW_POLL_INTERVAL: '1m30s', GW_REFRESH_INTERVAL: '15m', GW_NAT_CHAIN: 'CANARY_DNAT_V2',
  });
  assert.deepEqual(errors, []);
  assert.equal(config.jumpHook, 'PREROUTING');
  // Canonical like the kernel holds them: the network address, an explicit prefix.
  assert.deepEqual(config.excludeCidrs, ['10.3.0.0/16', '169.254.169.254/32']);
  assert.equal(config.ipv6, true);
  assert.equal(config.pollIntervalMs, 90_000);
  assert.equal(config.refreshIntervalMs, 900_000);
  assert.equal(config.natChain, 'CANARY_DNAT_V2');
});

test('every bad value is reported with the variable name, the value and what is allowed', () => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ GW_JUMP_HOOK: 'INPUT' }, /^GW_JUMP_HOOK: "INPUT" is invalid; allowed: "OUTPUT" or "PREROUTING"$/],
    [{ GW_EXCLUDE_CIDRS: '10.0.0.0/8,not-a-cidr' }, /^GW_EXCLUDE_CIDRS: ".*" is invalid; allowed: .*"not-a-cidr" is not one/],
    [{ GW_POLL_INTERVAL: 'soon' }, /^GW_POLL_INTERVAL: "soon" is invalid; allowed: a duration/],
    [{ GW_REFRESH_INTERVAL: '1s' }, /^GW_REFRESH_INTERVAL: "1s" is invalid; allowed: empty \(off\) or a duration/],
    [{ GW_NAT_CHAIN: 'OUTPUT' }, /^GW_NAT_CHAIN: "OUTPUT" is invalid/],
    [{ GW_NAT_CHAIN: 'A; rm -rf /' }, /^GW_NAT_CHAIN: "A; rm -rf \/" is invalid/],
    [{ GW_IPV6: 'yes' }, /^GW_IPV6: "yes" is invalid; allowed: "true" or "false"$/],
    [{ GW_SVC_PREVIEW_PATTERN: '{{name}}' }, /^GW_SVC_PREVIEW_PATTERN: "\{\{name\}\}" is invalid/],
    [{ GW_ACTIVE_SUFFIX: '-x', GW_PREVIEW_SUFFIX: '-x' }, /^GW_PREVIEW_SUFFIX: "-x" is invalid; allowed: a suffix different from GW_ACTIVE_SUFFIX \(-x\)$/],
    [{ GW_IPTABLES_DNAT_MAP: 'relative/dnat.map' }, /^GW_IPTABLES_DNAT_MAP: "relative\/dnat.map" is invalid; allowed: an absolute file path/],
    [{ POD_NAME: 'Not_A_Pod' }, /^POD_NAME: "Not_A_Pod" is invalid/],
    [{ POD_NAMESPACE: 'UPPER' }, /^POD_NAMESPACE: "UPPER" is invalid/],
    [{ GW_LOG_LEVEL: 'trace' }, /^GW_LOG_LEVEL: "trace" is invalid; allowed: "debug" or "info" or "warn" or "error"$/],
  ];
  for (const [env, re] of cases) assert.match(messages(env), re, JSON.stringify(env));
  // Several at once: all of them, in table order.
  const { errors } = configFromEnv({ GW_JUMP_HOOK: 'X', GW_IPV6: 'maybe' });
  assert.deepEqual(errors.map((e) => e.field), ['GW_JUMP_HOOK', 'GW_IPV6']);
});

test('ghostwire init and watch refuse a bad variable with exit 2 and a log line naming it (no API needed)', () => {
  for (const cmd of ['init', 'watch']) {
    const r = spawnSync(process.execPath, [CLI, cmd], {
      env: { PATH: process.env.PATH ?? '', GW_JUMP_HOOK: 'FORWARD', POD_NAME: 'p', KUBECONFIG: '/nonexistent' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    assert.equal(r.status, 2, `${cmd}: ${r.stdout}${r.stderr}`);
    const line = (r.stdout + r.stderr).split('\n').find((l) => l.includes('invalid configuration'));
    assert.ok(line, `${cmd} printed: ${r.stdout}${r.stderr}`);
    const entry = JSON.parse(line) as { level: string; msg: string };
    assert.equal(entry.level, 'error');
    assert.match(entry.msg, /GW_JUMP_HOOK: "FORWARD" is invalid/);
  }
});

test('ghostwire watch names POD_NAME when it is missing', () => {
  const r = spawnSync(process.execPath, [CLI, 'watch'], { env: { PATH: process.env.PATH ?? '' }, encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.status, 2);
  const entry = JSON.parse((r.stdout + r.stderr).trim().split('\n')[0] as string) as { msg: string };
  assert.match(entry.msg, /POD_NAME: "" is invalid; allowed: the Pod's own name/);
});
