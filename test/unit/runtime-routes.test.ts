// Route truth, the pure parts: which routes a change moves, which connection-tracking entries that makes wrong, and
// which Service changes alter the pairing at all.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConntrackList, rerouteFilters, rerouteSockets, resetFilters, deleteArgs, wrongSockets, type ConntrackEntry } from '../../src/runtime/connections/entries.js';
import { closeArgs } from '../../src/runtime/connections/sockets.js';
import { changedRoutes, desiredRouting, routesOf, savedRouting, type RoutingState } from '../../src/runtime/routes.js';
import { chainRestorePayload, parseSave, type ChainSpec, type DnatRule } from '../../src/runtime/iptables/rules.js';
import { diffMaps, describeMapChange, mapContentKey } from '../../src/runtime/map-diff.js';
import { planFromServices } from '../../src/runtime/program.js';
import { configFromEnv } from '../../src/config/index.js';
import { svc } from '../helpers/kube-stub.js';

const rule = (activeIP: string, previewIP: string, port = 80, protocol: DnatRule['protocol'] = 'TCP'): DnatRule => ({ family: 4, service: 's', preview: 's-preview', protocol, port, activeIP, previewIP });
const state = (rules: DnatRule[], jump: boolean, exclusions: string[] = []): RoutingState => ({ rules, jump, exclusions: exclusions.map((cidr) => ({ cidr })) });

test('routes: the preview address while the jump is installed and the destination not excluded, the active one otherwise', () => {
  const rules = [rule('10.96.0.20', '10.96.0.21'), rule('10.96.0.30', '10.96.0.31', 53, 'UDP')];
  assert.deepEqual([...routesOf(state(rules, true), 4).values()].map((r) => `${r.activeIP}:${r.port}/${r.protocol}>${r.target}`), ['10.96.0.20:80/TCP>10.96.0.21', '10.96.0.30:53/UDP>10.96.0.31']);
  assert.deepEqual([...routesOf(state(rules, false), 4).values()].map((r) => r.target), ['10.96.0.20', '10.96.0.30']);
  assert.deepEqual([...routesOf(state(rules, true, ['10.96.0.30/32']), 4).values()].map((r) => r.target), ['10.96.0.21', '10.96.0.30'], 'an excluded destination is never rewritten');
});

test('changed routes: a flip moves every destination, both ways; Service changes move only what they touch', () => {
  const a = [rule('10.96.0.20', '10.96.0.21'), rule('10.96.0.30', '10.96.0.31')];
  const show = (rs: ReturnType<typeof changedRoutes>) => rs.map((r) => `${r.activeIP}>${r.target}`).sort();
  assert.deepEqual(show(changedRoutes(state(a, false), state(a, true), 4)), ['10.96.0.20>10.96.0.21', '10.96.0.30>10.96.0.31']);
  assert.deepEqual(show(changedRoutes(state(a, true), state(a, false), 4)), ['10.96.0.20>10.96.0.20', '10.96.0.30>10.96.0.30']);
  assert.deepEqual(show(changedRoutes(state(a, true), state(a, true), 4)), [], 'nothing changed: nothing moves');
  // In preview: the preview of .30 deleted (fallback to active), .20's preview recreated with a new address, a pair added.
  const b = [rule('10.96.0.20', '10.96.0.99'), rule('10.96.0.40', '10.96.0.41')];
  assert.deepEqual(show(changedRoutes(state(a, true), state(b, true), 4)), ['10.96.0.20>10.96.0.99', '10.96.0.30>10.96.0.30', '10.96.0.40>10.96.0.41']);
  // In active, Service changes move nothing: no rule is in use.
  assert.deepEqual(show(changedRoutes(state(a, false), state(b, false), 4)), []);
  // A port change is a different destination.
  assert.deepEqual(show(changedRoutes(state([rule('10.96.0.20', '10.96.0.21', 80)], true), state([rule('10.96.0.20', '10.96.0.21', 8080)], true), 4)), ['10.96.0.20>10.96.0.20', '10.96.0.20>10.96.0.21']);
});

