// What the remote side runs: the plain-mode wstunnel client command and the full-mesh pre-exec script. Pure and
// deterministic: the same input gives byte-identical text (ports are sorted by the caller, nothing random here).
import type { NetworkConfig } from '../config/defaults.js';
import type { ShadowIdentity } from './identity.js';
import { tunnelUrl } from './identity.js';
import { type TunnelPort, WIREGUARD_PORT, comparePorts } from './ports.js';

/** WireGuard addresses inside the full-mesh tunnel: the shadow pod's end and the remote peer's end. */
export const WG_SERVER_ADDRESS = '10.7.0.1';
export const WG_PEER_ADDRESS = '10.7.0.2';
/** Keys in the <name>-wg-keys Secret. */
export const WG_KEY_FILES = {
  serverPrivate: 'server-private-key',
  serverPublic: 'server-public-key',
  clientPrivate: 'client-private-key',
  clientPublic: 'client-public-key',
} as const;
/** Where the remote runtime is expected to mount the keys Secret (overridable with $GHOSTWIRE_WG_KEYS). */
export const REMOTE_KEYS_DIR = '/run/secrets/ghostwire';

/** One reverse forward per TCP or UDP port: the shadow listens on [::]:<p> and forwards to the remote localhost:<p>. */
export function reverseForwards(ports: readonly TunnelPort[]): string[] {
  return [...ports]
    .filter((p) => p.protocol === 'TCP' || p.protocol === 'UDP')
    .sort(comparePorts)
    .map((p) => `-R '${p.protocol.toLowerCase()}://[::]:${p.port}:localhost:${p.port}'`);
}

/**
 * Plain mode: a single shell command line. The -R values are single-quoted because "[::]" is a glob pattern to
 * most shells.
 */
export function clientCommand(identity: ShadowIdentity, network: NetworkConfig, prefix: string, ports: readonly TunnelPort[]): string {
  return ['wstunnel client', `--http-upgrade-path-prefix ${prefix}`, ...reverseForwards(ports), tunnelUrl(identity, network)].join(' ');
}

/**
 * Full mesh: a POSIX sh script that opens the WebSocket tunnel to the shadow's WireGuard port and brings up a
 * WireGuard interface routed to the cluster's Service and Pod CIDRs. It names the Secret holding the key material
 * and reads the keys from files at run time; it never contains a key.
 */
export function preExecScript(identity: ShadowIdentity, network: NetworkConfig, prefix: string): string {
  const keysDir = `${REMOTE_KEYS_DIR}/${identity.keysSecretName}`;
  const wg = `127.0.0.1:${WIREGUARD_PORT}`;
  const allowed = [`${WG_SERVER_ADDRESS}/32`, network.serviceCIDR, network.podCIDR].join(', ');
  return [
    '#!/bin/sh',
    `# ghostwire full-mesh tunnel for ${identity.namespace}/${identity.workloadName} via ${identity.host}`,
    `# Key material: Secret ${identity.namespace}/${identity.keysSecretName} (keys ${WG_KEY_FILES.clientPrivate},`,
    `# ${WG_KEY_FILES.serverPublic}), mounted by the remote runtime at $GHOSTWIRE_WG_KEYS. This script holds no key.`,
    '# Needs: wstunnel, wg-quick (kernel WireGuard, or wireguard-go via WG_QUICK_USERSPACE_IMPLEMENTATION).',
    'set -eu',
    `keys="\${GHOSTWIRE_WG_KEYS:-${keysDir}}"`,
    'run="$(mktemp -d)"',
    `wstunnel client --http-upgrade-path-prefix ${prefix} -L 'udp://${wg}:${wg}?timeout_sec=0' ${tunnelUrl(identity, network)} >"$run/wstunnel.log" 2>&1 &`,
    'umask 077',
    '{',
    `  printf '[Interface]\\nAddress = ${WG_PEER_ADDRESS}/32\\nPrivateKey = %s\\n\\n' "$(cat "$keys/${WG_KEY_FILES.clientPrivate}")"`,
    `  printf '[Peer]\\nPublicKey = %s\\n' "$(cat "$keys/${WG_KEY_FILES.serverPublic}")"`,
    `  printf 'Endpoint = ${wg}\\nAllowedIPs = ${allowed}\\nPersistentKeepalive = 25\\n'`,
    '} >"$run/gw0.conf"',
    'wg-quick up "$run/gw0.conf"',
    '',
  ].join('\n');
}
