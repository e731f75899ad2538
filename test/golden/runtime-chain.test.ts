// The exact iptables-restore payloads and DNAT map for a realistic namespace. Regenerate with UPDATE_GOLDEN=1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configFromEnv } from '../../src/config/index.js';
import { planFromServices } from '../../src/runtime/program.js';
import { parseDnatMap, formatDnatMap } from '../../src/runtime/dnat-map.js';
import { svc } from '../helpers/kube-stub.js';
import { assertGolden } from '../helpers/golden.js';

const SERVICES = [
  { ...svc('kubernetes', '10.96.0.1', [443]) },
  svc('web', '10.96.10.1', [80, 443]),
  svc('web-preview', '10.96.10.2', [443, 80]),
  // Both schemes claim orders-preview: the suffix pair wins, `orders` is the logged loser.
  svc('orders', '10.96.20.3', [8080]),
  svc('orders-active', '10.96.20.1', [8080, 9090]),
  svc('orders-preview', '10.96.20.2', [8080, 9090]),
  // Dual-stack, IPv6 primary: paired per family.
  svc('payments', ['fd00:10:96::30:1', '10.96.30.1'], [443]),
  svc('payments-preview', ['10.96.30.2', 'fd00:10:96:0:0:0:30:2'], [443]),
  // gRPC port has no twin: stays on active.
  svc('catalog', '10.96.40.1', [80, 50051]),
  svc('catalog-preview', '10.96.40.2', [80]),
  svc('inventory', 'None', [5432]),
  svc('inventory-preview', '10.96.45.2', [5432]),
  svc('search', 'fd00:10:96::50:1', [9200]),
  svc('search-preview', '10.96.50.2', [9200]),
  svc('statsd', '10.96.55.1', [[8125, 'UDP']]),
  svc('statsd-preview', '10.96.55.2', [[8125, 'UDP']]),
  svc('redis', '10.96.60.1', [6379]),
  svc('legacy', undefined, [80], 'ExternalName'),
  svc('legacy-preview', '10.96.65.2', [80]),
  // Inside GW_EXCLUDE_CIDRS: programmed after the RETURN, so it never matches (init warns).
  svc('billing', '10.100.0.5', [8443]),
  svc('billing-preview', '10.96.70.2', [8443]),
];

function plan() {
  const { config, errors } = configFromEnv({ POD_NAMESPACE: 'shop', GW_IPV6: 'true', GW_EXCLUDE_CIDRS: '10.100.0.0/16,192.168.7.9' });
  assert.deepEqual(errors, []);
  return planFromServices(SERVICES, config, ['10.96.0.10', 'fd00:10:96::a'], new Date('2026-01-02T03:04:05.000Z'));
}

test('golden: IPv4 and IPv6 restore payloads for a realistic namespace', () => {
  const p = plan();
  assert.deepEqual(p.payloads.map((x) => x.family), [4, 6]);
  assertGolden('runtime/chain-ipv4.rules', p.payloads[0]?.payload ?? '');
  assertGolden('runtime/chain-ipv6.rules', p.payloads[1]?.payload ?? '');
});

test('golden: the DNAT map for the same namespace (and it parses back to the same map)', () => {
  const p = plan();
  const text = formatDnatMap(p.map);
  assertGolden('runtime/dnat.map', text);
  assert.equal(formatDnatMap(parseDnatMap(text)), text);
});

test('the plan is independent of the API order of Services', () => {
  const a = plan();
  const { config } = configFromEnv({ POD_NAMESPACE: 'shop', GW_IPV6: 'true', GW_EXCLUDE_CIDRS: '10.100.0.0/16,192.168.7.9' });
  const b = planFromServices([...SERVICES].reverse(), config, ['10.96.0.10', 'fd00:10:96::a'], new Date('2026-01-02T03:04:05.000Z'));
  assert.deepEqual(b.payloads, a.payloads);
  assert.equal(formatDnatMap(b.map), formatDnatMap(a.map));
});

test('a stale golden fails with a hint (the check can fail)', { skip: process.env.UPDATE_GOLDEN === '1' ? 'UPDATE_GOLDEN=1 rewrites goldens' : false }, () => {
  assert.throws(() => assertGolden('runtime/chain-ipv6.rules', '*nat\nCOMMIT\n'), /is stale: first difference at line 1\n[\s\S]*UPDATE_GOLDEN=1/);
  assert.throws(() => assertGolden('runtime/does-not-exist.rules', 'x'), /is missing; run with UPDATE_GOLDEN=1 to create it/);
});