test('the kernel\'s routing is read back from iptables-save: chain rules, exclusions and the jump of the configured hook', () => {
  const spec: ChainSpec = { chain: 'CANARY_DNAT', family: 4, exclusions: [{ family: 4, cidr: '10.96.0.10/32', source: 'dns' }], rules: [rule('10.96.0.20', '10.96.0.21'), rule('10.96.0.30', '10.96.0.31', 53, 'UDP')] };
  const body = chainRestorePayload(spec).split('\n').filter((l) => l.startsWith('-A')).join('\n');
  const save = (jump: string) => parseSave(`*nat\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:CANARY_DNAT - [0:0]\n${jump}${body}\nCOMMIT\n`);
  const withJump = savedRouting(save('-A OUTPUT -j CANARY_DNAT\n'), 'CANARY_DNAT', 'OUTPUT');
  assert.equal(withJump.jump, true);
  assert.deepEqual(withJump.exclusions, [{ cidr: '10.96.0.10/32' }]);
  assert.deepEqual(withJump.rules, [{ protocol: 'TCP', port: 80, activeIP: '10.96.0.20', previewIP: '10.96.0.21' }, { protocol: 'UDP', port: 53, activeIP: '10.96.0.30', previewIP: '10.96.0.31' }]);
  assert.deepEqual(changedRoutes(withJump, desiredRouting(spec, true), 4), [], 'the kernel equals the spec');
  assert.equal(savedRouting(save('-A PREROUTING -j CANARY_DNAT\n'), 'CANARY_DNAT', 'OUTPUT').jump, false, 'a jump in the other hook does not route this traffic');
  assert.deepEqual(savedRouting(undefined, 'CANARY_DNAT', 'OUTPUT'), { exclusions: [], rules: [], jump: false });
});

const LIST = [
  'ipv4     2 tcp      6 431999 ESTABLISHED src=10.244.0.5 dst=10.96.0.20 sport=40001 dport=80 src=10.96.0.20 dst=10.244.0.5 sport=80 dport=40001 [ASSURED] mark=0 use=1',
  'ipv4     2 tcp      6 431999 ESTABLISHED src=10.244.0.5 dst=10.96.0.20 sport=40002 dport=80 src=10.96.0.21 dst=10.244.0.5 sport=80 dport=40002 [ASSURED] mark=0 use=1',
  'ipv4     2 udp      17 29 src=10.244.0.5 dst=10.96.0.30 sport=5353 dport=53 [UNREPLIED] src=10.96.0.30 dst=10.244.0.5 sport=53 dport=5353 mark=0 use=1',
  'ipv4     2 tcp      6 10 TIME_WAIT src=10.244.0.5 dst=10.96.0.99 sport=40003 dport=443 src=10.96.0.99 dst=10.244.0.5 sport=443 dport=40003 [ASSURED] mark=0 use=1',
  'ipv6     10 tcp      6 300 ESTABLISHED src=fd00::5 dst=fd00:96::20 sport=40004 dport=80 src=fd00:96::21 dst=fd00::5 sport=80 dport=40004 [ASSURED] mark=0 use=1',
  'ipv4     2 icmp     1 29 src=10.244.0.5 dst=10.96.0.20 type=8 code=0 id=7 src=10.96.0.20 dst=10.244.0.5 type=0 code=0 id=7 mark=0 use=1',
  'conntrack v1.4.7 (conntrack-tools): 6 flow entries have been shown.',
].join('\n');

test('conntrack listing: original and reply directions of TCP and UDP entries; other lines are skipped', () => {
  const entries = parseConntrackList(LIST);
  assert.equal(entries.length, 5);
  assert.deepEqual(entries[1], { family: 4, protocol: 'tcp', origSrc: '10.244.0.5', origDst: '10.96.0.20', sport: 40002, dport: 80, replySrc: '10.96.0.21' } satisfies ConntrackEntry);
  assert.equal(entries[4]?.family, 6);
  assert.deepEqual(parseConntrackList('garbage\n\nipv4 2 tcp 6 1 src=x dst=y\n'), []);
});

