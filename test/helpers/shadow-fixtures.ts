// Shared inputs for the shadow tests.
import { type Defaults, type NetworkConfig, builtinDefaults } from '../../src/config/index.js';
import type { InjectConfig } from '../../src/config/options.js';
import type { TunnelPort } from '../../src/shadow/ports.js';
import type { ShadowInput } from '../../src/shadow/tunnel.js';

export const TEST_TUNNEL_KEY = 'test-tunnel-signing-key-0123456789abcdef';

export function network(overrides: Partial<NetworkConfig> = {}): NetworkConfig {
  return { ...builtinDefaults().network, enableTunnel: true, wildcardDNS: 'tunnel.example.com', ...overrides };
}

export function config(overrides: Partial<InjectConfig> = {}): InjectConfig {
  return { ...builtinDefaults().config, tunnel: true, ...overrides };
}

export function defaults(net: Partial<NetworkConfig> = {}, cfg: Partial<InjectConfig> = {}): Defaults {
  const d = builtinDefaults();
  return { ...d, network: network(net), config: { ...d.config, ...cfg } };
}

export const WEB_PORTS: TunnelPort[] = [
  { port: 8080, name: 'http', protocol: 'TCP' },
  { port: 9090, name: 'metrics', protocol: 'TCP' },
];

export function input(overrides: Partial<ShadowInput> = {}): ShadowInput {
  return {
    workloadName: 'my-pod',
    namespace: 'default',
    config: config(),
    network: network(),
    containerPorts: WEB_PORTS,
    tunnelKey: TEST_TUNNEL_KEY,
    ...overrides,
  };
}

/** Deterministic PRNG (mulberry32) for property-style tests. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
