import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pairServices, isPreviewName, type PairingOptions, type ServiceLike } from '../../src/runtime/discovery.js';

const OPTS: PairingOptions = { previewPattern: '{{name}}-preview', activeSuffix: '-active', previewSuffix: '-preview', ipv6: true };

function svc(name: string, ips: string[] | string | undefined, ports: Array<number | [number, string]> = [80], extra: { type?: string } = {}): ServiceLike {
  const list = ips === undefined ? [] : Array.isArray(ips) ? ips : [ips];
  const spec: NonNullable<ServiceLike['spec']> = {
    ports: ports.map((p) => (Array.isArray(p) ? { port: p[0], protocol: p[1] } : { port: p })),
  };
  if (extra.type) spec.type = extra.type;
  if (list.length > 0) {
    spec.clusterIP = list[0] as string;
    spec.clusterIPs = list;
  }
  return { metadata: { name }, spec };
}

const brief = (r: ReturnType<typeof pairServices>) =>
  r.mappings.map((m) => `${m.family} ${m.service}->${m.preview} ${m.activeIP}:${m.port}/${m.protocol} => ${m.previewIP}`);

test('pattern scheme: {{name}} pairs with {{name}}-preview', () => {
  const r = pairServices([svc('orders', '10.96.0.20'), svc('orders-preview', '10.96.0.21')], OPTS);
  assert.deepEqual(brief(r), ['4 orders->orders-preview 10.96.0.20:80/TCP => 10.96.0.21']);
  assert.equal(r.mappings[0]?.scheme, 'pattern');
  assert.deepEqual(r.conflicts, []);
});

test('suffix scheme: <base>-active pairs with <base>-preview', () => {
  const r = pairServices([svc('pay-preview', '10.96.1.2', [443]), svc('pay-active', '10.96.1.1', [443])], OPTS);
  assert.deepEqual(brief(r), ['4 pay-active->pay-preview 10.96.1.1:443/TCP => 10.96.1.2']);
  assert.equal(r.mappings[0]?.scheme, 'suffix');
});

test('custom pattern and suffixes are honoured', () => {
  const opts = { ...OPTS, previewPattern: 'canary-{{name}}', activeSuffix: '-blue', previewSuffix: '-green' };
  const r = pairServices(
    [svc('web', '10.0.0.1'), svc('canary-web', '10.0.0.2'), svc('api-blue', '10.0.0.3'), svc('api-green', '10.0.0.4'), svc('web-preview', '10.0.0.9')],
    opts,
  );
  assert.deepEqual(brief(r), ['4 api-blue->api-green 10.0.0.3:80/TCP => 10.0.0.4', '4 web->canary-web 10.0.0.1:80/TCP => 10.0.0.2']);
});

test('preview-named Services are never the active side (no orders-preview -> orders-preview-preview)', () => {
  const r = pairServices([svc('orders-preview', '10.0.0.1'), svc('orders-preview-preview', '10.0.0.2')], OPTS);
  assert.deepEqual(r.mappings, []);
  assert.equal(isPreviewName('orders-preview', OPTS), true);
  assert.equal(isPreviewName('-preview', OPTS), false);
  assert.equal(isPreviewName('orders', OPTS), false);
});

test('two claims on one preview: the suffix pair wins, the pattern claim is the logged loser, whatever the input order', () => {
  const services = [svc('orders', '10.96.0.20'), svc('orders-active', '10.96.0.22'), svc('orders-preview', '10.96.0.21')];
  const results = [services, [...services].reverse(), [services[1], services[2], services[0]] as ServiceLike[]].map((s) => pairServices(s, OPTS));
  for (const r of results) {
    assert.deepEqual(brief(r), ['4 orders-active->orders-preview 10.96.0.22:80/TCP => 10.96.0.21']);
    assert.equal(r.conflicts.length, 1);
    assert.deepEqual(r.conflicts[0]?.loser, { service: 'orders', preview: 'orders-preview', scheme: 'pattern' });
    assert.deepEqual(r.conflicts[0]?.winner, { service: 'orders-active', preview: 'orders-preview', scheme: 'suffix' });
    assert.match(r.conflicts[0]?.reason ?? '', /already claimed by orders-active/);
  }
  assert.deepEqual(results[0], results[1]);
});

test('one active Service with two previews: the suffix pair wins over the pattern twin', () => {
  const r = pairServices([svc('orders-active', '10.0.0.1'), svc('orders-preview', '10.0.0.2'), svc('orders-active-preview', '10.0.0.3')], OPTS);
  assert.deepEqual(brief(r), ['4 orders-active->orders-preview 10.0.0.1:80/TCP => 10.0.0.2']);
  assert.deepEqual(r.conflicts.map((c) => c.loser), [{ service: 'orders-active', preview: 'orders-active-preview', scheme: 'pattern' }]);
  assert.match(r.conflicts[0]?.reason ?? '', /already paired with orders-preview/);
});

test('a claim that cannot produce a rule takes no part in the conflict (headless suffix twin does not block the pattern pair)', () => {
  const r = pairServices([svc('orders', '10.96.0.20'), svc('orders-active', 'None'), svc('orders-preview', '10.96.0.21')], OPTS);
  assert.deepEqual(brief(r), ['4 orders->orders-preview 10.96.0.20:80/TCP => 10.96.0.21']);
  assert.deepEqual(r.conflicts, []);
  assert.deepEqual(r.skipped.map((s) => [s.service, s.code]), [['orders-active', 'headless']]);
});