test('conntrack selection: the entries whose reply comes from anywhere but the new target, one filter each (destination, source)', () => {
  const entries = parseConntrackList(LIST);
  // Active -> preview: the un-NATed connection to .20 is wrong, the one already at .21 is right; .99 is not ours.
  const toPreview = resetFilters(entries, [{ family: 4, protocol: 'TCP', activeIP: '10.96.0.20', port: 80, target: '10.96.0.21' }]);
  assert.deepEqual(toPreview, [{ kind: 'forward', family: 4, protocol: 'tcp', origDst: '10.96.0.20', dport: 80, replySrc: '10.96.0.20', entries: 1 }]);
  assert.deepEqual(deleteArgs(toPreview[0]!), ['-D', '-f', 'ipv4', '-p', 'tcp', '--orig-dst', '10.96.0.20', '--dport', '80', '--reply-src', '10.96.0.20']);
  // Preview -> active: the NATed one is wrong.
  const replySrcs = (fs: ReturnType<typeof resetFilters>) => fs.map((f) => (f.kind === 'forward' ? f.replySrc : `reverse ${f.origSrc}:${f.sport}`));
  assert.deepEqual(replySrcs(resetFilters(entries, [{ family: 4, protocol: 'TCP', activeIP: '10.96.0.20', port: 80, target: '10.96.0.20' }])), ['10.96.0.21']);
  // UDP, by protocol and port: a TCP route on the same address does not select it.
  assert.deepEqual(replySrcs(resetFilters(entries, [{ family: 4, protocol: 'UDP', activeIP: '10.96.0.30', port: 53, target: '10.96.0.31' }])), ['10.96.0.30']);
  assert.deepEqual(resetFilters(entries, [{ family: 4, protocol: 'TCP', activeIP: '10.96.0.30', port: 53, target: '10.96.0.31' }]), []);
  assert.deepEqual(replySrcs(resetFilters(entries, [{ family: 6, protocol: 'TCP', activeIP: 'fd00:96::20', port: 80, target: 'fd00:96::20' }])), ['fd00:96::21']);
  assert.deepEqual(resetFilters(entries, []), [], 'no route changed: nothing is reset');
});

test('conntrack selection: a reverse entry (picked up from the server\'s packet while the forward one was deleted) is reset while the route goes to a preview', () => {
  // The server at 10.96.0.20:80 answered while the watcher deleted the client's entry: the kernel picked up the
  // flow from the server's side. The client's packets now match its reply direction and are never rewritten.
  const reverse = parseConntrackList('ipv4     2 tcp      6 300 ESTABLISHED src=10.96.0.20 dst=10.244.0.5 sport=80 dport=40009 src=10.244.0.5 dst=10.96.0.20 sport=40009 dport=80 mark=0 use=1');
  const toPreview = resetFilters(reverse, [{ family: 4, protocol: 'TCP', activeIP: '10.96.0.20', port: 80, target: '10.96.0.21' }]);
  assert.deepEqual(toPreview, [{ kind: 'reverse', family: 4, protocol: 'tcp', origSrc: '10.96.0.20', sport: 80, entries: 1 }]);
  assert.deepEqual(deleteArgs(toPreview[0]!), ['-D', '-f', 'ipv4', '-p', 'tcp', '--orig-src', '10.96.0.20', '--sport', '80']);
  // Routed to active, a reverse entry rewrites nothing either way: left alone.
  assert.deepEqual(resetFilters(reverse, [{ family: 4, protocol: 'TCP', activeIP: '10.96.0.20', port: 80, target: '10.96.0.20' }]), []);
});

test('socket selection: the wrong TCP connections by their four addresses, never UDP, never a finished one; ss gets them as one filter', () => {
  const entries = parseConntrackList(`${LIST}\nipv4     2 tcp      6 100 TIME_WAIT src=10.244.0.5 dst=10.96.0.20 sport=40077 dport=80 src=10.96.0.20 dst=10.244.0.5 sport=80 dport=40077 mark=0 use=1\n`);
  const toPreview = [{ family: 4 as const, protocol: 'TCP' as const, activeIP: '10.96.0.20', port: 80, target: '10.96.0.21' }];
  const sockets = wrongSockets(entries, toPreview);
  assert.deepEqual(sockets, [{ family: 4, src: '10.244.0.5', sport: 40001, dst: '10.96.0.20', dport: 80 }]);
  assert.deepEqual(wrongSockets(entries, [{ family: 4, protocol: 'UDP', activeIP: '10.96.0.30', port: 53, target: '10.96.0.31' }]), [], 'UDP has no socket to close');
  const v6 = wrongSockets(entries, [{ family: 6, protocol: 'TCP', activeIP: 'fd00:96::20', port: 80, target: 'fd00:96::20' }]);
  assert.equal(v6.length, 1);
  assert.deepEqual(closeArgs([...sockets, ...v6]), [
    '-K', '-t', '-n', '-H',
    '(', 'src', '10.244.0.5:40001', 'and', 'dst', '10.96.0.20:80', ')',
    'or',
    '(', 'src', `[${v6[0]!.src}]:${v6[0]!.sport}`, 'and', 'dst', '[fd00:96::20]:80', ')',
  ]);
});

