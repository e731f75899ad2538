import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isDns1035Label, isDns1123Label, isDns1123Subdomain } from '../../src/config/validate.js';
import { MAX_BASE_NAME, SHADOW_SUFFIXES, ShadowIdentityError, shadowIdentity, tunnelUrl } from '../../src/shadow/identity.js';
import { network, prng } from '../helpers/shadow-fixtures.js';

const NET = network();

function assertValid(workload: string, namespace: string): void {
  const id = shadowIdentity(workload, namespace, NET);
  assert.equal(id.namespace, namespace, 'the real namespace is used unchanged');
  assert.ok(id.name.length <= MAX_BASE_NAME, `${id.name} is at most ${MAX_BASE_NAME}`);
  assert.ok(isDns1035Label(id.name), `${id.name} is a DNS-1035 label`);
  for (const n of [id.tlsSecretName, id.keysSecretName, id.wgConfigName]) assert.ok(isDns1123Label(n) && n.length <= 63, `${n} fits 63`);
  for (const s of Object.values(SHADOW_SUFFIXES)) assert.ok(isDns1035Label(id.name + s));
  assert.ok(isDns1123Label(id.hostLabel), `${id.hostLabel} is a DNS-1123 label`);
  assert.notEqual(id.hostLabel.slice(2, 4), '--', 'no IDNA-reserved label');
  assert.ok(isDns1123Subdomain(id.host));
  assert.equal(id.host, `${id.hostLabel}.tunnel.example.com`);
}

test('the reference example: my-pod in default', () => {
  const id = shadowIdentity('my-pod', 'default', NET);
  assert.equal(id.name, 'shadow-my-pod');
  assert.equal(id.namespace, 'default');
  assert.equal(id.host, 'my-pod-default.tunnel.example.com');
  assert.equal(id.tlsSecretName, 'shadow-my-pod-tls');
  assert.equal(id.keysSecretName, 'shadow-my-pod-wg-keys');
  assert.equal(id.wgConfigName, 'shadow-my-pod-wg-config');
  assert.equal(id.hashedName, false);
  assert.equal(id.hashedHost, false);
  assert.equal(tunnelUrl(id, network({ ingressTLS: false })), 'ws://my-pod-default.tunnel.example.com:80');
  assert.equal(tunnelUrl(id, network({ ingressTLS: true })), 'wss://my-pod-default.tunnel.example.com:443');
});

test('a host label of exactly 63 characters is kept; 64 is shortened with a hash', () => {
  const ns = 'prod';
  const w63 = 'a'.repeat(63 - 1 - ns.length);
  const id63 = shadowIdentity(w63, ns, NET);
  assert.equal(id63.hostLabel, `${w63}-${ns}`);
  assert.equal(id63.hostLabel.length, 63);
  assert.equal(id63.hashedHost, false);
  const id64 = shadowIdentity(`${w63}b`, ns, NET);
  assert.equal(id64.hashedHost, true);
  assert.ok(id64.hostLabel.length <= 63);
  assert.match(id64.hostLabel, /^a+-prod--[0-9a-f]{10}$/, 'the namespace is kept whole, then the hash');
  assertValid(`${w63}b`, ns);
});

test('resource names: 46-character workloads are kept, longer ones hashed, all suffixes fit', () => {
  const w46 = 'w'.repeat(46);
  assert.equal(shadowIdentity(w46, 'ns', NET).name, `shadow-${w46}`);
  assert.equal(shadowIdentity(w46, 'ns', NET).name.length, 53);
  assert.equal(shadowIdentity(w46, 'ns', NET).wgConfigName.length, 63);
  const long = shadowIdentity(`${w46}x`, 'ns', NET);
  assert.equal(long.hashedName, true);
  assert.match(long.name, /^shadow-w+--[0-9a-f]{10}$/);
  assertValid(`${w46}x`, 'ns');
});

test('long (253-character, dotted) and unicode workload names get valid, distinct identities', () => {
  const names = [
    `${'a'.repeat(120)}.${'b'.repeat(132)}`,
    `${'a'.repeat(120)}.${'b'.repeat(131)}c`,
    'web.v1',
    'web-v1',
    'café',
    'cafe',
    '日本',
    'サービス',
    'İstanbul',
    '---',
    'UPPER',
  ];
  const hosts = new Set<string>();
  const bases = new Set<string>();
  for (const n of names) {
    assertValid(n, 'default');
    const id = shadowIdentity(n, 'default', NET);
    hosts.add(id.host);
    bases.add(id.name);
  }
  assert.equal(hosts.size, names.length, 'no two hosts collide');
  assert.equal(bases.size, names.length, 'no two resource names collide');
  assert.equal(shadowIdentity('web-v1', 'default', NET).name, 'shadow-web-v1', 'a valid name stays readable');
  assert.match(shadowIdentity('web.v1', 'default', NET).name, /^shadow-web-v1--[0-9a-f]{10}$/);
});

test('names starting with a digit still give DNS-1035 Service names', () => {
  const id = shadowIdentity('1st-api', 'default', NET);
  assert.equal(id.name, 'shadow-1st-api');
  assert.ok(isDns1035Label(id.name));
});

