// Hostile and ordinary values for every option, to run the webhook's validators and the admission policy's CEL on
// the same inputs (test/e2e/policy-options.test.ts). Generic values go to every option; each validator adds its own
// edges: whitespace JavaScript trims and Go does not (U+0085, U+FEFF), rounding at range limits, numbers too long
// for a double, IPv6 forms whose canonical text differs between glibc and Go, Unicode case mapping.
import { OPTION_LIST, type AnyOption } from '../../src/config/options.js';

export const GENERIC: readonly string[] = [
  '', ' ', 'true', 'FALSE', ' true\t', '\u00a0true\u2028', '\u0085true', '\ufefftrue', '\u180etrue',
  'x'.repeat(81), 'ü', '"quoted"\\back', '\u0001ctl\u007f', 'a'.repeat(300), '-1', '0', '10', '1.5', '\u{1F600}'.repeat(50),
];

const BY_KEY: Record<string, readonly string[]> = {
  roleLabelKey: ['a/b', 'example.com/role', 'rollouts.argoproj.io/role', '-x', 'a'.repeat(63), 'a'.repeat(64), 'A.b/c', 'x/', '/x', 'a/b/c', `${'a'.repeat(254)}/x`, ' role '],
  roleActive: ['stable', 'a_b.c-d', '_x', 'a'.repeat(64)],
  rolePreview: ['canary', 'Z9'],
  svcPreviewPattern: ['{{name}}-next', '{{name}}', 'x-{{name}}', '{{name}}{{name}}', '{{NAME}}-x', 'pre-{{name}}-post', '{{name}}_x'],
  activeSuffix: ['-blue', 'blue', '-', `-${'a'.repeat(32)}`, `-${'a'.repeat(31)}`, '-a-'],
  previewSuffix: ['-green', '-active'],
  namespace: ['prod', 'Prod', 'a'.repeat(64), '-x'],
  dnsSuffix: ['.svc.corp.internal', 'svc.cluster.local', '.', '..x', `.${'a'.repeat(64)}`],
  natChain: ['CHECKOUT_DNAT', 'output', 'OUTPUT', 'a'.repeat(28), 'a'.repeat(29), '_x', 'dnat-1'],
  jumpHook: ['OUTPUT', 'prerouting', ' PreRouting ', 'FORWARD', 'OUTPUT\u0085'],
  excludeCidrs: [
    '10.0.0.0/8', ' 10.3.5.0/16 , fd00:ec2::254', '::1.2.3.4', '::ffff:1.2.3.4', '10.0.0.0/33', '010.0.0.1', '10.0.0.0/08',
    'fe80::1%eth0', '1.2.3.4,1.2.3.4', 'FD00:EC2::254', '0:0:0:0:0:0:102:304/120', '10.0.0.0/8,', '1.2.3.4/0', '::/0', '1:2:3:4:5:6:1.2.3.4',
    '10.0.0.1 /8', '::0.1.0.0', '2001:db8::1/64,2001:db8::2/64',
  ],
  ipv6: ['True', 'yes'],
  pollInterval: ['500ms', '1m30s', '0.0999995s', '99.5ms', '99.4ms', '100ms', '1h', '1h0m0.4ms', '3600000.4ms', '3600000.5ms', '1.5h', '00010s', '10s10s', '1e3ms', `${'9'.repeat(400)}s`, '0.5ms5ms99ms', '2S'],
  refreshInterval: ['15m', '9999.5ms', '9999.4ms', '24h', '86400000.5ms', '', '  '],
  flipConnections: ['keep', 'Keep'],
  logLevel: ['debug', 'DEBUG', 'trace'],
  image: ['registry.example/ghostwire:0.1.0', 'ghostwire@sha256:abc', 'Ghostwire', 'a b', `a${'b'.repeat(512)}`, 'x;rm -rf /'],
  imagePullPolicy: ['Always', 'always'],
  nativeSidecar: ['true', ' TRUE '],
  initFirst: ['true'],
  tunnel: ['false', 'true'],
  cpuRequest: ['20m', '0.5', '0', '0.0', '1e3', '1.5Gi', '9'.repeat(400), `0.${'0'.repeat(400)}1`, '5m', '10M'],
  cpuLimit: ['500m', '1', '2k'],
  memoryRequest: ['64Mi', '129Mi', '0.1Gi'],
  memoryLimit: ['96Mi', '1Gi'],
  tunnelPorts: ['8080:http,5353:dns:UDP', '80:http:sctp', '80::\u017fctp', '80,80', '80:a--b', '0', '65536', '80:http:', '1:2:3:4', '80:HTTP', '00080:x', '80,80:x:TCP', '80:web:udp,80:web2:UDP'],
  fullMesh: ['true'],
  tunnelTimeout: ['5m', '999ms', '1s'],
};

/** Every value to try for an option. */
export function samplesFor(o: AnyOption): string[] {
  const own = BY_KEY[o.key];
  if (!own) throw new Error(`no sample values for option ${o.key}: add them to test/helpers/policy-samples.ts`);
  return [...new Set([...GENERIC, ...own])];
}

/** Options without samples (a new option must get some). */
export const UNSAMPLED = (): string[] => OPTION_LIST.filter((o) => !BY_KEY[o.key]).map((o) => o.key);