test('without a listing: every TCP socket to a rerouted destination is closed, UDP flows deleted by filter', () => {
  const rerouted = [
    { family: 4 as const, protocol: 'UDP' as const, activeIP: '10.96.0.30', port: 53, target: '10.96.0.31', from: '10.96.0.30' },
    { family: 4 as const, protocol: 'TCP' as const, activeIP: '10.96.0.20', port: 80, target: '10.96.0.21', from: '10.96.0.20' },
  ];
  assert.deepEqual(rerouteFilters(rerouted).map((f) => deleteArgs(f).join(' ')), [
    '-D -f ipv4 -p udp --orig-dst 10.96.0.30 --dport 53 --reply-src 10.96.0.30',
    '-D -f ipv4 -p udp --orig-src 10.96.0.30 --sport 53',
  ]);
  assert.deepEqual(rerouteSockets(rerouted), [{ family: 4, dst: '10.96.0.20', dport: 80 }]);
  assert.deepEqual(closeArgs(rerouteSockets(rerouted)), ['-K', '-t', '-n', '-H', '(', 'dst', '10.96.0.20:80', ')']);
});

test('pairing diff: which Service changes alter the rules, and which change nothing', () => {
  const { config } = configFromEnv({ POD_NAMESPACE: 'shop' });
  const now = new Date(0);
  const plan = (services: ReturnType<typeof svc>[]) => planFromServices(services, config, ['10.96.0.10'], now).map;
  const base = plan([svc('orders', '10.96.0.20'), svc('orders-preview', '10.96.0.21'), svc('cart', '10.96.0.30')]);
  const same = (services: ReturnType<typeof svc>[]) => mapContentKey(plan(services)) === mapContentKey(base);
  assert.ok(same([svc('orders', '10.96.0.20'), svc('orders-preview', '10.96.0.21'), svc('cart', '10.96.0.30'), svc('payments', '10.96.0.40')]), 'an unpaired Service added');
  assert.ok(same([svc('cart', '10.96.0.30'), svc('orders-preview', '10.96.0.21'), svc('orders', '10.96.0.20')]), 'order of the list');
  assert.ok(same([svc('orders', '10.96.0.20'), svc('orders-preview', '10.96.0.21'), svc('cart', '10.96.0.31')]), 'an unpaired Service re-addressed');
  assert.ok(!same([svc('orders', '10.96.0.20'), svc('cart', '10.96.0.30')]), 'preview deleted');
  assert.ok(!same([svc('orders', '10.96.0.20'), svc('orders-preview', '10.96.0.99'), svc('cart', '10.96.0.30')]), 'preview recreated with a new ClusterIP');
  assert.ok(!same([svc('orders', '10.96.0.20'), svc('orders-preview', '10.96.0.21', [80, 8080]), svc('orders', '10.96.0.20', [80, 8080])].slice(1)), 'ports changed');
  const grown = plan([svc('orders', '10.96.0.20'), svc('orders-preview', '10.96.0.99'), svc('cart', '10.96.0.30'), svc('cart-preview', '10.96.0.31')]);
  const change = diffMaps(base, grown);
  assert.deepEqual(change, { added: ['cart -> cart-preview'], removed: [], rewritten: ['orders -> orders-preview'] });
  assert.equal(describeMapChange(diffMaps(grown, base)), 'removed cart -> cart-preview; rewritten orders -> orders-preview');
  assert.equal(describeMapChange(diffMaps(base, base)), 'no pair changed');
  // The same content compares equal whatever the field order (a map read back from the file vs one built in memory).
  const reordered = JSON.parse(JSON.stringify(base, ['format', 'generatedAt', 'chain', 'namespace', 'dnsSuffix', 'families', 'exclusions', 'source', 'cidr', 'family', 'mappings', 'previewIP', 'activeIP', 'port', 'protocol', 'scheme', 'preview', 'service', 'skipped', 'conflicts']));
  assert.equal(mapContentKey(reordered), mapContentKey(base));
});