test('the "<workload>-<namespace>" join is never ambiguous', () => {
  const a = shadowIdentity('a-b', 'c', NET);
  const b = shadowIdentity('a', 'b-c', NET);
  assert.notEqual(a.host, b.host);
  assert.equal(a.host, 'a-b-c.tunnel.example.com', 'hyphen-free namespace: verbatim');
  assert.match(b.hostLabel, /^a-b-c--[0-9a-f]{10}$/, 'namespace with "-": readable part plus a hash');
  // A verbatim label can never look like a hashed one.
  const tricky = shadowIdentity('a-b-c-', 'x', NET);
  assert.notEqual(tricky.host, b.host);
});

test('very long namespaces are kept whole in the resources; the host stays within 63', () => {
  const ns = 'n'.repeat(63);
  assertValid('web', ns);
  assert.equal(shadowIdentity('web', ns, NET).namespace, ns);
  // Up to 49 characters the namespace is kept whole in the host label too (1 + "-" + 49 + "--" + 10 = 63).
  const ns49 = `team-${'x'.repeat(44)}`;
  assert.match(shadowIdentity('api', ns49, NET).hostLabel, new RegExp(`^a-${ns49}--[0-9a-f]{10}$`));
  assert.equal(shadowIdentity('api', ns49, NET).hostLabel.length, 63);
});

test('invalid input is refused with a reason, never silently fixed', () => {
  assert.throws(() => shadowIdentity('web', 'Bad_NS', NET), ShadowIdentityError);
  assert.throws(() => shadowIdentity('', 'default', NET), ShadowIdentityError);
  assert.throws(() => shadowIdentity('web', 'default', network({ wildcardDNS: '' })), /wildcardDNS is empty/);
  assert.throws(() => shadowIdentity('web', 'default', network({ wildcardDNS: 'not a host' })), /not a DNS name/);
});

test('property: thousands of generated names never collide and are always valid (seeded)', () => {
  const rand = prng(0x5eed);
  const pick = (s: string): string => s[Math.floor(rand() * s.length)] as string;
  const ALNUM = 'abcdefghijklmnopqrstuvwxyz0123456789';
  const WORKLOAD_CHARS = `${ALNUM}---..ÄéßΩ日本`;
  const label = (min: number, max: number, chars: string): string => {
    const len = min + Math.floor(rand() * (max - min + 1));
    let s = '';
    for (let i = 0; i < len; i++) s += pick(chars);
    return s;
  };
  const namespace = (): string => {
    // Valid DNS-1123 labels, with and without hyphens, up to 63 characters.
    const len = 1 + Math.floor(rand() * (rand() < 0.8 ? 15 : 62));
    let s = pick(ALNUM);
    for (let i = 1; i < len - 1; i++) s += rand() < 0.15 ? '-' : pick(ALNUM);
    if (len > 1) s += pick(ALNUM);
    return s;
  };
  const pairs = new Set<string>();
  const hostOwner = new Map<string, string>();
  const nameOwner = new Map<string, string>();
  const prefix = 'p'.repeat(40);
  for (let i = 0; i < 6000; i++) {
    let w: string;
    const r = rand();
    if (r < 0.5) w = label(1, 30, `${ALNUM}-`).replace(/^-+|-+$/g, '') || 'x';
    else if (r < 0.7) w = label(1, 90, WORKLOAD_CHARS);
    else if (r < 0.9) w = prefix + label(1, 20, ALNUM); // long names sharing a prefix
    else w = label(200, 253, `${ALNUM}.`);
    const ns = namespace();
    const key = `${w}\u0000${ns}`;
    if (pairs.has(key)) continue;
    pairs.add(key);
    const id = shadowIdentity(w, ns, NET);
    assert.equal(id.namespace, ns);
    assert.ok(isDns1123Label(id.hostLabel) && isDns1035Label(id.name) && id.name.length <= MAX_BASE_NAME, `valid for ${JSON.stringify(w)}`);
    assert.ok(isDns1123Label(id.wgConfigName), `suffixes fit for ${JSON.stringify(w)}`);
    const otherHost = hostOwner.get(id.host);
    assert.ok(otherHost === undefined, `host ${id.host} of ${JSON.stringify(key)} collides with ${JSON.stringify(otherHost)}`);
    hostOwner.set(id.host, key);
    const otherName = nameOwner.get(id.name);
    assert.ok(otherName === undefined || otherName === w, `name ${id.name} of ${JSON.stringify(w)} collides with ${JSON.stringify(otherName)}`);
    nameOwner.set(id.name, w);
  }
  // Adversarial splits of the same joined text.
  for (let i = 0; i < 500; i++) {
    const parts = [label(1, 8, ALNUM), label(1, 8, ALNUM), label(1, 8, ALNUM)];
    const a = shadowIdentity(`${parts[0]}-${parts[1]}`, parts[2] as string, NET).host;
    const b = shadowIdentity(parts[0] as string, `${parts[1]}-${parts[2]}`, NET).host;
    assert.notEqual(a, b);
  }
  assert.ok(pairs.size > 5000);
});