test('ports pair by number AND protocol; unmatched ports stay on active with a reason', () => {
  const r = pairServices(
    [svc('dns-active', '10.0.0.1', [[53, 'UDP'], [53, 'TCP'], 80]), svc('dns-preview', '10.0.0.2', [[53, 'TCP'], 80, 9090])],
    OPTS,
  );
  assert.deepEqual(brief(r), ['4 dns-active->dns-preview 10.0.0.1:53/TCP => 10.0.0.2', '4 dns-active->dns-preview 10.0.0.1:80/TCP => 10.0.0.2']);
  assert.deepEqual(r.skipped.map((s) => [s.code, s.partial, s.reason]), [['port-unmatched', true, 'port 53/UDP of dns-active has no counterpart on dns-preview; it stays on active']]);
});

test('no port in common: the pair is skipped', () => {
  const r = pairServices([svc('a', '10.0.0.1', [80]), svc('a-preview', '10.0.0.2', [[80, 'UDP']])], OPTS);
  assert.deepEqual(r.mappings, []);
  assert.deepEqual(r.skipped.map((s) => [s.code, s.partial]), [['no-common-port', false]]);
});

test('mismatched IP families are skipped; dual-stack pairs per family, never across', () => {
  const r = pairServices(
    [
      svc('v4', '10.0.0.1'), svc('v4-preview', 'fd00::2'),
      svc('ds', ['fd00::10', '10.0.0.10']), svc('ds-preview', ['10.0.0.11', 'FD00:0:0::11']),
      svc('half', ['10.0.0.20', 'fd00::20']), svc('half-preview', '10.0.0.21'),
    ],
    OPTS,
  );
  assert.deepEqual(brief(r), [
    '4 ds->ds-preview 10.0.0.10:80/TCP => 10.0.0.11',
    '6 ds->ds-preview fd00::10:80/TCP => fd00::11',
    '4 half->half-preview 10.0.0.20:80/TCP => 10.0.0.21',
  ]);
  const codes = r.skipped.map((s) => [s.service, s.code, s.partial]);
  assert.deepEqual(codes, [
    ['half', 'family-mismatch', true],
    ['v4', 'family-mismatch', false],
  ]);
  assert.match(r.skipped[1]?.reason ?? '', /v4 has IPv4, v4-preview has IPv6/);
});

test('IPv6 mappings are not produced when GW_IPV6=false', () => {
  const services = [svc('ds', ['10.0.0.10', 'fd00::10']), svc('ds-preview', ['10.0.0.11', 'fd00::11']), svc('six', 'fd00::1'), svc('six-preview', 'fd00::2')];
  const r = pairServices(services, { ...OPTS, ipv6: false });
  assert.deepEqual(brief(r), ['4 ds->ds-preview 10.0.0.10:80/TCP => 10.0.0.11']);
  assert.deepEqual(r.skipped.map((s) => [s.service, s.code, s.partial]), [['ds', 'ipv6-disabled', true], ['six', 'ipv6-disabled', false]]);
});

test('headless, ExternalName (no ClusterIP), identical IPs and invalid names are skipped with a reason each', () => {
  const r = pairServices(
    [
      svc('h', '10.0.0.1'), svc('h-preview', 'None'),
      svc('ext', undefined, [80], { type: 'ExternalName' }), svc('ext-preview', '10.0.0.3'),
      svc('same', '10.0.0.4'), svc('same-preview', '10.0.0.4'),
      { metadata: { name: 'Bad_Name' }, spec: { clusterIP: '10.0.0.5' } },
      svc('weird', 'not-an-ip'), svc('weird-preview', '10.0.0.6'),
    ],
    OPTS,
  );
  assert.deepEqual(r.mappings, []);
  const byService = Object.fromEntries(r.skipped.map((s) => [s.service, s]));
  assert.equal(byService['h']?.code, 'headless');
  assert.match(byService['h']?.reason ?? '', /h-preview is headless/);
  assert.equal(byService['ext']?.code, 'no-cluster-ip');
  assert.match(byService['ext']?.reason ?? '', /type ExternalName/);
  assert.equal(byService['same']?.code, 'identical-ip');
  assert.equal(byService['Bad_Name']?.code, 'invalid-name');
  assert.equal(byService['weird']?.code, 'invalid-cluster-ip');
});

test('mappings come out sorted (service, family, protocol, port) whatever the API order', () => {
  const services = [
    svc('zeta', '10.0.0.1', [9000, 80]), svc('zeta-preview', '10.0.0.2', [80, 9000]),
    svc('alpha-active', ['10.0.1.1', 'fd00::1'], [[53, 'UDP'], [53, 'TCP']]), svc('alpha-preview', ['10.0.1.2', 'fd00::2'], [[53, 'TCP'], [53, 'UDP']]),
  ];
  const a = pairServices(services, OPTS);
  const b = pairServices([...services].reverse(), OPTS);
  assert.deepEqual(a, b);
  assert.deepEqual(brief(a), [
    '4 alpha-active->alpha-preview 10.0.1.1:53/TCP => 10.0.1.2',
    '4 alpha-active->alpha-preview 10.0.1.1:53/UDP => 10.0.1.2',
    '6 alpha-active->alpha-preview fd00::1:53/TCP => fd00::2',
    '6 alpha-active->alpha-preview fd00::1:53/UDP => fd00::2',
    '4 zeta->zeta-preview 10.0.0.1:80/TCP => 10.0.0.2',
    '4 zeta->zeta-preview 10.0.0.1:9000/TCP => 10.0.0.2',
  ]);
});

test('a Service without ports or with out-of-range ports yields no rule', () => {
  const r = pairServices([svc('p', '10.0.0.1', [0, 70000]), svc('p-preview', '10.0.0.2', [80])], OPTS);
  assert.deepEqual(r.mappings, []);
  assert.equal(r.skipped[0]?.code, 'no-common-port');
});
